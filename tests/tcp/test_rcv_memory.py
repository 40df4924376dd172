"""Receive memory: what ``tcp_data_queue`` does when ``sk_rcvbuf`` has no room.

Found by the property tests (tests/property/test_socket_ops.py): a reader that shrinks
``SO_RCVBUF`` below one segment after the handshake has already offered a larger window.
The first 32 KiB segment does not fit and is dropped; the next one goes to the out-of-order
queue and holds 33 KiB of ``sk_rmem_alloc``.  Linux still takes the retransmitted in-order
segment, because its receive queue is empty (net/ipv4/tcp_input.c ``tcp_data_queue``:
``sk_forced_mem_schedule``); netsim used to refuse it on every retransmission, forever.
Over a link the same drops exposed an RTT sample Karn's algorithm forbids.
"""

from __future__ import annotations

import itertools

import trio
import trio.testing

import netsim
from netsim import AF_INET, MSG_DONTWAIT, SHUT_WR, SO_RCVBUF, SOCK_STREAM, SOL_SOCKET

SIZE = 200 * 1024


async def test_an_empty_receive_queue_takes_the_in_order_segment(
    autojump_clock: trio.testing.MockClock,
) -> None:
    payload = bytes(range(256)) * (SIZE // 256)
    async with netsim.open_host(allocator="page_frag") as host:
        listener = host.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("127.0.0.1", 5001))
        listener.listen(1)
        client = host.socket(AF_INET, SOCK_STREAM)
        await client.connect(("127.0.0.1", 5001))
        server, _ = await listener.accept()
        client.setsockopt(SOL_SOCKET, SO_RCVBUF, 0)  # 2304 bytes, after a 64 KiB window
        assert await server.send(payload, MSG_DONTWAIT) == SIZE
        server.shutdown(SHUT_WR)

        got = bytearray()
        with trio.fail_after(60):
            while data := await client.recv(SIZE):
                got += data
        assert got == payload
        assert host.stats()["TcpExtTCPRcvQDrop"] > 0  # the buffer did overflow
        for sock in (client, server, listener):
            sock.close()


async def test_segments_acked_with_a_retransmission_give_no_rtt_sample(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Over a link with a 576-byte MTU, the same shrunk ``SO_RCVBUF`` drops most segments;
    segments that waited on the out-of-order queue are acknowledged together with the
    retransmission that filled the hole.  Karn's algorithm (net/ipv4/tcp_input.c
    ``tcp_clean_rtx_queue``: no sample when ``FLAG_RETRANS_DATA_ACKED``) takes no RTT from
    such an ACK; netsim took one from the original transmission — tens of seconds on a
    zero-delay link — and the RTO grew to its 120 s ceiling: 32 KiB took over ten minutes."""
    size = 32767
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    async with (
        netsim.open_host(allocator="page_frag", name="a") as a,
        netsim.open_host(allocator="page_frag", name="b", seed=1) as b,
    ):
        netsim.link(a, b, mtu=576)
        listener = b.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("10.0.0.2", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        await client.connect(("10.0.0.2", 5001))
        server, _ = await listener.accept()
        client.setsockopt(SOL_SOCKET, SO_RCVBUF, 0)
        assert await server.send(payload) == size
        server.shutdown(SHUT_WR)

        got = bytearray()
        with trio.fail_after(60):
            while data := await client.recv(size):
                got += data
        assert got == payload
        assert b.stats()["TcpRetransSegs"] > 0  # the drops were there
        assert server.tcp_sk.srtt_us >> 3 < 100_000  # a zero-delay link: no 35 s RTT
        for sock in (client, server, listener):
            sock.close()


async def test_a_tiny_receive_buffer_reopens_its_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``SO_RCVBUF`` 2048 across a 1500-MTU link: each arriving segment's payload/truesize
    ratio resets the window clamp (``tcp_measure_rcv_mss`` → ``tcp_set_window_clamp``), which
    never goes below ``SOCK_MIN_RCVBUF / 2`` — so ``rcv_ssthresh`` stays above a segment and the
    window reopens once the reader drains the queue.  (Without the floor the clamp fell to 720
    bytes, ``rcv_ssthresh`` with it, below the 724-byte segments: the window stayed shut and
    every zero-window probe was answered with zero.  Found by the randomized property run.)"""
    from netsim.sock.sock import SOCK_MIN_RCVBUF

    async with (
        netsim.open_host("page_frag", name="a") as a,
        netsim.open_host("page_frag", name="b", seed=1) as b,
    ):
        netsim.link(a, b, mtu=1500)
        listener = b.socket(AF_INET, SOCK_STREAM)
        listener.setsockopt(SOL_SOCKET, SO_RCVBUF, 2048)
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        await client.connect(("10.0.0.2", 5001))
        server, _ = await listener.accept()
        listener.close()
        assert await client.send(b"x" * 537) == 537
        await trio.sleep(0.01)
        assert await server.recv(537) == b"x" * 537
        assert await client.send(b"y" * 1427) == 1427
        client.shutdown(SHUT_WR)
        got = b""
        with trio.fail_after(5):  # a few round trips and probes at most
            while chunk := await server.recv(4096):
                got += chunk
        assert got == b"y" * 1427
        sk = server.tcp_sk
        assert sk.window_clamp >= SOCK_MIN_RCVBUF // 2
        assert sk.rcv_ssthresh >= sk.ack_rcv_mss
        client.close()
        server.close()


# -- collapsing and pruning (tcp_prune_queue) ------------------------------------------------


async def test_a_shrunk_buffer_collapses_and_prunes_and_delivers_everything(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The receiver shrinks ``SO_RCVBUF`` to its minimum after offering a 64 KiB window, and
    the sender, within that window, sends 300-byte segments across a link with 5 % loss.
    Each RX skb holds a 2 KiB receive buffer for 300 bytes, so the budget runs out at once:
    the receiver collapses the queued skbs into packed linear ones (``TCPRcvCollapsed``,
    their RX pages given back), throws away out-of-order data from the top
    (``OfoPruned``) and, where even that is not enough, drops the arriving segment
    (``RcvPruned``; ``TCPOFODrop``).  The sender's retransmissions make up for it: every
    byte arrives, in order, and every page comes back."""
    size = 60_000
    payload = bytes(range(251)) * (size // 251 + 1)
    payload = payload[:size]
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, rate=1e9, delay=0.0005, faults=netsim.FaultPlan(loss=0.05, seed=11))
        listener = b.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        got = bytearray()

        async def serve() -> None:
            conn, _ = await listener.accept()
            conn.setsockopt(SOL_SOCKET, SO_RCVBUF, 0)
            await trio.sleep(0.05)
            with conn:
                while chunk := await conn.recv(1000):
                    got.extend(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            await client.connect(("10.0.0.2", 5001))
            client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_NODELAY, 1)
            for i in range(0, size, 300):
                view = memoryview(payload)[i : i + 300]
                while view:
                    view = view[await client.send(view) :]
            client.shutdown(SHUT_WR)
        assert bytes(got) == payload
        s = b.stats()
        assert s["TcpExtPruneCalled"] > 0
        assert s["TcpExtTCPRcvCollapsed"] > 0
        assert s["TcpExtOfoPruned"] > 0
        assert s["TcpExtRcvPruned"] > 0
        assert s["TcpExtTCPOFODrop"] + s["TcpExtTCPRcvQDrop"] > 0
        client.close()
        listener.close()


async def test_collapse_packs_the_receive_queue_into_linear_skbs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``tcp_collapse`` on a receive queue of bloated skbs (each 300 bytes in a 2 KiB RX
    buffer): from ``copied_seq`` on, the bytes move into linear skbs of at most
    ``SKB_MAX_ORDER(0, 0)`` bytes (a 4 KiB head less the shared info: 3776 with 17 frags),
    contiguous in sequence, no frags — so the RX pages go back — and the data reads the
    same."""
    from netsim.tcp.prune import tcp_collapse

    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, rate=1e9, delay=0.0005)
        listener = b.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        await client.connect(("10.0.0.2", 5001))
        server, _ = await listener.accept()
        client.setsockopt(netsim.IPPROTO_TCP, netsim.TCP_NODELAY, 1)
        payload = bytes(range(256)) * 40  # 10240 bytes
        for i in range(0, len(payload), 300):
            await client.send(payload[i : i + 300])
            await trio.sleep(0.001)  # one segment each, no coalescing on the way
        await trio.sleep(0.01)
        sk = server.tcp_sk
        first = await server.recv(100)  # copied_seq inside the first skb
        queue = sk.sk_receive_queue
        frags_before = sum(len(skb.shinfo.frags) for skb in queue)
        rmem_before = sk.sk_rmem_alloc
        assert frags_before > 0
        tcp_collapse(sk, False, 0, None, sk.copied_seq, sk.rcv_nxt)
        limit = b.net.skb_layout.with_overhead(4096)
        assert limit == 3776
        assert all(not skb.shinfo.frags and skb.len <= limit for skb in queue)
        seqs = [(skb.cb.seq, skb.cb.end_seq) for skb in queue]
        assert seqs[0][0] == sk.copied_seq
        assert all(end == nxt for (_, end), (nxt, _) in itertools.pairwise(seqs))
        assert seqs[-1][1] == sk.rcv_nxt
        assert sk.sk_rmem_alloc < rmem_before
        assert b.stats()["TcpExtTCPRcvCollapsed"] > 0
        rest = bytearray()
        while len(rest) < len(payload) - 100:
            rest += await server.recv(65536)
        assert first + bytes(rest) == payload
        for sock in (client, server, listener):
            sock.close()
