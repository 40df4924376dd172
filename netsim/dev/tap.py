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

**A capture never fails the data path.**  A tap records from inside the transmit and receive
paths, so an I/O error of its file (a full disk, ``/dev/full``, a file closed under it) must not
reach the protocol that sent the packet: TCP would treat it as a local drop and retransmit
into the failing capture forever.  On Linux a tap cannot fail a transmit either —
``dev_queue_xmit_nit`` (net/core/dev.c) hands a clone to each packet socket, and when the
socket cannot take it (``packet_rcv``/``tpacket_rcv`` in net/packet/af_packet.c, a full
receive buffer) the *capture's copy* is dropped and counted (``tp_drops``), never the packet;
tcpdump, for its part, exits when it cannot write its file.  Here the first failed write stops
the capture for good: the tap detaches itself, closes its writer, keeps the error
(:attr:`PcapTap.error`) and calls :attr:`PcapTap.on_error`; the packet goes on as if no tap
were there.  The file ends at the last record written whole (or with a partial one, if the
error came in its middle).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from ..skb import SkBuff
from .device import NetDevice
from .link import frame_with_checksum
from .pcap import PcapWriter

__all__ = ["PcapTap"]


class PcapTap:
    """Records ``dev``'s packets with ``writer`` while attached (``dev.taps``).

    Attributes:
        records: packets written.
        error: the I/O error that stopped the capture (``OSError``, or ``ValueError`` for a
            file closed under the writer), or ``None`` while it runs.
        on_error: called once with the tap when a write fails, after the tap has detached and
            closed its writer; it runs inside the data path, so it must not raise.
    """

    def __init__(
        self,
        dev: NetDevice,
        writer: PcapWriter,
        on_error: Callable[[PcapTap], None] | None = None,
    ) -> None:
        self.dev = dev
        self.writer = writer
        self.records = 0
        self.error: OSError | ValueError | None = None
        self.on_error = on_error

    def record(self, skb: SkBuff) -> None:
        """Write one packet (its bytes from the network header, checksum completed).  An I/O
        error stops the capture (:meth:`fail`); it never reaches the caller."""
        if self.writer.closed:
            return
        net = self.dev.net
        frame = frame_with_checksum(skb)
        try:
            self.writer.write(net.now if net is not None else 0.0, frame)
        except (OSError, ValueError) as exc:
            self.fail(exc)
            return
        self.records += 1

    def fail(self, exc: OSError | ValueError) -> None:
        """Stop capturing because of ``exc``: detach, close the writer (a second error while
        closing is moot), keep ``exc`` in :attr:`error`, tell :attr:`on_error`.  Only the
        first error counts."""
        self.detach()
        if self.error is not None:
            return
        self.error = exc
        with contextlib.suppress(OSError, ValueError):
            self.writer.close()
        if self.on_error is not None:
            self.on_error(self)

    def close(self) -> None:
        """Detach and close the writer (flushing what it buffered).  A flush that fails is
        a failed capture like any other: it goes to :attr:`error` and :attr:`on_error`,
        not to the caller."""
        self.detach()
        if self.writer.closed:
            return
        try:
            self.writer.close()
        except (OSError, ValueError) as exc:
            self.fail(exc)

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
