"""TCP: tcp_sendmsg_locked, output, ACK processing (lands with the TCP issue)."""

__all__: list[str] = []
