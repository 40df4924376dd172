"""IPv4 output: ip_append_data, fragmentation, routing (lands with the host/UDP issue)."""

__all__: list[str] = []
