"""IPv6 output: ip6_append_data, fragmentation, routing (lands with the host/UDP issue)."""

__all__: list[str] = []
