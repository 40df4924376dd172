"""A point-to-point link between two hosts: two :class:`LinkDevice`\\ s and a wire with an
MTU, a rate and a delay.

Transmit (what a NIC does with ``ndo_start_xmit``): the skb's bytes are serialized onto the
wire — linear copy, as DMA would read them — at ``rate`` bits/s behind whatever is still being
serialized (a ``txqueuelen``-packet queue; beyond it the packet is dropped, ``tx_dropped``).
When the last bit is out, **TX completion** frees the skb, which is when its socket gets the
memory back (``sock_wfree``).  ``delay`` later the frame arrives at the peer.

Receive (what a NAPI driver does): the frame is copied into an RX buffer carved from the
device's own ``page_frag_cache`` (the ``napi_alloc_cache`` role — the other half of what the
series unifies), the headers are copied into the skb's linear area, and the rest of the buffer
is attached as a page frag with ``skb_add_rx_frag`` and the buffer's size as truesize.  The skb
goes to the peer host's ``netif_rx`` from the peer's timer task (never recursively from the
sender's call), ``CHECKSUM_UNNECESSARY`` if the link offloads checksums, else ``CHECKSUM_NONE``
(the stack verifies).  A NIC that offloads receive checksums really checks them
(:func:`rx_csum_verdict`): a TCP or UDP packet whose sum is right is ``CHECKSUM_UNNECESSARY``,
anything else (a damaged frame, a fragment, a zero UDP checksum) is ``CHECKSUM_NONE`` and the
stack verifies it in software, counts ``InCsumErrors`` and drops it.

Features: scatter-gather always; checksum offload (``HW_CSUM``, ``RXCSUM``) if ``csum_offload``;
no TSO or GSO, so GSO skbs are segmented in software before they reach the wire, and frames on
the wire carry complete checksums.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from ..mm import GFP_ATOMIC, PAGE_SIZE, PageFragCache, put_page
from ..netns.timers import Timer
from ..skb import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SkBuff,
    alloc_skb,
    kfree_skb,
    skb_add_rx_frag,
    skb_put,
    skb_reserve,
    skb_to_bytes,
)
from ..stats import RX_ACCOUNT_SUFFIX
from ..wire.checksum import csum_add, csum_fold, csum_partial
from ..wire.ipv4 import IPPROTO_TCP, IPPROTO_UDP, ip4_pseudo_csum
from ..wire.ipv6 import ip6_pseudo_csum
from .device import (
    ETH_P_IP,
    ETH_P_IPV6,
    LL_RESERVED_SPACE,
    NET_XMIT_DROP,
    NET_XMIT_SUCCESS,
    NETIF_F_HW_CSUM,
    NETIF_F_RXCSUM,
    NETIF_F_SG,
    NetDevice,
)
from .faults import FaultPlan, FaultState

if TYPE_CHECKING:
    from ..netns import Net

__all__ = [
    "Link",
    "LinkDevice",
    "WireDevice",
    "frame_with_checksum",
    "rx_csum_verdict",
    "rx_headers_len",
]


class WireDevice(NetDevice):
    """What every NIC at the end of a wire shares: the receive side, which turns a frame
    from the wire into an RX skb (:meth:`rx_frame`)."""

    kind: ClassVar[str] = "link"

    def __init__(self, name: str, *, mtu: int, features: int) -> None:
        super().__init__(name, mtu=mtu, features=features)
        # the RX buffer a driver posts: a power of two holding the MTU plus headroom, at least
        # 2 KiB and at most a page (jumbo frames span several buffers)
        self.rx_buf_len = min(PAGE_SIZE, max(2048, 1 << (mtu + 128 - 1).bit_length()))
        self.rx_cache: PageFragCache | None = None
        #: what the wire does to each frame before this NIC sees it: called with the frame,
        #: returns the frames that arrive — none (lost), one (maybe altered: corrupted) or
        #: several (duplicated).  ``None``: a perfect wire.
        self.wire: Callable[[bytes], Sequence[bytes]] | None = None

    def rx_frame(self, frame: bytes, gso_size: int = 0) -> None:
        """A frame arrives from the wire (through :attr:`wire`, if set).  ``gso_size``: a TCP
        packet that stands for several segments of that size, as a TUN device takes one
        with its ``virtio_net_hdr`` (``virtio_net_hdr_to_skb``) — what a script's peer with
        packetdrill's ``--mss`` injects."""
        wire = self.wire
        if wire is None:
            self.rx_one(frame, gso_size)
            return
        for arrived in wire(frame):
            self.rx_one(arrived, gso_size)

    def rx_one(self, frame: bytes, gso_size: int = 0) -> None:
        """The driver's receive: build an RX skb around a copy of ``frame`` (a GSO skb of
        TCP segments of ``gso_size`` bytes when that is given and the payload is larger)."""
        net = self.net
        assert net is not None
        if not self.up:
            self.rx_dropped += 1
            return
        if self.rx_cache is None:
            account = net.page_allocator.account(self.name + RX_ACCOUNT_SUFFIX)
            self.rx_cache = PageFragCache(account)
        cache = self.rx_cache
        buf_len = self.rx_buf_len
        n = len(frame)
        hlen = min(rx_headers_len(frame), n)
        skb = alloc_skb(LL_RESERVED_SPACE + hlen + 64, stats=net.stats, layout=net.skb_layout)
        skb_reserve(skb, LL_RESERVED_SPACE)
        start = skb_put(skb, hlen)
        skb.head[start : start + hlen] = frame[:hlen]
        # The NIC wrote the frame into RX buffers of buf_len bytes (one, up to a 3968-byte
        # MTU; page-sized ones chained for jumbo frames, as drivers do: the page-frag cache
        # serves nothing larger than a page once its first page is used up).  The headers
        # were copied out of the first buffer; the rest stays in place as page frags.
        pos = 0
        nr = 0
        while pos < n:
            got = cache.alloc(buf_len, GFP_ATOMIC, align=64)
            if got is None:
                self.rx_dropped += 1
                kfree_skb(skb)
                return
            page, offset = got
            chunk = min(buf_len, n - pos)
            page.view[offset : offset + chunk] = frame[pos : pos + chunk]
            copied = max(hlen - pos, 0)  # this buffer's bytes already in the linear part
            if chunk > copied:
                skb_add_rx_frag(skb, nr, page, offset + copied, chunk - copied, buf_len)
                nr += 1
            else:
                put_page(page)
            pos += chunk
        skb.network_header = skb.data
        v6 = frame[0] >> 4 == 6
        skb.protocol = ETH_P_IPV6 if v6 else ETH_P_IP
        skb.ip_summed = rx_csum_verdict(frame) if self.features & NETIF_F_RXCSUM else CHECKSUM_NONE
        skb.dev = self
        if gso_size:
            l4 = 40 if v6 else (frame[0] & 0xF) * 4
            payload = n - l4 - (frame[l4 + 12] >> 4) * 4 if n > l4 + 12 else 0
            if payload > gso_size:
                shinfo = skb.shinfo
                shinfo.gso_size = gso_size
                shinfo.gso_segs = -(-payload // gso_size)
                shinfo.gso_type = SKB_GSO_TCPV6 if v6 else SKB_GSO_TCPV4
        self.receive(skb)

    def close(self) -> None:
        """Give back the RX buffers' pages."""
        if self.rx_cache is not None:
            self.rx_cache.drain()
            self.rx_cache = None


class LinkDevice(WireDevice):
    """One end of a :class:`Link` (think ``eth0``)."""

    def __init__(self, name: str, link: Link, *, mtu: int, features: int) -> None:
        super().__init__(name, mtu=mtu, features=features)
        self.link = link
        self.peer: LinkDevice | None = None
        self.busy_until = 0.0
        self.txqueue: deque[tuple[Timer | None, SkBuff]] = deque()
        #: the arrival timers of the frames on the wire to the peer
        self.inflight: deque[Timer] = deque()
        #: the faults this direction's frames meet (:meth:`set_faults`); None: a perfect wire
        self.faults: FaultState | None = None

    def set_faults(self, plan: FaultPlan | None) -> FaultState | None:
        """Attach a :class:`~netsim.dev.faults.FaultPlan` to the frames this device transmits
        (None: take it away).  Its ``down`` intervals count from now; its RNG is seeded from
        the plan's seed and this end's host and device names.  Returns the running state, whose
        counts say what the faults did."""
        net = self.net
        assert net is not None, "attach the device to a host first"
        self.faults = None if plan is None else FaultState(plan, f"{net.name}:{self.name}", net.now)
        return self.faults

    def start_xmit(self, skb: SkBuff) -> int:
        """Serialize ``skb`` onto the wire; free it at TX completion; deliver the frame to
        the peer ``delay`` seconds after its last bit."""
        net = self.net
        peer = self.peer
        assert net is not None
        assert peer is not None
        assert peer.net is not None
        link = self.link
        now = net.now
        while self.txqueue and self.txqueue[0][0] is None:
            self.txqueue.popleft()
        if len(self.txqueue) >= link.txqueuelen:
            self.tx_dropped += 1
            kfree_skb(skb)
            return NET_XMIT_DROP
        frame = frame_with_checksum(skb)
        start = max(now, self.busy_until)
        done = start + (len(frame) * 8 / link.rate if link.rate else 0.0)
        self.busy_until = done
        self.tx_packets += 1
        self.tx_bytes += len(frame)

        def tx_complete() -> None:
            self._complete(skb)

        if done > now:
            self.txqueue.append((net.timers.add(done, tx_complete), skb))
        else:
            kfree_skb(skb)
        arrival = done + link.delay
        faults = self.faults
        if faults is None:
            self._send_to_peer(peer, max(arrival, now), frame)
        else:
            for extra, arrived in faults.apply(frame, now, done - start):
                self._send_to_peer(peer, max(arrival + extra, now), arrived)
        return NET_XMIT_SUCCESS

    def _send_to_peer(self, peer: LinkDevice, when: float, frame: bytes) -> None:
        """Put ``frame`` on the wire: the peer receives it at ``when``, from its timer task."""
        peer_net = peer.net
        assert peer_net is not None
        inflight = self.inflight
        timer: Timer | None = None

        def arrive() -> None:
            if timer is not None:
                inflight.remove(timer)
            peer.rx_frame(frame)

        timer = peer_net.timers.add(when, arrive)
        inflight.append(timer)

    def _complete(self, skb: SkBuff) -> None:
        for i, (_, queued) in enumerate(self.txqueue):
            if queued is skb:
                del self.txqueue[i]
                break
        kfree_skb(skb)

    def close(self) -> None:
        """Drop what is being serialized and what is in flight to the peer."""
        for timer, skb in self.txqueue:
            if timer is not None:
                timer.cancel()
            kfree_skb(skb)
        self.txqueue.clear()
        for timer in self.inflight:
            timer.cancel()
        self.inflight.clear()
        super().close()


class Link:
    """A wire between two hosts' networks.

    Args:
        a, b: the two hosts' :class:`~netsim.netns.Net`\\ s.
        mtu: the MTU of both ends (default 1500).
        rate: bits per second (``None``: no serialization delay).
        delay: one-way propagation delay in seconds.
        txqueuelen: packets a device may have queued for serialization.
        csum_offload: the NICs compute and verify checksums.
        names: the two devices' names.
    """

    def __init__(
        self,
        a: Net,
        b: Net,
        *,
        mtu: int = 1500,
        rate: float | None = None,
        delay: float = 0.0,
        txqueuelen: int = 1000,
        csum_offload: bool = False,
        names: tuple[str, str] = ("eth0", "eth0"),
    ) -> None:
        if mtu < 68:
            raise ValueError(f"mtu {mtu} below IPv4's minimum of 68")
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be positive bits/s, not {rate}")
        if delay < 0:
            raise ValueError(f"delay must be >= 0, not {delay}")
        self.mtu = mtu
        self.rate = rate
        self.delay = delay
        self.txqueuelen = txqueuelen
        features = NETIF_F_SG | (NETIF_F_HW_CSUM | NETIF_F_RXCSUM if csum_offload else 0)
        self.dev_a = LinkDevice(names[0], self, mtu=mtu, features=features)
        self.dev_b = LinkDevice(names[1], self, mtu=mtu, features=features)
        self.dev_a.peer = self.dev_b
        self.dev_b.peer = self.dev_a
        self.net_a = a
        self.net_b = b

    def __repr__(self) -> str:
        rate = f"{self.rate:g} bit/s" if self.rate else "unlimited"
        ends = f"{self.net_a.name}:{self.dev_a.name} <-> {self.net_b.name}:{self.dev_b.name}"
        return f"<Link {ends} mtu={self.mtu} {rate} delay={self.delay}>"


def rx_csum_verdict(frame: bytes) -> int:
    """What a receive-checksum-offloading NIC reports for ``frame`` (``NETIF_F_RXCSUM``):
    ``CHECKSUM_UNNECESSARY`` when it is an unfragmented IPv4 or IPv6 packet carrying TCP or
    UDP whose transport checksum verifies over the pseudo header; ``CHECKSUM_NONE`` for
    everything else — a bad sum included, which the stack then finds, counts
    (``TcpInCsumErrors``, ``UdpInCsumErrors``) and drops, as it does with a driver that
    passes ``CHECKSUM_NONE`` up for a packet its hardware flagged."""
    n = len(frame)
    if n < 20:
        return CHECKSUM_NONE
    version = frame[0] >> 4
    if version == 4:
        ihl = (frame[0] & 0x0F) * 4
        proto = frame[9]
        tot_len = frame[2] << 8 | frame[3]
        if frame[6] & 0x3F or frame[7] or tot_len > n or tot_len < ihl:  # MF or an offset
            return CHECKSUM_NONE
        start, length = ihl, tot_len - ihl
        pseudo = ip4_pseudo_csum(frame[12:16], frame[16:20], length, proto)
    elif version == 6 and n >= 40:
        proto = frame[6]
        length = frame[4] << 8 | frame[5]
        if 40 + length > n:
            return CHECKSUM_NONE
        start = 40
        pseudo = ip6_pseudo_csum(frame[8:24], frame[24:40], length, proto)
    else:
        return CHECKSUM_NONE
    if proto == IPPROTO_UDP:
        if length < 8 or (version == 4 and frame[start + 6] == frame[start + 7] == 0):
            return CHECKSUM_NONE  # no checksum to check
    elif proto != IPPROTO_TCP or length < 20:
        return CHECKSUM_NONE
    total = csum_add(pseudo, csum_partial(memoryview(frame)[start : start + length]))
    return CHECKSUM_UNNECESSARY if csum_fold(total) == 0 else CHECKSUM_NONE


def rx_headers_len(frame: bytes | bytearray | memoryview) -> int:
    """How many bytes of headers a driver copies into the linear area (``eth_get_headlen``):
    the IP header and, for UDP/TCP, the transport header; 128 bytes for anything else."""
    if not frame:
        return 0
    version = frame[0] >> 4
    if version == 4 and len(frame) >= 20:
        hlen = (frame[0] & 0x0F) * 4
        frag = int.from_bytes(frame[6:8], "big") & 0x1FFF
        proto = frame[9]
    elif version == 6 and len(frame) >= 40:
        hlen = 40
        frag = 0
        proto = frame[6]
        if proto == 44:  # fragment header
            hlen += 8
            frag = int.from_bytes(frame[42:44], "big") & 0xFFF8
            proto = frame[40]
    else:
        return min(len(frame), 128)
    if frag:
        return hlen
    if proto == 17:
        return hlen + 8
    if proto == 6 and len(frame) >= hlen + 13:
        return hlen + (frame[hlen + 12] >> 4) * 4
    return hlen


def frame_with_checksum(skb: SkBuff) -> bytes:
    """The bytes of ``skb`` from its network header, with a ``CHECKSUM_PARTIAL`` checksum
    filled in (what an offloading NIC, or a pcap tap, sees on the wire)."""
    before = skb.data - skb.network_header if skb.network_header >= 0 else 0
    if before:
        data = bytearray(bytes(skb.head[skb.network_header : skb.data]) + skb_to_bytes(skb))
    else:
        data = bytearray(skb_to_bytes(skb))
    if skb.ip_summed == CHECKSUM_PARTIAL:
        start = skb.csum_start - skb.network_header
        where = start + skb.csum_offset
        if start >= 0 and where + 2 <= len(data):
            value = csum_fold(csum_partial(memoryview(data)[start:])) or 0xFFFF
            data[where : where + 2] = value.to_bytes(2, "big")
    return bytes(data)
