"""skb layouts a reader can check by hand against spec/tx-paths.md §1 and §3.

Every test runs with both allocators; the layouts are the same, the refcount counters are not:
``page_frag`` takes one ``page_get`` per new frag slot, ``page_frag_cache`` none.
"""

from __future__ import annotations

import io

import dpkt
import pytest
import trio

import netsim
from netsim.skb import SKB_GSO_UDP_L4, SKB_TRUESIZE, skb_check
from netsim.wire.udp import udp_verify

ALLOCATORS = ["page_frag", "page_frag_cache"]


async def _pair(
    host: netsim.Host, family: int = netsim.AF_INET
) -> tuple[netsim.Socket, netsim.Socket]:
    local = "127.0.0.1" if family == netsim.AF_INET else "::1"
    tx = host.socket(family, netsim.SOCK_DGRAM)
    rx = host.socket(family, netsim.SOCK_DGRAM)
    await rx.bind((local, 0))
    await tx.connect(rx.getsockname())
    return tx, rx


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_corked_100_100_100_first_linear_then_one_coalesced_frag(allocator: str) -> None:
    """§3.3: the first chunk of a corked datagram is small, so its skb is all linear (20 IP +
    8 UDP + 100 bytes); the next two chunks go to a page frag and the third coalesces with
    the second."""
    async with netsim.open_host(allocator=allocator) as host:
        tx, rx = await _pair(host)
        before = host.stats()
        await tx.send(b"a" * 100, netsim.MSG_MORE)
        await tx.send(b"b" * 100, netsim.MSG_MORE)
        await tx.send(b"c" * 100, netsim.MSG_MORE)
        (skb,) = tx.sk.sk_write_queue
        skb_check(skb)
        assert (skb.len, skb.headlen, skb.data_len) == (328, 128, 200)
        assert netsim.skb_layout(skb) == [("p0", 0, 200)]
        assert skb.truesize == SKB_TRUESIZE(384) + 200
        assert skb.frags[0].page.order == 3
        delta = host.stats() - before
        assert delta["skb_new_frag"] == 1
        assert delta["skb_coalesce"] == 1
        assert delta["frag_commit"] == 1
        assert delta["frag_commit_noref"] == 1
        if allocator == "page_frag":
            assert (delta["page_get"], delta["page_ref_add"]) == (1, 0)
        else:
            assert (delta["page_get"], delta["page_ref_add"]) == (0, 1)
        await tx.send(b"", 0)  # no MSG_MORE: push the datagram
        assert not tx.sk.sk_write_queue
        assert await rx.recv(1000) == b"a" * 100 + b"b" * 100 + b"c" * 100
        assert host.stats()["UdpOutDatagrams"] - before["UdpOutDatagrams"] == 1


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_udp_cork_option_holds_until_cleared(allocator: str) -> None:
    async with netsim.open_host(allocator=allocator) as host:
        tx, rx = await _pair(host)
        tx.setsockopt(netsim.SOL_UDP, netsim.UDP_CORK, 1)
        for chunk in (b"x" * 10, b"y" * 20, b"z" * 30):
            await tx.send(chunk)
        assert not rx.is_readable()
        tx.setsockopt(netsim.SOL_UDP, netsim.UDP_CORK, 0)  # pushes the pending datagram
        assert await rx.recv(100) == b"x" * 10 + b"y" * 20 + b"z" * 30


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_two_sockets_sharing_the_task_frag_break_each_others_coalescing(
    allocator: str,
) -> None:
    """§1.1: one task writing alternately to two sockets draws both from one task frag, so
    a socket's next chunk no longer starts where its last frag ends."""
    async with netsim.open_host(allocator=allocator) as host:
        a, _ra = await _pair(host)
        b, _rb = await _pair(host)
        for sock in (a, b, a, b, a):
            await sock.send(b"." * 100, netsim.MSG_MORE)
        (skb_a,) = a.sk.sk_write_queue
        (skb_b,) = b.sk.sk_write_queue
        assert netsim.skb_layout(skb_a, skb_b) == [
            [("p0", 0, 100), ("p0", 200, 100)],
            [("p0", 100, 100)],
        ]
        expected_gets = 3 if allocator == "page_frag" else 0
        assert host.stats()["page_get"] == expected_gets


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_sk_use_task_frag_false_gives_each_socket_its_own_frag(allocator: str) -> None:
    async with netsim.open_host(allocator=allocator) as host:
        a, _ra = await _pair(host)
        b, _rb = await _pair(host)
        a.sk.sk_use_task_frag = False
        b.sk.sk_use_task_frag = False
        for sock in (a, b, a, b, a):
            await sock.send(b"." * 100, netsim.MSG_MORE)
        layouts = netsim.skb_layout(a.sk.sk_write_queue[0], b.sk.sk_write_queue[0])
        assert layouts == [[("p0", 0, 200)], [("p1", 0, 100)]]
        assert host.task_context().task_frag is None  # the task's own allocator was never used


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_corked_datagram_beyond_max_skb_frags_is_emsgsize_and_discarded(
    allocator: str,
) -> None:
    """§3.3: ``ip_append_data`` cannot start an 18th frag: EMSGSIZE, and ``udp_sendmsg``
    throws the whole pending datagram away (``IpOutDiscards``)."""
    async with netsim.open_host(allocator=allocator) as host:
        a, ra = await _pair(host)
        b, rb = await _pair(host)
        await a.send(b"h" * 100, netsim.MSG_MORE)  # linear first chunk
        for _ in range(netsim.MAX_SKB_FRAGS):
            await b.send(b"B" * 20000)  # uncorked, paged: moves the task frag's offset on
            await a.send(b"a" * 100, netsim.MSG_MORE)  # so this never coalesces
            assert await rb.recv(65536) == b"B" * 20000
        assert a.sk.sk_write_queue[0].nr_frags == netsim.MAX_SKB_FRAGS
        discards = host.stats()["IpOutDiscards"]
        await b.send(b"B" * 20000)
        assert await rb.recv(65536) == b"B" * 20000
        with pytest.raises(OSError, match="Message too long") as info:
            await a.send(b"a" * 100, netsim.MSG_MORE)
        assert info.value.errno == netsim.errors.errno.EMSGSIZE
        assert not a.sk.sk_write_queue
        assert a.sk.pending == 0  # type: ignore[attr-defined]
        assert host.stats()["IpOutDiscards"] == discards + 1
        await a.send(b"after")  # the socket works on
        assert await ra.recv(100) == b"after"


@pytest.mark.parametrize(
    ("family", "dst", "expected_fragments", "last_payload"),
    [
        # IPv4: 1480 payload bytes per fragment; 40008 = 27 * 1480 + 48
        (netsim.AF_INET, "10.0.0.2", 28, 48),
        # IPv6: 1448 per fragment (1500 - 40 - 8, rounded down to 8); 40008 = 27 * 1448 + 912
        (netsim.AF_INET6, "fd00::2", 28, 912),
    ],
)
async def test_40000_byte_datagram_over_1500_mtu_link(
    family: int,
    dst: str,
    expected_fragments: int,
    last_payload: int,
    autojump_clock: trio.abc.Clock,
) -> None:
    payload = bytes(range(256)) * 156 + bytes(64)  # 40000 bytes
    assert len(payload) == 40000
    pcap = io.BytesIO()
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b, mtu=1500)
        rx = b.socket(family, netsim.SOCK_DGRAM)
        await rx.bind(("", 7000))
        tx = a.socket(family, netsim.SOCK_DGRAM)
        with a.capture(pcap, "eth0"):
            await tx.sendto(payload, (dst, 7000))
            got, _ = await rx.recvfrom(65536)
        assert got == payload
        v6 = family == netsim.AF_INET6
        creates = a.stats()["Ip6FragCreates" if v6 else "IpFragCreates"]
        assert creates == expected_fragments
        assert b.stats()["Ip6ReasmOKs" if v6 else "IpReasmOKs"] == 1
    pcap.seek(0)
    frames = [buf for _, buf in dpkt.pcap.Reader(pcap)]
    assert len(frames) == expected_fragments
    offsets = []
    for i, frame in enumerate(frames):
        last = i == len(frames) - 1
        if v6:
            ip6 = dpkt.ip6.IP6(frame)
            frag = ip6.extension_hdrs[44]
            assert frag.m_flag == (0 if last else 1)
            offsets.append(frag.frag_off * 8)
            size = ip6.plen - 8
        else:
            ip = dpkt.ip.IP(frame)
            flags_off = ip._flags_offset
            assert bool(flags_off & 0x2000) == (not last)
            offsets.append((flags_off & 0x1FFF) * 8)
            size = ip.len - 20
            assert ip.sum == dpkt.ip.IP(bytes(ip)).sum  # header checksum as dpkt computes it
        assert size == (last_payload if last else (1448 if v6 else 1480))
    step = 1448 if v6 else 1480
    assert offsets == [i * step for i in range(expected_fragments)]


@pytest.mark.parametrize("allocator", ALLOCATORS)
async def test_udp_segment_one_gso_skb_on_loopback_ten_datagrams_received(
    allocator: str,
) -> None:
    """§3.4: ``UDP_SEGMENT`` builds one ``SKB_GSO_UDP_L4`` skb (headers linear, 10000
    payload bytes in one page frag); loopback carries it whole; the receiver, without
    ``UDP_GRO``, gets ten datagrams."""
    pcap = io.BytesIO()
    async with netsim.open_host(allocator=allocator) as host:
        tx, rx = await _pair(host)
        tx.setsockopt(netsim.SOL_UDP, netsim.UDP_SEGMENT, 1000)
        seen: list[object] = []

        def spy(skb: netsim.SkBuff) -> None:
            seen.append((skb.shinfo.gso_size, skb.shinfo.gso_segs, skb.shinfo.gso_type))
            seen.append(netsim.skb_layout(skb))

        data = bytes(range(250)) * 40

        class Spy:
            """A packet tap beside the capture: it sees the same skb the capture writes."""

            def record(self, skb: netsim.SkBuff) -> None:
                spy(skb)

        with host.capture(pcap, "lo"):
            host.devices["lo"].taps.append(Spy())
            await tx.send(data)
        assert seen == [(1000, 10, SKB_GSO_UDP_L4), [("p0", 0, 10000)]]
        for i in range(10):
            assert await rx.recv(2000) == data[i * 1000 : (i + 1) * 1000]
        assert host.stats()["UdpInDatagrams"] == 10
        assert host.stats()["UdpOutDatagrams"] == 1
    pcap.seek(0)
    (frame,) = [buf for _, buf in dpkt.pcap.Reader(pcap)]
    assert len(frame) == 20 + 8 + 10000  # tcpdump on lo sees the super-packet


async def test_udp_segment_over_a_link_without_gso_is_segmented_in_software(
    autojump_clock: trio.abc.Clock,
) -> None:
    pcap = io.BytesIO()
    data = bytes(range(200)) * 25  # 5000 bytes
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b, mtu=1500)
        rx = b.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
        await rx.bind(("", 7000))
        tx = a.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
        tx.setsockopt(netsim.SOL_UDP, netsim.UDP_SEGMENT, 1400)
        with a.capture(pcap, "eth0"):
            await tx.sendto(data, ("10.0.0.2", 7000))
            got = [await rx.recv(2000) for _ in range(4)]
        assert got == [data[0:1400], data[1400:2800], data[2800:4200], data[4200:]]
    pcap.seek(0)
    frames = [dpkt.ip.IP(buf) for _, buf in dpkt.pcap.Reader(pcap)]
    assert [f.len for f in frames] == [1428, 1428, 1428, 828]
    ids = [f.id for f in frames]
    assert ids == [ids[0] + i for i in range(4)]
    for f in frames:
        assert f.data.sum != 0  # a software checksum on the wire (the link has no offload)
        assert udp_verify(f.src, f.dst, bytes(f.data), v6=False)


async def test_udp_segment_limits() -> None:
    async with netsim.open_host() as host:
        tx, _rx = await _pair(host)
        tx.setsockopt(netsim.SOL_UDP, netsim.UDP_SEGMENT, 100)
        with pytest.raises(OSError, match="Invalid argument"):
            await tx.send(b"x" * (100 * 128 + 1))  # more than UDP_MAX_SEGMENTS
        await tx.send(b"x" * (100 * 128))


async def test_udp_segment_larger_than_the_path_mtu_is_emsgsize(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b, mtu=1500)
        tx = a.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
        tx.setsockopt(netsim.SOL_UDP, netsim.UDP_SEGMENT, 1473)
        with pytest.raises(OSError, match="Message too long"):
            await tx.sendto(b"x" * 3000, ("10.0.0.2", 7000))
