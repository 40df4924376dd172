"""Devices: loopback and links as sans-IO queues, pcap taps (lands with the host/UDP issue)."""

__all__: list[str] = []
