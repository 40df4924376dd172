"""Pcap taps: a device wrapper that writes every packet it sees to a classic pcap file
(smoltcp's ``PcapWriter`` device, gVisor's ``link/sniffer``; in Linux, ``dev_queue_xmit_nit``
and ``__netif_receive_skb``'s taps).

A :class:`PcapTap` stands in for the device it wraps: transmits are recorded, then handed to
the device; frames the device receives are recorded, then passed up.  (On loopback, where a
transmit *is* the receive, each packet is recorded once, on transmit — as ``tcpdump -i lo``
shows it once.)  Records are ``LINKTYPE_RAW`` IP packets with **complete checksums**: a
``CHECKSUM_PARTIAL`` checksum is finished in the captured copy, as the packet would carry it
on a wire.  GSO skbs are captured as the super-packets they are, as on Linux.
"""

from __future__ import annotations

from ..skb import SkBuff
from .device import NetDevice
from .link import frame_with_checksum
from .pcap import PcapWriter

__all__ = ["PcapTap"]


class PcapTap(NetDevice):
    """Wraps ``inner`` and records its packets with ``writer``."""

    kind = "tap"

    def __init__(self, inner: NetDevice, writer: PcapWriter) -> None:
        super().__init__(inner.name, mtu=inner.mtu, features=inner.features)
        self.inner = inner
        self.writer = writer
        self.net = inner.net
        self.ifindex = inner.ifindex
        self.addrs4 = inner.addrs4
        self.addrs6 = inner.addrs6
        self.rx_handler = inner.rx_handler
        self.records = 0
        if inner.kind != "loopback":
            inner.rx_handler = self._receive_from_inner

    def start_xmit(self, skb: SkBuff) -> int:
        """Record, then transmit on the wrapped device."""
        self._record(skb)
        return self.inner.start_xmit(skb)

    def _receive_from_inner(self, skb: SkBuff) -> None:
        self._record(skb)
        self.rx_handler(skb)

    def _record(self, skb: SkBuff) -> None:
        if self.writer.closed:
            return
        net = self.net
        frame = frame_with_checksum(skb)
        self.writer.write(net.now if net is not None else 0.0, frame)
        self.records += 1

    def detach(self) -> NetDevice:
        """Unwrap: give the wrapped device its receive handler back."""
        if self.inner.kind != "loopback":
            self.inner.rx_handler = self.rx_handler
        return self.inner

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)
