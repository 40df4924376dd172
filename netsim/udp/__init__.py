"""UDP: udp_sendmsg / udpv6_sendmsg, corking (lands with the host/UDP issue)."""

__all__: list[str] = []
