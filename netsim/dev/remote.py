"""One end of a point-to-point link whose wire leaves the process: two netsim processes, each
with its own host, joined by a byte stream (``netsim nc --link unix:PATH``).

The device is sans-IO, like a NIC whose DMA engine is the runtime.  Transmit
(``ndo_start_xmit``) serializes the skb into a frame — complete checksums, as on a wire — and
posts it on the TX ring (:attr:`RemoteLinkDevice.txring`) with the skb; the runtime takes the
frames (:meth:`RemoteLinkDevice.tx_frames`), writes them to the stream, and then reports **TX
completion** (:meth:`RemoteLinkDevice.tx_complete`), which frees the skbs — the moment their
sockets get the memory back (``sock_wfree``), so TCP Small Queues and ``SO_SNDBUF`` see a wire
that is only as fast as the stream drains.  A full ring drops (``tx_dropped``), as a NIC's
does.  Receive is :class:`~netsim.dev.link.WireDevice`'s: the runtime hands each frame read
from the stream to :meth:`~netsim.dev.link.WireDevice.rx_frame`.

Without carrier (no peer connected, or the peer went away) transmits are dropped and counted
in ``tx_carrier_errors``, as a NIC with its cable pulled does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from ..skb import SkBuff, kfree_skb, skb_orphan
from .device import NET_XMIT_DROP, NET_XMIT_SUCCESS, NETIF_F_HW_CSUM, NETIF_F_RXCSUM, NETIF_F_SG
from .link import WireDevice, frame_with_checksum

__all__ = ["RemoteLinkDevice"]


class RemoteLinkDevice(WireDevice):
    """A NIC whose wire is carried by the runtime to a peer in another process.

    Args:
        name: the device's name.
        mtu: the link's MTU (both ends must agree; the runtime checks at connect time).
        csum_offload: the NIC computes and verifies checksums.
        txqueuelen: frames the TX ring holds before transmits are dropped.
        orphan: give the sending socket its memory back as the frame is posted
            (``skb_orphan`` in ``ndo_start_xmit``, as ``tun_net_xmit`` does: a TUN device
            may hold a frame indefinitely) rather than at TX completion, so TCP Small Queues
            never waits on this device.
    """

    def __init__(
        self,
        name: str = "eth0",
        *,
        mtu: int = 1500,
        csum_offload: bool = False,
        txqueuelen: int = 1000,
        orphan: bool = False,
    ) -> None:
        if mtu < 68:
            raise ValueError(f"mtu {mtu} below IPv4's minimum of 68")
        features = NETIF_F_SG | (NETIF_F_HW_CSUM | NETIF_F_RXCSUM if csum_offload else 0)
        super().__init__(name, mtu=mtu, features=features)
        self.txqueuelen = txqueuelen
        self.orphan = orphan
        #: frames posted and not yet written, each with its skb (``None``: a frame the NIC
        #: made itself, such as an ARP reply)
        self.txring: deque[tuple[bytes, SkBuff | None]] = deque()
        self.carrier = False
        self.tx_carrier_errors = 0
        #: called after a frame is posted on an empty ring (the runtime's doorbell)
        self.on_xmit: Callable[[], None] | None = None

    def start_xmit(self, skb: SkBuff) -> int:
        """Post ``skb``'s frame on the TX ring; the skb is freed at TX completion."""
        if not self.carrier:
            self.tx_carrier_errors += 1
            self.tx_dropped += 1
            kfree_skb(skb)
            return NET_XMIT_DROP
        if len(self.txring) >= self.txqueuelen:
            self.tx_dropped += 1
            kfree_skb(skb)
            return NET_XMIT_DROP
        if self.orphan:
            skb_orphan(skb)
        return self.post_frame(frame_with_checksum(skb), skb)

    def post_frame(self, frame: bytes, skb: SkBuff | None) -> int:
        """Put ``frame`` on the TX ring (with the skb it came from, freed at TX completion;
        ``None`` for a frame the NIC made itself), or drop it when the ring is full; ring
        the runtime's doorbell when the ring was empty."""
        ring = self.txring
        if len(ring) >= self.txqueuelen:
            self.tx_dropped += 1
            if skb is not None:
                kfree_skb(skb)
            return NET_XMIT_DROP
        ring.append((frame, skb))
        self.tx_packets += 1
        self.tx_bytes += len(frame)
        if len(ring) == 1 and self.on_xmit is not None:
            self.on_xmit()
        return NET_XMIT_SUCCESS

    def tx_frames(self, limit: int | None = None) -> list[bytes]:
        """The frames posted and not yet completed, oldest first (at most ``limit``)."""
        ring = self.txring
        count = len(ring) if limit is None else min(limit, len(ring))
        return [ring[i][0] for i in range(count)]

    def tx_complete(self, count: int) -> None:
        """TX completion for the ``count`` oldest frames: free their skbs."""
        ring = self.txring
        for _ in range(min(count, len(ring))):
            skb = ring.popleft()[1]
            if skb is not None:
                kfree_skb(skb)

    def set_carrier(self, on: bool) -> None:
        """Carrier up (a peer is connected) or down; down drops what the ring holds."""
        self.carrier = on
        if not on:
            self.tx_complete(len(self.txring))

    def close(self) -> None:
        """Drop the TX ring and give back the RX buffers."""
        self.set_carrier(False)
        super().close()
