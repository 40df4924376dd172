"""The trio runtime: hosts, sockets, waits and timers (lands with the host/UDP issue)."""

__all__: list[str] = []
