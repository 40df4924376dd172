"""The receiver's SACK and D-SACK blocks, as Linux sends them (net/ipv4/tcp_input.c
``tcp_sack_new_ofo_skb``, ``tcp_sack_maybe_coalesce``, ``tcp_sack_remove``, ``tcp_dsack_set``;
tcp_output.c ``tcp_established_options``), read off a capture of the receiver's device:

* data behind a hole: every duplicate ACK carries a SACK block of what is held, the block
  holding the newest segment first; a block the next segment touches grows;
* several holes: one block each, the most recent first; beside timestamps at most three;
* the hole filled: the ACK jumps and carries no block;
* a segment that was had already: the ACK carries a D-SACK block (below the ACK number, RFC
  2883) once, counted as ``TCPDSACKOldSent`` and ``DelayedACKLost``;
* ``net.ipv4.tcp_sack = 0``: no blocks at all.

Frames are dropped or duplicated through the receiving device's ``wire`` hook; the sender
recovers by its retransmission timeout (loss recovery is another issue)."""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Sequence

import dpkt
import trio
import trio.testing

import netsim
from netsim import AF_INET, SOCK_STREAM
from netsim.dev.link import LinkDevice

MSS_PAYLOAD = 1448  # a 1500-byte link with timestamps


def _segments_from_a(frame: bytes) -> tuple[int, int] | None:
    """(seq, payload length) of a data segment 10.0.0.1 -> 10.0.0.2, else None."""
    ip = dpkt.ip.IP(frame)
    tcp = ip.data
    if not isinstance(tcp, dpkt.tcp.TCP) or not tcp.data:
        return None
    return tcp.seq, len(tcp.data)


async def _run(
    wire: Callable[[bytes], Sequence[bytes]], nbytes: int, sack: bool = True
) -> tuple[list[tuple[int, list[tuple[int, int]]]], int, netsim.StatsSnapshot]:
    """Send ``nbytes`` a -> b with ``wire`` on b's device; the ACKs b sent (ack, SACK blocks
    relative to the initial sequence number), the ISN, and b's counters."""
    pcap = io.BytesIO()
    payload = random.Random(nbytes).randbytes(nbytes)
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, rate=1e9, delay=0.001)
        if not sack:
            b.sysctl["net.ipv4.tcp_sack"] = 0
        eth0 = b.devices["eth0"]
        assert isinstance(eth0, LinkDevice)
        eth0.wire = wire
        listener = b.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        received = bytearray()
        with b.capture(pcap, "eth0"):

            async def serve() -> None:
                conn, _ = await listener.accept()
                with conn:
                    while chunk := await conn.recv(65536):
                        received.extend(chunk)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(serve)
                await client.connect(("10.0.0.2", 5001))
                client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_NODELAY, 1)
                view = memoryview(payload)
                while view:
                    view = view[await client.send(view) :]
                client.shutdown(netsim.SHUT_WR)
        assert bytes(received) == payload
        client.close()
        listener.close()
        stats = b.stats()
    pcap.seek(0)
    acks: list[tuple[int, list[tuple[int, int]]]] = []
    isn = -1
    for _, buf in dpkt.pcap.Reader(pcap):
        ip = dpkt.ip.IP(buf)
        tcp = ip.data
        if tcp.flags & dpkt.tcp.TH_SYN:
            if ip.src == bytes([10, 0, 0, 1]):
                isn = tcp.seq  # the client's initial sequence number
            continue
        if ip.src != bytes([10, 0, 0, 2]):
            continue
        blocks: list[tuple[int, int]] = []
        for kind, data in dpkt.tcp.parse_opts(tcp.opts):
            if kind == dpkt.tcp.TCP_OPT_SACK:
                for i in range(0, len(data), 8):
                    start = int.from_bytes(data[i : i + 4], "big")
                    end = int.from_bytes(data[i + 4 : i + 8], "big")
                    blocks.append(((start - isn) & 0xFFFFFFFF, (end - isn) & 0xFFFFFFFF))
        acks.append(((tcp.ack - isn) & 0xFFFFFFFF, blocks))
    return acks, isn, stats


def _dropping(*nth: int) -> Callable[[bytes], Sequence[bytes]]:
    """Drop the given data segments from a (0 = the first), their first transmission only."""
    seen: set[int] = set()
    count = 0

    def wire(frame: bytes) -> Sequence[bytes]:
        nonlocal count
        seg = _segments_from_a(frame)
        if seg is None or seg[0] in seen:
            return [frame]
        seen.add(seg[0])
        count += 1
        return [] if count - 1 in nth else [frame]

    return wire


def _duplicating(nth: int) -> Callable[[bytes], Sequence[bytes]]:
    """Deliver data segment ``nth`` from a (0 = the first) twice, right after itself."""
    count = 0

    def wire(frame: bytes) -> Sequence[bytes]:
        nonlocal count
        if _segments_from_a(frame) is None:
            return [frame]
        count += 1
        return [frame, frame] if count - 1 == nth else [frame]

    return wire


def _off(segment: int) -> int:
    """The relative sequence number where data segment ``segment`` starts (1: after the SYN)."""
    return 1 + segment * MSS_PAYLOAD


async def test_data_behind_a_hole_is_sacked_in_one_growing_block(
    autojump_clock: trio.testing.MockClock,
) -> None:
    acks, _, stats = await _run(_dropping(2), 8 * MSS_PAYLOAD)
    dup = [(ack, blocks) for ack, blocks in acks if blocks]
    assert dup, "no SACK block was sent"
    assert {ack for ack, _ in dup} == {_off(2)}  # every one of them a duplicate ACK
    # the block grows by a segment with each duplicate ACK: [seg 3, seg 3 + k) — and last by
    # the FIN, which arrives on its own and holds a sequence number of its own
    expected = [[(_off(3), _off(3 + k))] for k in range(1, 6)]
    expected.append([(_off(3), _off(8) + 1)])
    assert [blocks for _, blocks in dup] == expected
    # after the retransmission fills the hole: the ACK jumps past it all, with no block
    after = acks[acks.index(dup[-1]) + 1]
    assert after[0] > _off(2)
    assert after[1] == []
    assert stats["TcpExtTCPOFOQueue"] == len(dup)


async def test_several_holes_the_newest_block_first_three_beside_timestamps(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # drop segments 1, 3, 5, 7: holding 2, 4, 6, 8 makes four blocks; three fit the option
    acks, _, _ = await _run(_dropping(1, 3, 5, 7), 10 * MSS_PAYLOAD)
    with_blocks = [blocks for _, blocks in acks if blocks]
    assert with_blocks[:4] == [
        [(_off(2), _off(3))],
        [(_off(4), _off(5)), (_off(2), _off(3))],
        [(_off(6), _off(7)), (_off(4), _off(5)), (_off(2), _off(3))],
        [(_off(8), _off(9)), (_off(6), _off(7)), (_off(4), _off(5))],  # four held, three sent
    ]
    assert max(len(blocks) for blocks in with_blocks) == 3


async def test_a_segment_had_already_is_dsacked_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    acks, _, stats = await _run(_duplicating(1), 4 * MSS_PAYLOAD)
    dsacks = [(ack, blocks) for ack, blocks in acks if blocks]
    assert len(dsacks) == 1
    ack, blocks = dsacks[0]
    assert blocks == [(_off(1), _off(2))]  # the duplicate: below the ACK number (RFC 2883)
    assert ack >= _off(2)
    assert stats["TcpExtTCPDSACKOldSent"] == 1
    assert stats["TcpExtDelayedACKLost"] == 1


async def test_without_sack_no_blocks(autojump_clock: trio.testing.MockClock) -> None:
    acks, _, stats = await _run(_dropping(2), 6 * MSS_PAYLOAD, sack=False)
    assert all(blocks == [] for _, blocks in acks)
    assert stats["TcpExtTCPOFOQueue"] > 0


# -- the sender's side: the scoreboard (tcp_sacktag_write_queue) ------------------------------


async def _send_across(
    wire: Callable[[bytes], Sequence[bytes]], nbytes: int, nodelay: bool, look_at: float
) -> tuple[dict[str, int], netsim.StatsSnapshot]:
    """``nbytes`` a -> b in one send (one multi-segment skb) or, with ``nodelay``, one MSS per
    send; a's ``tcp_info`` ``look_at`` seconds after the last send (before any timeout), and
    a's counters at the end."""
    payload = random.Random(nbytes).randbytes(nbytes)
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, rate=1e9, delay=0.001)
        eth0 = b.devices["eth0"]
        assert isinstance(eth0, LinkDevice)
        eth0.wire = wire
        listener = b.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        received = bytearray()
        info: dict[str, int] = {}

        async def serve() -> None:
            conn, _ = await listener.accept()
            with conn:
                while chunk := await conn.recv(65536):
                    received.extend(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            await client.connect(("10.0.0.2", 5001))
            if nodelay:
                client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_NODELAY, 1)
            step = MSS_PAYLOAD if nodelay else nbytes
            for i in range(0, nbytes, step):
                view = memoryview(payload)[i : i + step]
                while view:
                    view = view[await client.send(view) :]
            await trio.sleep(look_at)
            info = client.tcp_sk.info()
            client.shutdown(netsim.SHUT_WR)
        assert bytes(received) == payload
        await trio.sleep(0.1)  # the last ACKs reach a
        assert client.tcp_sk.sacked_out == 0  # every SACKed segment was acknowledged since
        assert not client.tcp_sk.tcp_rtx_queue
        client.close()
        listener.close()
        return info, a.stats()


async def test_rack_reordering_timer_resends_only_the_hole(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Segment 2 of 4 lost: the two behind it come back SACKed — fewer than ``tcp_reordering``
    (3), so RACK (``tcp_rack_detect_loss``) allows a reordering window (min RTT / 4) and arms
    its timer instead of marking the hole at once; when it fires (``tcp_rack_reo_timeout``)
    the hole is lost, fast recovery resends it alone — no timeout, no go-back-N."""
    info, stats = await _send_across(_dropping(2), 4 * MSS_PAYLOAD, True, 0.05)
    assert info["sacked"] == 0  # all acknowledged by then
    assert stats["TcpExtTCPTimeouts"] == 0
    assert stats["TcpRetransSegs"] == 1
    assert stats["TcpExtTCPFastRetrans"] == 1
    assert stats["TcpExtTCPSackRecovery"] == 1
    assert stats["TcpExtTCPLossProbes"] == 0
    assert stats["TcpExtTCPSACKDiscard"] == 0


async def test_one_lost_segment_is_one_fast_retransmit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Segment 2 of 20 lost: SACKed duplicate ACKs; with three segments SACKed RACK proves the
    hole lost (sent before the latest one delivered, and an RTT old), fast recovery begins
    (``TCPSackRecovery``), the hole is resent once (``TCPFastRetrans``), no timeout fires, and
    recovery ends with the window at ``ssthresh`` — 717/1024 of the window it began from
    (CUBIC's beta; Reno would halve it).  (Reading ``tcp_info`` 50 ms on, when it is all
    over.)"""
    info, stats = await _send_across(_dropping(2), 20 * MSS_PAYLOAD, True, 0.05)
    assert stats["TcpExtTCPSackRecovery"] == 1
    assert stats["TcpExtTCPFastRetrans"] == 1
    assert stats["TcpRetransSegs"] == 1
    assert stats["TcpExtTCPTimeouts"] == 0
    assert info["ca_state"] == 0  # Open again
    # the window when the loss was found — the initial 10, +1 in slow start for each of the
    # two segments acknowledged before the hole — times 717/1024 (cubictcp_recalc_ssthresh)
    assert info["snd_ssthresh"] == 12 * 717 // 1024 == 8
    assert info["snd_cwnd"] >= info["snd_ssthresh"]


async def test_a_sack_inside_a_multi_segment_skb_splits_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """One 8-segment write is one skb on the retransmit queue (segments 0 and 1 acked off its
    head by ``tcp_trim_head``); the SACK of segments 3..7 cuts it at the MSS boundary before
    segment 3 (``tcp_match_skb_to_sack`` → ``tcp_fragment``, a frag straddling the cut shared
    by both halves with one more page reference) and marks the tail — which an unsplit skb
    could not show, and without which no loss would be proven — so fast recovery resends the
    hole alone, with no timeout.  Every page comes back (the leak check)."""
    _, stats = await _send_across(_dropping(2), 8 * MSS_PAYLOAD, False, 0.05)
    assert stats["TcpExtTCPSackRecovery"] == 1
    assert stats["TcpRetransSegs"] == 1
    assert stats["TcpExtTCPTimeouts"] == 0


async def test_a_dsack_is_counted_and_tags_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    info, stats = await _send_across(_duplicating(1), 4 * MSS_PAYLOAD, True, 0.05)
    assert stats["TcpExtTCPDSACKRecv"] == 1
    assert info["sacked"] == 0
    assert stats["TcpRetransSegs"] == 0


# -- the receiver's own data: SACK blocks take room from the MSS (tcp_current_mss) ----------


async def test_segments_carrying_sack_blocks_shrink_to_fit_the_mtu(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Data both ways on a 1500-byte link; one of ``a``'s segments is lost.  While ``b``
    holds data behind the hole, every segment it sends carries SACK blocks, and
    ``tcp_current_mss()`` takes their room from ``mss_cache`` (``header_len !=
    tcp_header_len``): 4 bytes plus 8 a block, so with one block ``b``'s full segments carry
    1436 bytes, not 1448.  Every frame fits the MTU: none is refused with ``EMSGSIZE``
    (``IpFragFails``), which would leave the data unsent until the hole is filled — for
    good, when each side holds the other's data behind a hole."""
    nbytes = 100_000
    to_b = random.Random(1).randbytes(nbytes)
    to_a = random.Random(2).randbytes(nbytes)
    pcap = io.BytesIO()
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, rate=1e9, delay=0.001)
        eth0 = b.devices["eth0"]
        assert isinstance(eth0, LinkDevice)
        eth0.wire = _dropping(2)
        listener = b.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        await client.connect(("10.0.0.2", 5001))
        server, _ = await listener.accept()
        got_a, got_b = bytearray(), bytearray()

        async def send(sock: netsim.Socket, payload: bytes) -> None:
            await sock.send(payload)
            sock.shutdown(netsim.SHUT_WR)

        async def read(sock: netsim.Socket, into: bytearray) -> None:
            while chunk := await sock.recv(65536):
                into.extend(chunk)

        with b.capture(pcap, "eth0"):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send, client, to_b)
                nursery.start_soon(send, server, to_a)
                nursery.start_soon(read, client, got_a)
                nursery.start_soon(read, server, got_b)
        assert bytes(got_b) == to_b
        assert bytes(got_a) == to_a
        for sock in (client, server, listener):
            sock.close()
        stats = b.stats()
    assert stats["IpFragFails"] == 0
    pcap.seek(0)
    sacked_data: list[tuple[int, int]] = []  # (SACK blocks, payload) of b's data segments
    for _, buf in dpkt.pcap.Reader(pcap):
        assert len(buf) <= 1500
        ip = dpkt.ip.IP(buf)
        if ip.src != bytes([10, 0, 0, 2]) or not ip.data.data:
            continue
        for kind, data in dpkt.tcp.parse_opts(ip.data.opts):
            if kind == dpkt.tcp.TCP_OPT_SACK:
                sacked_data.append((len(data) // 8, len(ip.data.data)))
    assert sacked_data, "b sent no data while it held a's behind the hole"
    assert max(size for _, size in sacked_data) == MSS_PAYLOAD - 12
    assert all(size <= MSS_PAYLOAD - 4 - 8 * n for n, size in sacked_data)
