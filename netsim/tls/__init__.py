"""TLS device offload TX: records in page frags (lands with the TLS issue)."""

__all__: list[str] = []
