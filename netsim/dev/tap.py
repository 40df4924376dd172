"""Pcap taps: record every packet a device sends or receives to a classic pcap file
(Linux's ``dev_queue_xmit_nit`` and ``__netif_receive_skb`` taps — what ``tcpdump -i dev -w``
uses; smoltcp's ``PcapWriter`` device and gVisor's ``link/sniffer`` play the same role).

A :class:`PcapTap` is attached to a device (``dev.taps``) rather than replacing it: routes and
sockets cache the device they send through (``dst->dev``), so a wrapper object would be
bypassed, exactly as it would be in the kernel — which is why the kernel, too, hooks taps into
the device's transmit and receive paths.  Transmits are recorded after ``validate_xmit_skb``
(what the driver is handed: a GSO super-packet on a device that takes GSO, as on Linux);
receives before the stack sees them.  On loopback, where a transmit *is* the receive, each
packet is recorded once, as ``tcpdump -i lo`` shows it once.

Records are ``LINKTYPE_RAW`` IP packets with **complete checksums**: a ``CHECKSUM_PARTIAL``
checksum is finished in the captured copy, as the packet would carry it on a wire.
"""

from __future__ import annotations

from ..skb import SkBuff
from .device import NetDevice
from .link import frame_with_checksum
from .pcap import PcapWriter

__all__ = ["PcapTap"]


class PcapTap:
    """Records ``dev``'s packets with ``writer`` while attached (``dev.taps``)."""

    def __init__(self, dev: NetDevice, writer: PcapWriter) -> None:
        self.dev = dev
        self.writer = writer
        self.records = 0

    def record(self, skb: SkBuff) -> None:
        """Write one packet (its bytes from the network header, checksum completed)."""
        if self.writer.closed:
            return
        net = self.dev.net
        self.writer.write(net.now if net is not None else 0.0, frame_with_checksum(skb))
        self.records += 1

    def attach(self) -> PcapTap:
        """Start recording."""
        if self not in self.dev.taps:
            self.dev.taps.append(self)
        return self

    def detach(self) -> None:
        """Stop recording."""
        if self in self.dev.taps:
            self.dev.taps.remove(self)

    def __repr__(self) -> str:
        return f"<PcapTap on {self.dev.name}: {self.records} records>"
