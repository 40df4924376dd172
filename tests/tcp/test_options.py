"""TCP socket options and what they do to the segments on the wire: Nagle and
``TCP_NODELAY``, autocorking, ``TCP_CORK``, ``MSG_MORE``, ``TCP_MAXSEG``,
``TCP_NOTSENT_LOWAT``, ``SO_SNDBUF``/``SO_RCVBUF`` (doubled, as Linux does), and the
``tcp_info`` fields (net/ipv4/tcp.c ``do_tcp_setsockopt``/``do_tcp_getsockopt``,
``tcp_poll``; net/ipv4/tcp_output.c ``tcp_nagle_test``, ``tcp_write_wakeup``;
net/core/sock.c ``sk_setsockopt``).

Segments are counted on a link between two hosts, where the sending host's ``TcpOutSegs``
counts exactly the segments of the one socket that sends, and the device ends see each
packet; the sizes the peer sees are read back from a pcap capture with dpkt.
"""

from __future__ import annotations

import errno
import io
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import dpkt
import pytest
import trio
import trio.testing

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    IPPROTO_TCP,
    MSG_CTRUNC,
    MSG_DONTWAIT,
    MSG_MORE,
    SHUT_WR,
    SO_RCVBUF,
    SO_RCVBUFFORCE,
    SO_SNDBUF,
    SO_SNDBUFFORCE,
    SOCK_STREAM,
    SOL_SOCKET,
    SOL_TCP,
    TCP_CM_INQ,
    TCP_CORK,
    TCP_INFO,
    TCP_INQ,
    TCP_MAXSEG,
    TCP_NODELAY,
    TCP_NOTSENT_LOWAT,
)
from netsim.tcp import TcpSock
from netsim.tcp.options import TCP_INFO_FIELDS, TCP_INFO_FORMAT, tcp_info_fields

PEER = {AF_INET: "10.0.0.2", AF_INET6: "fd00::2"}
FAMILIES = pytest.mark.parametrize("family", [AF_INET, AF_INET6], ids=["ipv4", "ipv6"])
DELAY = 0.01  # one way: an RTT of 20 ms
#: MSS on a 1500-byte link with timestamps (the 12-byte option rides in every segment)
MSS = {AF_INET: 1500 - 20 - 20 - 12, AF_INET6: 1500 - 40 - 20 - 12}
PORT = 5002
#: small writes in a row: fewer than the initial congestion window of 10 segments
WRITES = 8


def _tcp(sock: netsim.Socket) -> TcpSock:
    sk = sock.sk
    assert isinstance(sk, TcpSock)
    return sk


class Wire:
    """Two hosts on a link and a connected pair: ``client`` on ``a`` sends, ``server`` on
    ``b`` reads."""

    def __init__(
        self, a: netsim.Host, b: netsim.Host, client: netsim.Socket, server: netsim.Socket
    ) -> None:
        self.a = a
        self.b = b
        self.client = client
        self.server = server
        self._mark = 0

    def mark(self) -> None:
        """Start counting the client's segments from here."""
        self._mark = self.a.stats()["TcpOutSegs"]

    def segments(self) -> int:
        """Segments the client sent since :meth:`mark` (it sends nothing but its data here:
        it has nothing to acknowledge)."""
        return self.a.stats()["TcpOutSegs"] - self._mark

    async def read(self, n: int) -> bytes:
        got = b""
        while len(got) < n:
            chunk = await self.server.recv(n - len(got))
            assert chunk
            got += chunk
        return got

    async def settle(self, *, unsent: int = 0) -> None:
        """Wait until everything the client wrote but ``unsent`` bytes is acknowledged."""
        sk = _tcp(self.client)
        for _ in range(30_000):  # at most 30 s
            if sk.snd_una >= sk.write_seq - unsent:
                return
            await trio.sleep(0.001)
        raise AssertionError(f"not acknowledged: {sk.write_seq - sk.snd_una} bytes")


@asynccontextmanager
async def _wire(
    family: int = AF_INET,
    *,
    rate: float | None = None,
    delay: float = DELAY,
    client_opts: tuple[tuple[int, int, int], ...] = (),
    listener_opts: tuple[tuple[int, int, int], ...] = (),
) -> AsyncIterator[Wire]:
    async with (
        netsim.open_host(name="a") as a,
        netsim.open_host(name="b", seed=1) as b,
    ):
        netsim.link(a, b, mtu=1500, rate=rate, delay=delay)
        listener = b.socket(family, SOCK_STREAM)
        for level, name, value in listener_opts:
            listener.setsockopt(level, name, value)
        await listener.bind((PEER[family], PORT))
        listener.listen(1)
        client = a.socket(family, SOCK_STREAM)
        for level, name, value in client_opts:
            client.setsockopt(level, name, value)
        await client.connect((PEER[family], PORT))
        server, _ = await listener.accept()
        listener.close()
        yield Wire(a, b, client, server)
        client.close()
        server.close()


# -- Nagle, TCP_NODELAY, autocorking --------------------------------------------------------------


@FAMILIES
async def test_nagle_coalesces_small_writes_while_data_is_unacked(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Nagle on (a plain socket): the first small write leaves at once; the next seven,
    written while it is unacknowledged, wait (``tcp_nagle_test`` / Minshall's check) and
    leave together as one segment when the ACK comes back."""
    async with _wire(family) as w:
        assert w.client.getsockopt(IPPROTO_TCP, TCP_NODELAY) == 0
        w.mark()
        for _ in range(WRITES):
            await w.client.send(b"n")
        assert w.segments() == 1
        assert _tcp(w.client).info()["notsent_bytes"] == WRITES - 1
        assert await w.read(WRITES) == b"n" * WRITES
        await w.settle()
        assert w.segments() == 2


@FAMILIES
async def test_nodelay_sends_each_write_as_its_own_segment(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``TCP_NODELAY``: no Nagle — every small write is a segment of its own (the link has no
    rate, so TX completion is immediate and autocorking never holds one back)."""
    async with _wire(family, client_opts=((IPPROTO_TCP, TCP_NODELAY, 1),)) as w:
        assert w.client.getsockopt(IPPROTO_TCP, TCP_NODELAY) == 1
        w.mark()
        for _ in range(WRITES):
            await w.client.send(b"d")
        assert w.segments() == WRITES
        assert _tcp(w.client).info()["notsent_bytes"] == 0
        assert await w.read(WRITES) == b"d" * WRITES
        await w.settle()
        assert w.segments() == WRITES
        assert w.a.stats()["TcpExtTCPAutoCorking"] == 0


async def test_nodelay_small_writes_beyond_the_initial_window_coalesce(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Even with ``TCP_NODELAY`` the congestion window (10 segments at first) decides: the
    writes after the tenth wait in the tail skb, and grow it, until ACKs open the window."""
    async with _wire(client_opts=((IPPROTO_TCP, TCP_NODELAY, 1),)) as w:
        w.mark()
        for _ in range(50):
            await w.client.send(b"d")
        assert w.segments() == 10  # TCP_INIT_CWND
        assert _tcp(w.client).info()["notsent_bytes"] == 40
        assert len(_tcp(w.client).sk_write_queue) == 1
        assert await w.read(50) == b"d" * 50
        await w.settle()
        assert w.segments() == 11


@pytest.mark.parametrize("autocorking", [1, 0])
async def test_autocorking_holds_small_writes_behind_a_busy_device(
    autocorking: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``TCP_NODELAY`` on a 1 Mbit/s link: while earlier segments are still being
    serialized (their clones charged to ``sk_wmem_alloc``), ``tcp_should_autocork`` holds
    a small tail skb whose truesize does not exceed what is in the device; TX completion
    (``tcp_wfree`` -> ``tcp_tsq_handler``) pushes it.  With ``net.ipv4.tcp_autocorking = 0``
    every write leaves on its own.  (A short RTT keeps the pacing rate, and so the TSQ
    limit, high: only autocorking holds writes back here.)"""
    async with _wire(rate=1e6, delay=0.0001, client_opts=((IPPROTO_TCP, TCP_NODELAY, 1),)) as w:
        w.a.sysctl["net.ipv4.tcp_autocorking"] = autocorking
        w.mark()
        for _ in range(WRITES):
            await w.client.send(b"c")
        held = _tcp(w.client).info()["notsent_bytes"]
        assert await w.read(WRITES) == b"c" * WRITES
        await w.settle()
        assert w.a.stats()["TcpExtTSQThrottled"] == 0
        if autocorking:
            # the 1st write leaves, the 2nd is corked behind it (the kernel's
            # sk_wmem_alloc > truesize test, with the refcount's bias of 1)...
            assert held > 0
            assert 2 <= w.segments() < WRITES
            assert w.a.stats()["TcpExtTCPAutoCorking"] >= 1
        else:
            assert held == 0
            assert w.segments() == WRITES
            assert w.a.stats()["TcpExtTCPAutoCorking"] == 0


# -- TCP_CORK and MSG_MORE ------------------------------------------------------------------------


@FAMILIES
async def test_cork_holds_partial_segments_until_uncorked(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with _wire(family) as w:
        w.client.setsockopt(IPPROTO_TCP, TCP_CORK, 1)
        assert w.client.getsockopt(IPPROTO_TCP, TCP_CORK) == 1
        w.mark()
        for _ in range(100):
            await w.client.send(b"k")
        assert w.segments() == 0
        w.client.setsockopt(IPPROTO_TCP, TCP_CORK, 0)  # pushes what is queued
        assert w.client.getsockopt(IPPROTO_TCP, TCP_CORK) == 0
        assert w.segments() == 1
        assert await w.read(100) == b"k" * 100
        await w.settle()
        assert w.segments() == 1


@FAMILIES
async def test_cork_lets_full_segments_go(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Corked, full-sized segments still leave (``tcp_mss_split_point`` cuts the queue at a
    multiple of the MSS); only the partial tail waits for the uncork."""
    mss = MSS[family]
    size = 3 * mss + 100
    async with _wire(family, client_opts=((IPPROTO_TCP, TCP_CORK, 1),)) as w:
        w.mark()
        for _ in range(size // 100):
            await w.client.send(b"f" * 100)
        await w.client.send(b"f" * (size % 100))
        assert w.segments() == 3
        sk = _tcp(w.client)
        assert sk.info()["notsent_bytes"] == 100
        assert await w.read(3 * mss) == b"f" * (3 * mss)
        await w.settle(unsent=100)  # the full segments are acknowledged...
        assert sk.snd_nxt == sk.write_seq - 100  # ...and the tail is still held back
        w.client.setsockopt(IPPROTO_TCP, TCP_CORK, 0)
        assert await w.read(100) == b"f" * 100
        assert w.segments() == 4


@FAMILIES
async def test_nodelay_flushes_a_cork_once(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Turning ``TCP_NODELAY`` on pushes what is queued even under ``TCP_CORK``
    (``__tcp_sock_set_nodelay`` sets ``TCP_NAGLE_PUSH``); the cork itself stays."""
    async with _wire(family, client_opts=((IPPROTO_TCP, TCP_CORK, 1),)) as w:
        w.mark()
        await w.client.send(b"x" * 100)
        assert w.segments() == 0
        w.client.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
        assert w.segments() == 1
        assert w.client.getsockopt(IPPROTO_TCP, TCP_CORK) == 1
        assert await w.read(100) == b"x" * 100
        await w.settle()
        await w.client.send(b"y" * 100)
        assert w.segments() == 1  # corked again
        w.client.setsockopt(IPPROTO_TCP, TCP_CORK, 0)
        assert w.segments() == 2
        assert await w.read(100) == b"y" * 100


async def test_cork_ceiling_is_the_probe_timer(autojump_clock: trio.testing.MockClock) -> None:
    """tcp(7): "there is a 200 millisecond ceiling on the time for which output is corked".
    With nothing in flight a corked partial segment arms the probe timer
    (``__tcp_push_pending_frames`` -> ``tcp_check_probe_timer``), and ``tcp_send_probe0``
    -> ``tcp_write_wakeup`` sends the head of the write queue, cork or not, once the timer
    (one RTO) fires."""
    async with _wire(client_opts=((IPPROTO_TCP, TCP_CORK, 1),)) as w:
        sk = _tcp(w.client)
        w.mark()
        start = trio.current_time()
        await w.client.send(b"z" * 100)
        assert w.segments() == 0
        assert await w.read(100) == b"z" * 100
        waited = trio.current_time() - start
        assert w.segments() == 1
        assert waited == pytest.approx(sk.rto + DELAY, abs=0.005)
        assert 0.2 <= waited < 1.0
        assert w.a.stats()["TcpExtTCPWinProbe"] == 0  # data, not a window probe
        assert w.client.getsockopt(IPPROTO_TCP, TCP_CORK) == 1


@pytest.mark.parametrize("nodelay", [0, 1])
async def test_msg_more_holds_until_a_write_without_it(
    nodelay: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``MSG_MORE`` corks the one call (``tcp_push`` with ``TCP_NAGLE_CORK``), Nagle or
    not; the next write without it sends everything in one segment."""
    async with _wire(client_opts=((IPPROTO_TCP, TCP_NODELAY, nodelay),)) as w:
        w.mark()
        for _ in range(5):
            await w.client.send(b"m" * 10, MSG_MORE)
        assert w.segments() == 0
        await w.client.send(b"!")
        assert w.segments() == 1
        assert await w.read(51) == b"m" * 50 + b"!"
        await w.settle()
        assert w.segments() == 1


# -- TCP_MAXSEG -----------------------------------------------------------------------------------


def _tcp_payloads(capture: bytes, sport: int) -> list[int]:
    """Payload lengths of the TCP segments from ``sport`` in a LINKTYPE_RAW capture, and the
    MSS option of any SYN, as a negative number."""
    out: list[int] = []
    for _ts, raw in dpkt.pcap.Reader(io.BytesIO(capture)):
        ip = dpkt.ip.IP(raw) if raw[0] >> 4 == 4 else dpkt.ip6.IP6(raw)
        tcp = ip.data
        if not isinstance(tcp, dpkt.tcp.TCP) or tcp.sport != sport:
            continue
        if tcp.flags & dpkt.tcp.TH_SYN:
            for kind, value in dpkt.tcp.parse_opts(tcp.opts):
                if kind == dpkt.tcp.TCP_OPT_MSS:
                    out.append(-int.from_bytes(value, "big"))
        elif tcp.data:
            out.append(len(tcp.data))
    return out


@FAMILIES
async def test_maxseg_limits_the_mss_the_peer_uses(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``TCP_MAXSEG`` before ``connect``: the SYN advertises it (``tcp_connect_init`` clamps
    ``advmss``), so the peer's segments carry at most that minus the 12-byte timestamp
    option; the socket's own MSS is clamped the same way."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, mtu=1500, delay=DELAY)
        listener = b.socket(family, SOCK_STREAM)
        await listener.bind((PEER[family], PORT))
        listener.listen(1)
        client = a.socket(family, SOCK_STREAM)
        assert client.getsockopt(IPPROTO_TCP, TCP_MAXSEG) == 536  # TCP_MSS_DEFAULT
        client.setsockopt(IPPROTO_TCP, TCP_MAXSEG, 1000)
        assert client.getsockopt(IPPROTO_TCP, TCP_MAXSEG) == 1000  # user_mss, not connected
        buf = io.BytesIO()
        with a.capture(buf, "eth0"):
            await client.connect((PEER[family], PORT))
            server, _ = await listener.accept()
            listener.close()
            assert client.getsockopt(IPPROTO_TCP, TCP_MAXSEG) == 1000 - 12
            assert _tcp(server).info()["snd_mss"] == 1000 - 12
            assert server.getsockopt(IPPROTO_TCP, TCP_MAXSEG) == 1000 - 12
            payload = bytes(range(256)) * 100
            await server.send(payload)
            got = b""
            while len(got) < len(payload):
                got += await client.recv(65536)
            assert got == payload
            assert _tcp(client).info()["rcv_mss"] == 1000 - 12
        sizes = _tcp_payloads(buf.getvalue(), PORT)
        syn_mss = [-n for n in sizes if n < 0]
        data = [n for n in sizes if n > 0]
        assert syn_mss == [MSS[family] + 12]  # the server's SYN-ACK: its own, unclamped
        assert sum(data) == len(payload)
        assert max(data) == 1000 - 12
        # and the client's SYN said 1000
        client_sizes = _tcp_payloads(buf.getvalue(), client.getsockname()[1])
        assert [-n for n in client_sizes if n < 0] == [1000]
        client.close()
        server.close()


async def test_maxseg_on_the_listener_is_inherited(autojump_clock: trio.testing.MockClock) -> None:
    async with _wire(listener_opts=((IPPROTO_TCP, TCP_MAXSEG, 600),)) as w:
        assert _tcp(w.server).info()["snd_mss"] == 600 - 12
        assert _tcp(w.client).info()["snd_mss"] == 600 - 12  # the SYN-ACK advertised 600
        w.mark()
        await w.client.send(b"q" * 6000)
        assert await w.read(6000) == b"q" * 6000
        await w.settle()
        assert w.segments() == -(-6000 // (600 - 12))


@pytest.mark.parametrize("value", [1, 87, 32768, -1])
async def test_maxseg_out_of_range_is_einval(
    value: int, netsim_host: netsim.Host, autojump_clock: trio.testing.MockClock
) -> None:
    sock = netsim_host.socket(AF_INET, SOCK_STREAM)
    with pytest.raises(OSError, match=rf"^\[Errno {errno.EINVAL}\] "):
        sock.setsockopt(IPPROTO_TCP, TCP_MAXSEG, value)
    sock.setsockopt(IPPROTO_TCP, TCP_MAXSEG, 88)  # TCP_MIN_MSS
    sock.setsockopt(IPPROTO_TCP, TCP_MAXSEG, 32767)  # MAX_TCP_WINDOW
    sock.setsockopt(IPPROTO_TCP, TCP_MAXSEG, 0)  # back to the route's MSS
    sock.close()


# -- TCP_NOTSENT_LOWAT ----------------------------------------------------------------------------


async def test_notsent_lowat_values(
    netsim_host: netsim.Host, autojump_clock: trio.testing.MockClock
) -> None:
    sock = netsim_host.socket(AF_INET, SOCK_STREAM)
    assert sock.getsockopt(IPPROTO_TCP, TCP_NOTSENT_LOWAT) == 0  # the sysctl decides
    sock.setsockopt(IPPROTO_TCP, TCP_NOTSENT_LOWAT, 4096)
    assert sock.getsockopt(IPPROTO_TCP, TCP_NOTSENT_LOWAT) == 4096
    # do_tcp_setsockopt() stores any int in the u32 tp->notsent_lowat, unchecked: -1 is
    # "no limit", and do_tcp_getsockopt() reads it back into an int
    sock.setsockopt(IPPROTO_TCP, TCP_NOTSENT_LOWAT, -1)
    assert sock.getsockopt(IPPROTO_TCP, TCP_NOTSENT_LOWAT) == -1
    assert _tcp(sock).notsent_lowat == 0xFFFFFFFF
    assert sock.tcp_sk.stream_poll_writable()
    sock.close()


async def test_notsent_lowat_gates_writability(autojump_clock: trio.testing.MockClock) -> None:
    """With ``TCP_NOTSENT_LOWAT`` 4096 the socket stops taking new skbs once 4096 bytes wait
    unsent (``tcp_stream_memory_free``): a non-blocking send stops short and the next one
    is ``EAGAIN``.  ``wait_writable`` (poll) returns only once fewer than half of that are
    unsent — the ``wake`` form ``tcp_poll`` uses — which takes the ACKs of a round trip."""
    lowat = 4096
    async with _wire(client_opts=((IPPROTO_TCP, TCP_NOTSENT_LOWAT, lowat),)) as w:
        sk = _tcp(w.client)
        payload = b"w" * 100_000
        sent = await w.client.send(payload, MSG_DONTWAIT)
        assert sent < len(payload)
        assert sk.info()["notsent_bytes"] >= lowat
        with pytest.raises(OSError, match=rf"^\[Errno {errno.EAGAIN}\] "):
            await w.client.send(payload[sent:], MSG_DONTWAIT)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(w.read, sent)
            start = trio.current_time()
            with trio.fail_after(10):
                await w.client.wait_writable()
            assert trio.current_time() - start >= 2 * DELAY
            assert sk.info()["notsent_bytes"] * 2 < lowat
        more = await w.client.send(payload[sent:], MSG_DONTWAIT)
        assert more > 0
        assert await w.read(more) == payload[sent : sent + more]


async def test_without_lowat_the_same_socket_stays_writable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with _wire() as w:
        sent = await w.client.send(b"w" * 40_000, MSG_DONTWAIT)
        assert sent == 40_000
        assert _tcp(w.client).info()["notsent_bytes"] > 4096
        start = trio.current_time()
        await w.client.wait_writable()
        assert trio.current_time() == start
        assert await w.read(sent) == b"w" * sent


async def test_socket_stream_wait_send_all_might_not_block(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """trio's ``SocketStream`` sets ``TCP_NOTSENT_LOWAT`` = 16 KiB and waits for writability
    in ``wait_send_all_might_not_block``: after a 40 KB ``send_all`` (one skb, no wait) the
    wait returns once the data has left, instead of hanging."""
    async with _wire() as w:
        stream = trio.SocketStream(w.client)
        assert stream.getsockopt(IPPROTO_TCP, TCP_NOTSENT_LOWAT) == 16384
        sk = _tcp(w.client)
        await stream.send_all(b"s" * 40_000)
        assert sk.info()["notsent_bytes"] * 2 >= 16384
        async with trio.open_nursery() as nursery:
            nursery.start_soon(w.read, 40_000)
            with trio.fail_after(10):
                await stream.wait_send_all_might_not_block()
            assert sk.info()["notsent_bytes"] * 2 < 16384


# -- SO_SNDBUF / SO_RCVBUF ------------------------------------------------------------------------


async def test_buffer_sizes_are_doubled(
    netsim_host: netsim.Host, autojump_clock: trio.testing.MockClock
) -> None:
    """``SO_SNDBUF``/``SO_RCVBUF`` store twice the value asked for (``getsockopt`` shows the
    doubled value), capped at ``wmem_max``/``rmem_max`` before doubling, floored at
    ``SOCK_MIN_SNDBUF``/``SOCK_MIN_RCVBUF``; the ``*FORCE`` variants skip the cap."""
    host = netsim_host
    wmem_max = host.sysctl["net.core.wmem_max"]
    rmem_max = host.sysctl["net.core.rmem_max"]
    assert isinstance(wmem_max, int)
    assert isinstance(rmem_max, int)
    sock = host.socket(AF_INET, SOCK_STREAM)
    # a fresh TCP socket starts from tcp_wmem[1] / tcp_rmem[1]
    assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF) == 16384
    assert sock.getsockopt(SOL_SOCKET, SO_RCVBUF) == 131072
    for opt in (SO_SNDBUF, SO_RCVBUF):
        sock.setsockopt(SOL_SOCKET, opt, 10000)
        assert sock.getsockopt(SOL_SOCKET, opt) == 20000
    sock.setsockopt(SOL_SOCKET, SO_SNDBUF, 1)
    assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF) == 4608  # SOCK_MIN_SNDBUF
    sock.setsockopt(SOL_SOCKET, SO_RCVBUF, 1)
    assert sock.getsockopt(SOL_SOCKET, SO_RCVBUF) == 2304  # SOCK_MIN_RCVBUF
    sock.setsockopt(SOL_SOCKET, SO_SNDBUF, 1 << 30)
    assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF) == 2 * wmem_max
    sock.setsockopt(SOL_SOCKET, SO_RCVBUF, -1)  # read as an unsigned value: huge, capped
    assert sock.getsockopt(SOL_SOCKET, SO_RCVBUF) == 2 * rmem_max
    sock.setsockopt(SOL_SOCKET, SO_SNDBUFFORCE, 2 * wmem_max)
    assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF) == 4 * wmem_max
    sock.setsockopt(SOL_SOCKET, SO_RCVBUFFORCE, -5)
    assert sock.getsockopt(SOL_SOCKET, SO_RCVBUF) == 2304
    # the raw form: four native-endian bytes
    assert sock.getsockopt(SOL_SOCKET, SO_RCVBUF, 4) == (2304).to_bytes(4, "little")
    sock.close()


async def test_set_buffer_sizes_stop_autotuning(autojump_clock: trio.testing.MockClock) -> None:
    """Without ``SO_SNDBUF`` the send buffer grows with the congestion window
    (``tcp_sndbuf_expand``) and the receive buffer with the reader's pace
    (``tcp_rcv_space_adjust``); a value the user set stays (``SOCK_SNDBUF_LOCK``,
    ``SOCK_RCVBUF_LOCK``)."""
    fixed = ((SOL_SOCKET, SO_SNDBUF, 65536), (SOL_SOCKET, SO_RCVBUF, 65536))
    for opts, locked in (((), False), (fixed, True)):
        async with _wire(client_opts=opts, listener_opts=opts) as w:
            payload = b"t" * 2_000_000
            async with trio.open_nursery() as nursery:
                nursery.start_soon(w.read, len(payload))
                await w.client.send(payload)
            await w.settle()
            sndbuf = w.client.getsockopt(SOL_SOCKET, SO_SNDBUF)
            rcvbuf = w.server.getsockopt(SOL_SOCKET, SO_RCVBUF)
            if locked:
                assert (sndbuf, rcvbuf) == (131072, 131072)
            else:
                assert sndbuf > 16384
                assert rcvbuf > 131072


# -- tcp_info -------------------------------------------------------------------------------------


async def test_tcp_info_fields(autojump_clock: trio.testing.MockClock) -> None:
    async with _wire() as w:
        payload = b"i" * 100_000
        async with trio.open_nursery() as nursery:
            nursery.start_soon(w.read, len(payload))
            await w.client.send(payload)
        await w.settle()
        info = _tcp(w.client).info()
        peer = _tcp(w.server).info()
        assert info["state"] == peer["state"] == 1  # TCP_ESTABLISHED
        assert info["snd_mss"] == MSS[AF_INET]
        assert peer["rcv_mss"] == MSS[AF_INET]
        # an RTT of 2 * DELAY (the receiver may hold an ACK back up to 40 ms)
        assert 2 * DELAY * 1e6 - 10 <= info["rtt_us"] <= (2 * DELAY + 0.04) * 1e6
        assert info["rto_us"] >= 200_000
        assert info["snd_cwnd"] > 10  # slow start grew it
        assert info["bytes_acked"] == len(payload) + 1  # + the SYN
        assert peer["bytes_received"] == len(payload)
        assert info["bytes_sent"] == len(payload)
        assert info["unacked"] == 0
        assert info["notsent_bytes"] == 0
        assert info["retransmits"] == info["total_retrans"] == 0
        assert info["segs_out"] >= -(-len(payload) // MSS[AF_INET])
        assert peer["segs_in"] >= -(-len(payload) // MSS[AF_INET])
        assert info["snd_wscale"] == peer["rcv_wscale"] > 0
        assert info["snd_wnd"] > 0
        assert peer["rcv_wnd"] > 0


async def test_getsockopt_tcp_info_struct(
    netsim_tcp_pair: tuple[netsim.Socket, netsim.Socket], autojump_clock: trio.testing.MockClock
) -> None:
    """``getsockopt(SOL_TCP, TCP_INFO, n)`` is the first ``n`` bytes of 6.18's 280-byte
    ``struct tcp_info`` (``do_tcp_getsockopt``: ``min(len, sizeof(info))``); without a length
    it is the int in the first 4 bytes: state, ca_state, retransmits, probes."""
    client, server = netsim_tcp_pair
    await client.send(b"x" * 5000)
    assert await server.recv(10_000) == b"x" * 5000
    raw = client.getsockopt(IPPROTO_TCP, TCP_INFO, 1024)
    assert isinstance(raw, bytes)
    assert len(raw) == 280 == struct.calcsize(TCP_INFO_FORMAT)
    assert client.getsockopt(IPPROTO_TCP, TCP_INFO, 104) == raw[:104]
    assert client.getsockopt(IPPROTO_TCP, TCP_INFO) == 1  # TCP_ESTABLISHED, the rest 0
    f = struct.unpack(TCP_INFO_FORMAT, raw)
    info = _tcp(client).info()
    assert f[0] == info["state"] == 1
    assert f[5] == 7  # tcpi_options: timestamps, SACK, window scaling
    assert f[6] == info["snd_wscale"] | info["rcv_wscale"] << 4
    assert f[8] == info["rto_us"]
    assert (f[10], f[11]) == (info["snd_mss"], info["rcv_mss"])
    assert f[12] == info["unacked"] == 0
    assert f[21] == 65535  # tcpi_pmtu: loopback
    assert (f[23], f[24]) == (info["rtt_us"], info["rttvar_us"])
    assert (f[25], f[26]) == (info["snd_ssthresh"], info["snd_cwnd"])
    assert f[28] == 3  # tcpi_reordering: net.ipv4.tcp_reordering
    assert f[32] == f[33] == 2**64 - 1  # pacing: unlimited
    # the SYN's sequence number counts in bytes_acked, as on Linux (tcp_snd_una_update)
    assert (f[34], f[35]) == (info["bytes_acked"], info["bytes_received"]) == (5001, 0)
    assert (f[36], f[37]) == (info["segs_out"], info["segs_in"])
    assert f[38] == info["notsent_bytes"] == 0
    assert f[48] == info["bytes_sent"] == 5000
    assert (f[53], f[54]) == (info["snd_wnd"], info["rcv_wnd"])
    listener = client.host.socket(AF_INET, SOCK_STREAM)
    await listener.bind(("127.0.0.1", 0))
    listener.listen(7)
    lraw = listener.getsockopt(IPPROTO_TCP, TCP_INFO, 280)
    assert isinstance(lraw, bytes)
    lf = struct.unpack(TCP_INFO_FORMAT, lraw)
    assert (lf[0], lf[12], lf[13]) == (10, 0, 7)  # LISTEN; accept queue 0; backlog 7
    listener.close()


async def test_tcp_info_by_name_and_at_the_time_it_is_read(
    netsim_tcp_pair: tuple[netsim.Socket, netsim.Socket], autojump_clock: trio.testing.MockClock
) -> None:
    """``tcp_info_fields`` names the structure's members (the wscale nibbles apart), a short
    read names only what it holds; and ``getsockopt`` reads the clock first, so a field that
    counts time (``tcpi_last_data_recv``, ms since data last came) is true when nothing else
    happened in between — it stood still until the next packet, found by the kernel's
    packetdrill script ``tcp_info/tcp-info-last_data_recv``."""
    client, server = netsim_tcp_pair
    await client.send(b"x" * 100)
    assert await server.recv(100) == b"x" * 100
    fields = tcp_info_fields(server.getsockopt(IPPROTO_TCP, TCP_INFO, 280))
    assert len(fields) == len(TCP_INFO_FIELDS) == 70
    assert fields["tcpi_state"] == 1
    assert (fields["tcpi_snd_wscale"], fields["tcpi_rcv_wscale"]) == (
        _tcp(server).snd_wscale,
        _tcp(server).rcv_wscale,
    )
    assert fields["tcpi_last_data_recv"] == 0
    assert fields["tcpi_bytes_received"] == 100
    await trio.sleep(1.5)
    later = tcp_info_fields(server.getsockopt(IPPROTO_TCP, TCP_INFO, 104))
    assert later["tcpi_last_data_recv"] == 1500
    assert "tcpi_total_retrans" in later
    assert "tcpi_pacing_rate" not in later  # past the 104 bytes asked for


async def test_a_small_locked_rcvbuf_offers_an_unscaled_window_that_closes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``tcp_openreq_init_rwin`` / ``tcp_connect_init``: with ``SO_RCVBUF`` fixed, the window
    clamp is what the buffer holds, so the window scale is 0 and the window can close to
    zero as the buffer fills — the sender then probes instead of sending segments the
    receiver must drop (checked against Linux 6.18: 1152, 576, then 0)."""
    async with netsim.open_host() as host:
        listener = host.socket(AF_INET, SOCK_STREAM)
        listener.setsockopt(SOL_SOCKET, SO_RCVBUF, 1)
        await listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = host.socket(AF_INET, SOCK_STREAM)
        await client.connect(listener.getsockname())
        server, _ = await listener.accept()
        assert (_tcp(server).rcv_wscale, _tcp(server).window_clamp) == (0, 1152)
        payload = bytes(range(256)) * 100
        assert await client.send(payload, MSG_DONTWAIT) == len(payload)
        await trio.sleep(1)
        stats = host.stats()
        assert stats["TcpExtTCPRcvQDrop"] == 0
        assert stats["TcpRetransSegs"] == 0
        assert stats["TcpExtTCPWinProbe"] >= 1
        assert _tcp(server).rcv_wnd == 0
        got = b""
        while len(got) < len(payload):
            got += await server.recv(65536)
        assert got == payload
        for s in (client, server, listener):
            s.close()


async def test_tcp_inq_reports_what_is_left_to_read(
    netsim_tcp_pair: tuple[netsim.Socket, netsim.Socket], autojump_clock: trio.testing.MockClock
) -> None:
    """``TCP_INQ`` (0 or 1): each ``recvmsg`` carries ``TCP_CM_INQ`` with the bytes left, cut
    to the control room given as ``put_cmsg`` cuts it (``MSG_CTRUNC``; under 16 bytes, no
    message at all); after the peer's FIN the hint stays 1 — at EOF too; a listener says
    ``ENOTCONN``.  Each value as the 6.18 host gave it."""
    client, server = netsim_tcp_pair
    with pytest.raises(OSError, match=rf"^\[Errno {errno.EINVAL}\] "):
        server.setsockopt(IPPROTO_TCP, TCP_INQ, 2)
    assert server.getsockopt(IPPROTO_TCP, TCP_INQ) == 0
    server.setsockopt(IPPROTO_TCP, TCP_INQ, 1)
    assert server.getsockopt(IPPROTO_TCP, TCP_INQ) == 1
    await client.send(b"a" * 1000)
    inq = struct.pack("=i", 700)
    assert await server.recvmsg(300, 64) == (b"a" * 300, [(SOL_TCP, TCP_CM_INQ, inq)], 0, None)
    assert await server.recvmsg(300, 0) == (b"a" * 300, [], MSG_CTRUNC, None)
    assert await server.recvmsg(100, 18) == (
        b"a" * 100,
        [(SOL_TCP, TCP_CM_INQ, struct.pack("=i", 300)[:2])],
        MSG_CTRUNC,
        None,
    )
    client.shutdown(SHUT_WR)
    await trio.sleep(0.01)
    one = [(SOL_TCP, TCP_CM_INQ, struct.pack("=i", 1))]
    assert await server.recvmsg(1000, 64) == (b"a" * 300, one, 0, None)
    assert await server.recvmsg(1000, 64) == (b"", one, 0, None)
    server.setsockopt(IPPROTO_TCP, TCP_INQ, 0)
    assert await server.recvmsg(1000, 64) == (b"", [], 0, None)
    listener = server.host.socket(AF_INET, SOCK_STREAM)
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setsockopt(IPPROTO_TCP, TCP_INQ, 1)
    with pytest.raises(OSError, match=rf"^\[Errno {errno.ENOTCONN}\] "):
        await listener.recvmsg(10, 64)
    listener.close()
