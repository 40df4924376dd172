"""TCP urgent data: ``send(MSG_OOB)``, ``recv(MSG_OOB)`` and ``SO_OOBINLINE``, as Linux 6.18
does them.  Every expectation here was first checked on a real 6.18 kernel (Python sockets
on 127.0.0.1 and ::1 in a fresh network namespace; segments captured with an ``AF_PACKET``
socket on ``lo``).

Sender (net/ipv4/tcp.c ``tcp_sendmsg_locked``, ``tcp_send_mss``, ``tcp_push`` →
``tcp_mark_urg``; net/ipv4/tcp_output.c ``__tcp_transmit_skb``, ``tcp_nagle_test``,
``tcp_write_xmit``, ``tcp_write_wakeup``): the last byte of a ``MSG_OOB`` write is urgent,
``snd_up`` points one past it, the write builds one-MSS skbs, and every segment that starts
before ``snd_up`` carries URG and the pointer ``snd_up - seq`` until ``snd_una`` reaches
``snd_up`` (urgent mode, in which Nagle and ``TCP_CORK`` hold nothing back).

Receiver (net/ipv4/tcp_input.c ``tcp_urg``, ``tcp_check_urg``; net/ipv4/tcp.c
``tcp_recvmsg_locked``, ``tcp_recv_urg``, ``tcp_poll``; net/core/sock.c ``SO_OOBINLINE``): the
urgent byte is copied aside when it arrives; ``recv`` stops short at the mark and steps over
the byte unless ``SO_OOBINLINE``; ``recv(MSG_OOB)`` reads it once.
"""

from __future__ import annotations

import errno
import io
import shutil
import struct
import subprocess
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import dpkt
import pytest
import trio
import trio.testing

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    IPPROTO_TCP,
    MSG_DONTWAIT,
    MSG_MORE,
    MSG_OOB,
    MSG_PEEK,
    MSG_TRUNC,
    MSG_WAITALL,
    SHUT_RD,
    SO_KEEPALIVE,
    SO_OOBINLINE,
    SO_RCVBUF,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_SOCKET,
    TCP_CORK,
    TCP_MAXSEG,
)
from netsim.tcp import TcpSock
from netsim.tcp.output import tcp_urg_mode
from netsim.tcp.sock import TCP_URG_NOTYET, TCP_URG_READ, TCP_URG_VALID
from netsim.testing.allow import STALLED_READER

FAMILIES = pytest.mark.parametrize("family", [AF_INET, AF_INET6], ids=["ipv4", "ipv6"])
ALLOCATORS = pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])
LOCAL = {AF_INET: "127.0.0.1", AF_INET6: "::1"}
PEER = {AF_INET: "10.0.0.2", AF_INET6: "fd00::2"}
#: MSS on a 1500-byte link with timestamps
LINK_MSS = {AF_INET: 1500 - 20 - 20 - 12, AF_INET6: 1500 - 40 - 20 - 12}
TSHARK = shutil.which("tshark")


def raises_errno(code: int) -> AbstractContextManager[pytest.ExceptionInfo[OSError]]:
    """``pytest.raises`` for an ``OSError`` carrying exactly ``code`` (Linux's errno)."""
    return pytest.raises(OSError, match=rf"^\[Errno {code}\] ")


def _tcp(sock: netsim.Socket) -> TcpSock:
    sk = sock.sk
    assert isinstance(sk, TcpSock)
    return sk


async def _pair(
    host: netsim.Host, family: int, *, inline: bool = False, rcvbuf: int = 0, maxseg: int = 0
) -> tuple[netsim.Socket, netsim.Socket]:
    """A connected ``(client, server)`` on loopback.  ``inline``: ``SO_OOBINLINE`` on the
    listener, which the accepted socket inherits; ``rcvbuf``: the listener's ``SO_RCVBUF``;
    ``maxseg``: the client's ``TCP_MAXSEG``."""
    listener = host.socket(family, SOCK_STREAM)
    if inline:
        listener.setsockopt(SOL_SOCKET, SO_OOBINLINE, 1)
    if rcvbuf:
        listener.setsockopt(SOL_SOCKET, SO_RCVBUF, rcvbuf)
    await listener.bind((LOCAL[family], 0))
    listener.listen(1)
    client = host.socket(family, SOCK_STREAM)
    if maxseg:
        client.setsockopt(IPPROTO_TCP, TCP_MAXSEG, maxseg)
    await client.connect(listener.getsockname())
    server, _ = await listener.accept()
    listener.close()
    return client, server


@asynccontextmanager
async def _link_pair(
    family: int, allocator: str = "page_frag_cache", **link: Any
) -> AsyncIterator[tuple[netsim.Host, netsim.Socket, netsim.Socket]]:
    """Two hosts on a link: ``client`` on ``a``, ``server`` on ``b``; yields ``a`` too."""
    async with (
        netsim.open_host(allocator=allocator, name="a") as a,
        netsim.open_host(allocator=allocator, name="b", seed=1) as b,
    ):
        netsim.link(a, b, mtu=1500, **link)
        listener = b.socket(family, SOCK_STREAM)
        await listener.bind((PEER[family], 5000))
        listener.listen(1)
        client = a.socket(family, SOCK_STREAM)
        await client.connect((PEER[family], 5000))
        server, _ = await listener.accept()
        listener.close()
        yield a, client, server
        client.close()
        server.close()


async def _recv(sock: netsim.Socket, flags: int = 0, size: int = 100) -> bytes:
    """A non-blocking ``recv``."""
    return await sock.recv(size, flags | MSG_DONTWAIT)


def _segments(capture: bytes, sport: int) -> list[tuple[int, int, str, int]]:
    """The data segments from ``sport`` in a capture: ``(seq relative to the first data
    byte, payload length, flags as "UAPF" letters, urgent pointer)``, read by dpkt."""
    out = []
    isn = None
    for _ts, raw in dpkt.pcap.Reader(io.BytesIO(capture)):
        ip = dpkt.ip.IP(raw) if raw[0] >> 4 == 4 else dpkt.ip6.IP6(raw)
        tcp = ip.data
        if not isinstance(tcp, dpkt.tcp.TCP) or tcp.sport != sport:
            continue
        if tcp.flags & dpkt.tcp.TH_SYN:
            isn = tcp.seq
            continue
        if not tcp.data:
            continue
        assert isn is not None
        letters = (
            (dpkt.tcp.TH_URG, "U"),
            (dpkt.tcp.TH_ACK, "A"),
            (dpkt.tcp.TH_PUSH, "P"),
            (dpkt.tcp.TH_FIN, "F"),
        )
        names = "".join(name for bit, name in letters if tcp.flags & bit)
        out.append(((tcp.seq - isn - 1) & 0xFFFFFFFF, len(tcp.data), names, tcp.urp))
    return out


# -- the basic exchange ---------------------------------------------------------------------------


@ALLOCATORS
@FAMILIES
async def test_urgent_byte_is_read_with_msg_oob_and_leaves_the_stream(
    family: int, allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """``send(b"abc", MSG_OOB)``: ``recv`` returns ``b"ab"`` — short, it stops at the mark —
    and ``recv(MSG_OOB)`` the ``c`` with ``MSG_OOB`` in the message flags, once; the next
    ``recv(MSG_OOB)`` is ``EINVAL`` (``TCP_URG_READ``, ``tcp_recv_urg``).  While only the
    urgent byte is left the socket is not readable (``tcp_poll`` wants one byte more at the
    mark), and ``EPOLLPRI`` lasts until the byte is read."""
    async with netsim.open_host(allocator=allocator) as host:
        client, server = await _pair(host, family)
        sk = _tcp(server)
        assert await client.send(b"abc", MSG_OOB) == 3
        assert sk.urg_data == TCP_URG_VALID | ord("c")
        assert sk.poll_pri()
        assert server.is_readable()
        assert not sk.at_mark()
        assert await server.recv(100) == b"ab"
        assert sk.at_mark()
        assert sk.poll_pri()
        assert not server.is_readable()
        data, _anc, flags, _addr = await server.recvmsg(100, 0, MSG_OOB)
        assert (data, flags) == (b"c", MSG_OOB)
        assert sk.urg_data == TCP_URG_READ
        assert not sk.poll_pri()
        with raises_errno(errno.EINVAL):
            await server.recv(100, MSG_OOB)
        with raises_errno(errno.EAGAIN):
            await _recv(server)  # steps over the urgent byte: nothing else there
        assert sk.urg_data == 0
        assert not sk.at_mark()
        await client.send(b"xyz")
        assert await server.recv(100) == b"xyz"
        stats = host.stats()
        assert stats["TcpOutRsts"] == 0
        for sock in (client, server):
            sock.close()


@FAMILIES
async def test_reading_past_the_mark_loses_the_urgent_byte(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """A ``recv`` that starts at the mark steps over the urgent byte (``SO_OOBINLINE``
    off) and, once past it, forgets it (``tcp_recvmsg_locked`` clears ``urg_data``):
    ``recv(MSG_OOB)`` is then ``EINVAL``."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family)
        await client.send(b"abc", MSG_OOB)
        await client.send(b"de")
        assert await server.recv(100) == b"ab"
        assert await server.recv(100) == b"de"
        with raises_errno(errno.EINVAL):
            await server.recv(1, MSG_OOB)
        for sock in (client, server):
            sock.close()


@FAMILIES
async def test_msg_oob_without_urgent_data_is_einval(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``recv(MSG_OOB)`` with no urgent data — nothing received, or only ordinary data —
    is ``EINVAL`` ("Yes this is right !", ``tcp_recv_urg``), not ``EAGAIN``, and leaves
    the stream alone.  A ``MSG_OOB`` send of nothing marks nothing."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family)
        with raises_errno(errno.EINVAL):
            await server.recv(1, MSG_OOB)
        await client.send(b"hello")
        with raises_errno(errno.EINVAL):
            await server.recv(1, MSG_OOB)
        assert await server.recv(100) == b"hello"
        assert await client.send(b"", MSG_OOB) == 0
        with raises_errno(errno.EINVAL):
            await server.recv(1, MSG_OOB)
        for sock in (client, server):
            sock.close()


@FAMILIES
async def test_msg_oob_on_a_listener_or_an_unconnected_socket(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``tcp_recvmsg_locked`` answers a listener ``ENOTCONN`` before it looks at
    ``MSG_OOB``; an unconnected socket has no urgent data: ``EINVAL`` (where a plain
    ``recv`` is ``ENOTCONN``).  ``send(MSG_OOB)`` unconnected is ``EPIPE``, as any send."""
    async with netsim.open_host() as host:
        sock = host.socket(family, SOCK_STREAM)
        with raises_errno(errno.EINVAL):
            await sock.recv(1, MSG_OOB)
        with raises_errno(errno.ENOTCONN):
            await sock.recv(1)
        with raises_errno(errno.EPIPE):
            await sock.send(b"x", MSG_OOB)
        await sock.bind((LOCAL[family], 0))
        sock.listen(1)
        with raises_errno(errno.ENOTCONN):
            await sock.recv(1, MSG_OOB)
        sock.close()


# -- SO_OOBINLINE ------------------------------------------------------------------------------


@ALLOCATORS
@FAMILIES
async def test_oobinline_keeps_the_byte_in_the_stream(
    family: int, allocator: str, autojump_clock: trio.testing.MockClock
) -> None:
    """With ``SO_OOBINLINE`` (here inherited from the listener, as ``sk_clone_lock`` copies
    the flags) the urgent byte is read in line: ``recv`` still stops at the mark, the next
    ``recv`` starts with the byte; ``recv(MSG_OOB)`` is ``EINVAL``; ``EPOLLPRI`` holds until
    the reader passes the byte."""
    async with netsim.open_host(allocator=allocator) as host:
        client, server = await _pair(host, family, inline=True)
        sk = _tcp(server)
        assert server.getsockopt(SOL_SOCKET, SO_OOBINLINE) == 1
        await client.send(b"abc", MSG_OOB)
        with raises_errno(errno.EINVAL):
            await server.recv(100, MSG_OOB)
        assert await server.recv(100) == b"ab"
        assert server.is_readable()
        assert sk.poll_pri()
        assert sk.at_mark()
        assert await server.recv(100) == b"c"
        assert not sk.poll_pri()
        assert sk.urg_data == 0
        with raises_errno(errno.EAGAIN):
            await _recv(server)
        for sock in (client, server):
            sock.close()


@FAMILIES
async def test_oobinline_set_after_the_byte_arrived(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """The flag is read when the stream is read, not when the byte arrives."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family)
        await client.send(b"abc", MSG_OOB)
        server.setsockopt(SOL_SOCKET, SO_OOBINLINE, 1)
        assert await server.recv(100) == b"ab"
        assert await server.recv(100) == b"c"
        for sock in (client, server):
            sock.close()


@FAMILIES
async def test_so_oobinline_option_on_every_socket(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``SO_OOBINLINE`` (``SOL_SOCKET``, 10) is a sock flag (``sock_valbool_flag``): off by
    default, any non-zero value reads back as 1, a value shorter than an ``int`` is
    ``EINVAL``; UDP takes it and ignores it; an accepted socket inherits the listener's
    flags (``SO_KEEPALIVE`` too)."""
    assert SO_OOBINLINE == 10
    async with netsim.open_host() as host:
        for type_ in (SOCK_STREAM, SOCK_DGRAM):
            sock = host.socket(family, type_)
            assert sock.getsockopt(SOL_SOCKET, SO_OOBINLINE) == 0
            sock.setsockopt(SOL_SOCKET, SO_OOBINLINE, 5)
            assert sock.getsockopt(SOL_SOCKET, SO_OOBINLINE) == 1
            assert sock.getsockopt(SOL_SOCKET, SO_OOBINLINE, 4) == struct.pack("i", 1)
            with raises_errno(errno.EINVAL):
                sock.setsockopt(SOL_SOCKET, SO_OOBINLINE, b"\x00")
            assert sock.getsockopt(SOL_SOCKET, SO_OOBINLINE) == 1
            sock.setsockopt(SOL_SOCKET, SO_OOBINLINE, 0)
            assert sock.getsockopt(SOL_SOCKET, SO_OOBINLINE) == 0
            sock.close()
        listener = host.socket(family, SOCK_STREAM)
        listener.setsockopt(SOL_SOCKET, SO_OOBINLINE, 1)
        listener.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1)
        await listener.bind((LOCAL[family], 0))
        listener.listen(1)
        client = host.socket(family, SOCK_STREAM)
        await client.connect(listener.getsockname())
        server, _ = await listener.accept()
        assert server.getsockopt(SOL_SOCKET, SO_OOBINLINE) == 1
        assert server.getsockopt(SOL_SOCKET, SO_KEEPALIVE) == 1
        assert client.getsockopt(SOL_SOCKET, SO_OOBINLINE) == 0
        for sock in (client, server, listener):
            sock.close()


# -- a newer urgent byte -------------------------------------------------------------------------

#: (name, SO_OOBINLINE, steps) — a step is ("send", data, flags) or ("recv", flags, expected),
#: where expected is bytes or an errno name.  What a 6.18 kernel printed for each.
NEWER = [
    (
        "both-before-any-read",  # the old byte is no longer urgent: it is read in line
        False,
        [
            ("send", b"abc", MSG_OOB),
            ("send", b"def", MSG_OOB),
            ("recv", 0, b"abcde"),
            ("recv", MSG_OOB, b"f"),
            ("recv", 0, "EAGAIN"),
        ],
    ),
    (
        "reader-at-the-old-mark",  # tcp_check_urg steps the reader over the old byte: lost
        False,
        [
            ("send", b"abc", MSG_OOB),
            ("recv", 0, b"ab"),
            ("send", b"def", MSG_OOB),
            ("recv", 0, b"de"),
            ("recv", MSG_OOB, b"f"),
            ("recv", 0, "EAGAIN"),
        ],
    ),
    (
        "old-read-with-msg-oob",
        False,
        [
            ("send", b"abc", MSG_OOB),
            ("recv", 0, b"ab"),
            ("recv", MSG_OOB, b"c"),
            ("send", b"def", MSG_OOB),
            ("recv", 0, b"de"),
            ("recv", MSG_OOB, b"f"),
            ("recv", 0, "EAGAIN"),
        ],
    ),
    (
        "old-byte-alone-in-its-segment",  # its skb is freed by the step
        False,
        [
            ("send", b"ab", 0),
            ("send", b"c", MSG_OOB),
            ("recv", 0, b"ab"),
            ("send", b"def", MSG_OOB),
            ("recv", 0, b"de"),
            ("recv", MSG_OOB, b"f"),
            ("recv", 0, "EAGAIN"),
        ],
    ),
    (
        "inline-reader-at-the-old-mark",  # in line, nothing is stepped over
        True,
        [
            ("send", b"abc", MSG_OOB),
            ("recv", 0, b"ab"),
            ("send", b"def", MSG_OOB),
            ("recv", 0, b"cde"),
            ("recv", 0, b"f"),
            ("recv", 0, "EAGAIN"),
        ],
    ),
    (
        "urgent-first-byte-then-one-byte-read",  # a 1-byte read at the mark gets the next
        False,
        [
            ("send", b"a", MSG_OOB),
            ("send", b"bcd", 0),
            ("recv", 0, b"b", 1),
            ("recv", 0, b"cd"),
        ],
    ),
]


@pytest.mark.parametrize(("inline", "steps"), [c[1:] for c in NEWER], ids=[c[0] for c in NEWER])
@FAMILIES
async def test_a_newer_urgent_byte(
    family: int, inline: bool, steps: list[tuple[Any, ...]], autojump_clock: trio.testing.MockClock
) -> None:
    """A second ``MSG_OOB`` write before the first urgent byte was read replaces it
    (``tcp_check_urg``): the old byte stays in the stream, in line — unless the reader
    stands right at it (``SO_OOBINLINE`` off), when it is stepped over and lost."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family, inline=inline)
        for step in steps:
            if step[0] == "send":
                await client.send(step[1], step[2])
                continue
            flags, expected = step[1], step[2]
            size = step[3] if len(step) > 3 else 100
            if isinstance(expected, bytes):
                assert await _recv(server, flags, size) == expected
            else:
                with raises_errno(getattr(errno, expected)):
                    await _recv(server, flags, size)
        for sock in (client, server):
            sock.close()


@FAMILIES
async def test_duplicate_pointer_and_tcp_stdurg(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """With ``net.ipv4.tcp_stdurg`` the receiver reads the pointer as naming the urgent byte
    itself (RFC 1122), not one past it: after ``send(b"abc", MSG_OOB)`` the urgent byte is
    the *next* one, not yet arrived (``EAGAIN``); the next write brings it."""
    async with netsim.open_host() as host:
        host.sysctl["net.ipv4.tcp_stdurg"] = 1
        client, server = await _pair(host, family)
        sk = _tcp(server)
        await client.send(b"abc", MSG_OOB)
        assert sk.urg_data == TCP_URG_NOTYET
        assert sk.urg_seq == sk.irs + 1 + 3
        with raises_errno(errno.EAGAIN):
            await _recv(server, MSG_OOB)
        assert await _recv(server) == b"abc"
        await client.send(b"def")
        assert sk.urg_data == TCP_URG_VALID | ord("d")
        assert await _recv(server, MSG_OOB) == b"d"
        assert await _recv(server) == b"ef"
        for sock in (client, server):
            sock.close()


# -- MSG_PEEK, zero-length and truncated reads ---------------------------------------------


@FAMILIES
async def test_msg_peek(family: int, autojump_clock: trio.testing.MockClock) -> None:
    """``MSG_OOB|MSG_PEEK`` leaves the urgent byte for the next ``MSG_OOB`` read;
    ``MSG_PEEK`` stops at the mark like a read, peeks nothing (``EAGAIN``) when only the
    urgent byte is left, and peeks past it once more data came."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family)
        await client.send(b"abc", MSG_OOB)
        for _ in range(2):
            data, _anc, flags, _addr = await server.recvmsg(100, 0, MSG_OOB | MSG_PEEK)
            assert (data, flags) == (b"c", MSG_OOB)
        assert await _recv(server, MSG_PEEK) == b"ab"
        assert await _recv(server, 0, 1) == b"a"
        assert await _recv(server, MSG_PEEK) == b"b"
        assert await _recv(server) == b"b"
        with raises_errno(errno.EAGAIN):
            await _recv(server, MSG_PEEK)
        assert await _recv(server, MSG_OOB) == b"c"
        with raises_errno(errno.EAGAIN):
            await _recv(server, MSG_PEEK)
        await client.send(b"de")
        assert await _recv(server, MSG_PEEK) == b"de"
        assert await _recv(server) == b"de"
        for sock in (client, server):
            sock.close()


@FAMILIES
async def test_a_blocked_reader_at_the_mark_waits_for_more(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """A blocking ``recv`` or ``MSG_PEEK`` at the mark, with only the urgent byte left,
    sleeps (the socket is not readable) until ordinary data comes."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family)
        for flags in (0, MSG_PEEK):
            await client.send(b"abc", MSG_OOB)
            assert await server.recv(100) == b"ab"
            assert not server.is_readable()  # else the reader below would spin, not sleep
            got: list[bytes] = []
            async with trio.open_nursery() as nursery:

                async def reader(flags: int = flags, got: list[bytes] = got) -> None:
                    got.append(await server.recv(100, flags))

                nursery.start_soon(reader)
                await trio.sleep(1)
                assert not got
                await client.send(b"de")
            assert got == [b"de"]
            if flags:  # peeked: still there
                assert await server.recv(100) == b"de"
        for sock in (client, server):
            sock.close()


@FAMILIES
async def test_msg_oob_zero_length_truncated_waitall_and_into(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``tcp_recv_urg``: a zero-length ``MSG_OOB`` read takes the byte away and says
    ``MSG_OOB|MSG_TRUNC``; ``MSG_TRUNC`` gives the length without the byte; ``MSG_WAITALL``
    does not apply (one byte comes back); ``recv_into`` works."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family)
        await client.send(b"abc", MSG_OOB)
        data, _anc, flags, _addr = await server.recvmsg(0, 0, MSG_OOB)
        assert (data, flags) == (b"", MSG_OOB | MSG_TRUNC)
        with raises_errno(errno.EINVAL):
            await server.recv(1, MSG_OOB)
        await client.send(b"d", MSG_OOB)
        buf = bytearray(4)
        assert await server.recv_into(buf, 4, MSG_OOB | MSG_TRUNC) == 1
        assert buf == bytes(4)  # nothing copied
        with raises_errno(errno.EINVAL):
            await server.recv(1, MSG_OOB)
        assert await _recv(server) == b"abc"
        await client.send(b"e", MSG_OOB)
        assert await server.recv(10, MSG_OOB | MSG_WAITALL | MSG_PEEK) == b"e"
        assert await server.recv_into(buf, 4, MSG_OOB) == 1
        assert buf == b"e\0\0\0"
        for sock in (client, server):
            sock.close()


# -- ends of the connection --------------------------------------------------------------------

#: what the receiver did before close(): read up to the mark; also read the byte with
#: MSG_OOB; also stepped over it; or in line, read up to the mark
CLOSE_CASES = ["to-the-mark", "oob-read", "stepped-over", "inline-to-the-mark"]


@pytest.mark.parametrize("case", CLOSE_CASES)
@ALLOCATORS
@FAMILIES
async def test_close_with_unread_urgent_data_resets(
    family: int, allocator: str, case: str, autojump_clock: trio.testing.MockClock
) -> None:
    """``__tcp_close`` counts what is still on the receive queue as unread: the skb that
    holds the urgent byte — even one read with ``MSG_OOB`` — makes the close an RST
    (``TCPAbortOnClose``); only a reader that stepped over the byte closes with a FIN."""
    async with netsim.open_host(allocator=allocator) as host:
        client, server = await _pair(host, family, inline=case.startswith("inline"))
        await client.send(b"abc", MSG_OOB)
        assert await _recv(server) == b"ab"
        if case in ("oob-read", "stepped-over"):
            assert await _recv(server, MSG_OOB) == b"c"
        if case == "stepped-over":
            with raises_errno(errno.EAGAIN):
                await _recv(server)
        before = host.stats()
        server.close()
        after = host.stats()
        reset = case != "stepped-over"
        assert after["TcpExtTCPAbortOnClose"] - before["TcpExtTCPAbortOnClose"] == reset
        assert after["TcpOutRsts"] - before["TcpOutRsts"] == reset
        if reset:
            with raises_errno(errno.ECONNRESET):
                await client.recv(100)
        else:
            assert await client.recv(100) == b""
        client.close()


@FAMILIES
async def test_after_a_reset_msg_oob_is_enotconn(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """The peer resets with the urgent byte unread: ``recv(MSG_OOB)`` says ``ENOTCONN``
    (``TCP_CLOSE`` without ``SOCK_DONE``) — before the data and the ``ECONNRESET`` that
    ``recv`` reports in turn; once past the mark the byte is gone (``EINVAL``)."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family)
        await server.send(b"never read")
        await client.send(b"abc", MSG_OOB)
        client.close()  # unread data: RST
        assert host.stats()["TcpExtTCPAbortOnClose"] == 1
        with raises_errno(errno.ENOTCONN):
            await server.recv(1, MSG_OOB)
        assert await server.recv(100) == b"ab"
        with raises_errno(errno.ECONNRESET):
            await server.recv(100)
        with raises_errno(errno.EINVAL):
            await server.recv(1, MSG_OOB)
        server.close()


@FAMILIES
async def test_after_the_peers_fin(family: int, autojump_clock: trio.testing.MockClock) -> None:
    """In ``CLOSE_WAIT`` the urgent byte is still there for ``MSG_OOB``; the stream ends
    after it (the reader steps over it to the FIN)."""
    async with netsim.open_host() as host:
        client, server = await _pair(host, family)
        await client.send(b"abc", MSG_OOB)
        client.close()
        assert await server.recv(100) == b"ab"
        assert await server.recv(1, MSG_OOB) == b"c"
        assert await server.recv(100) == b""
        with raises_errno(errno.EINVAL):
            await server.recv(1, MSG_OOB)
        server.close()


@FAMILIES
async def test_pointer_before_its_byte_is_eagain(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """A small receive window: the first segments carry the urgent pointer, the byte is
    20000 bytes on (``TCP_URG_NOTYET``): ``recv(MSG_OOB)`` is ``EAGAIN`` — it never
    waits — and ``EPOLLPRI`` is not set.  The reader reads up to the mark, then the byte
    is there.  After ``shutdown(SHUT_RD)`` a not-yet byte reads as end of stream."""
    async with netsim.open_host() as host:
        for shut in (False, True):
            client, server = await _pair(host, family, rcvbuf=1)
            sk = _tcp(server)
            payload = b"x" * 19999 + b"U"
            assert await client.send(payload, MSG_OOB | MSG_DONTWAIT) == 20000
            assert sk.urg_data == TCP_URG_NOTYET
            assert sk.urg_seq == sk.irs + 1 + 19999
            assert not sk.poll_pri()
            with raises_errno(errno.EAGAIN):
                await server.recv(1, MSG_OOB)
            if shut:
                server.shutdown(SHUT_RD)
                assert await server.recv(1, MSG_OOB) == b""
            else:
                got = b""
                while len(got) < 19999:
                    got += await server.recv(100000)
                assert got == payload[:-1]
                assert sk.at_mark()
                assert sk.poll_pri()
                assert await server.recv(1, MSG_OOB) == b"U"
            for sock in (client, server):
                sock.close()


# -- the sender: layouts, segments, pointers ---------------------------------------------------


@pytest.mark.parametrize("oob", [0, MSG_OOB], ids=["plain", "oob"])
@ALLOCATORS
@FAMILIES
async def test_oob_write_builds_one_mss_skbs(
    family: int, allocator: str, oob: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``tcp_send_mss(flags)``: a ``MSG_OOB`` write's ``size_goal`` is one MSS, so 5000
    bytes over a 1500-byte link become four skbs — each a new frag slot in the same page —
    where a plain write makes one skb with one frag (cut to TSO-sized pieces as it
    leaves).  All of it leaves at once (the retransmit queue holds it for the round
    trip), with ``snd_up`` one past the last
    byte; urgent mode ends when that is acknowledged, and ``snd_up`` follows ``snd_una``."""
    async with _link_pair(family, allocator, delay=0.01) as (a, client, server):
        sk = _tcp(client)
        before = a.stats()
        payload = bytes(range(256)) * 19 + bytes(136)
        assert await client.send(payload, oob) == 5000
        mss = LINK_MSS[family]
        queue = list(sk.rtx_queue)
        if oob:
            sizes = [mss, mss, mss, 5000 - 3 * mss]
            assert [skb.len for skb in queue] == sizes
            starts = [0, mss, 2 * mss, 3 * mss]
            assert netsim.skb_layout(*queue) == [
                [("p0", start, size)] for start, size in zip(starts, sizes, strict=True)
            ]
            assert sk.snd_up == sk.write_seq
            assert tcp_urg_mode(sk)
        else:
            # one skb of 5000 bytes in the write queue, cut at the push into skbs of
            # tcp_tso_segs() = 2 MSS (at the first RTT's pacing rate, tcp_tso_autosize()
            # gives under one MSS: the tcp_min_tso_segs floor), sharing the frag's page
            assert [skb.len for skb in queue] == [2 * mss, 5000 - 2 * mss]
            assert netsim.skb_layout(*queue) == [
                [("p0", 0, 2 * mss)],
                [("p0", 2 * mss, 5000 - 2 * mss)],
            ]
            assert not tcp_urg_mode(sk)
        after = a.stats()
        new_frags = after["skb_new_frag"] - before["skb_new_frag"]
        assert new_frags == (4 if oob else 1)
        assert after["skb_coalesce"] == before["skb_coalesce"]
        got = b""
        while len(got) < (4999 if oob else 5000):
            got += await server.recv(10000)
        assert got == payload[: len(got)]
        await trio.sleep(0.1)
        assert not tcp_urg_mode(sk)
        assert sk.snd_up == sk.snd_una == sk.write_seq
        if oob:
            assert await server.recv(1, MSG_OOB) == payload[-1:]


@FAMILIES
async def test_urgent_data_split_across_segments_on_a_link(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """A slow link: the first segment of a 5000-byte ``MSG_OOB`` write arrives with the
    pointer to the last byte still 3552 bytes away.  The receiver knows where the mark is
    (``TCP_URG_NOTYET``) and ``recv(MSG_OOB)`` is ``EAGAIN``; the later segments repeat the
    pointer (a duplicate, ignored); reading stops just before the urgent byte, which is
    then there for ``MSG_OOB``."""
    async with _link_pair(family, rate=1e6, delay=0.005) as (_a, client, server):
        sk = _tcp(server)
        mss = LINK_MSS[family]
        payload = bytes(range(256)) * 19 + bytes(136)
        await client.send(payload, MSG_OOB)
        first = await server.recv(10000)
        assert first == payload[:mss]
        assert sk.urg_data == TCP_URG_NOTYET
        assert sk.urg_seq == sk.irs + 1 + 4999
        assert not sk.poll_pri()
        assert not sk.at_mark()
        with raises_errno(errno.EAGAIN):
            await server.recv(1, MSG_OOB)
        got = first
        while len(got) < 4999:
            got += await server.recv(10000)
        assert got == payload[:4999]
        assert sk.urg_data == TCP_URG_VALID | payload[-1]
        assert await server.recv(1, MSG_OOB) == payload[-1:]


@FAMILIES
async def test_urgent_mode_turns_nagle_off(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``tcp_nagle_test``: until the urgent data is acknowledged, small writes leave at
    once; without ``MSG_OOB`` Nagle holds ``d`` and ``e`` until the ACK of ``abc``."""
    for oob in (0, MSG_OOB):
        async with _link_pair(family, delay=0.01) as (a, client, server):
            start = a.stats()["TcpOutSegs"]
            await client.send(b"abc", oob)
            await client.send(b"d")
            await client.send(b"e")
            assert a.stats()["TcpOutSegs"] - start == (3 if oob else 1)
            got = b""
            while len(got) < (4 if oob else 5):
                got += await server.recv(100)
            assert got == (b"abde" if oob else b"abcde")


@FAMILIES
async def test_urgent_mode_sends_one_mss_at_a_time(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``tcp_write_xmit`` skips ``tcp_mss_split_point`` in urgent mode: a plain 5000-byte
    write that follows unacknowledged urgent data leaves as one-MSS skbs, runt included
    (Nagle is off too).  After a plain small write the same 5000 bytes leave as GSO skbs of
    whole segments (``tcp_mss_split_point``, ``tcp_tso_segs``), and Nagle holds the runt
    until the ACK."""
    mss = LINK_MSS[family]
    for oob in (0, MSG_OOB):
        async with _link_pair(family, delay=0.01) as (_a, client, server):
            await client.send(b"abc", oob)
            await client.send(b"y" * 5000)
            sizes = [skb.len for skb in _tcp(client).rtx_queue]
            if oob:
                assert sizes == [3, mss, mss, mss, 5000 - 3 * mss]
            else:
                # whole segments, at most tcp_tso_segs() = 2 MSS per skb at this early
                # pacing rate; the runt waits for the ACK
                assert sizes == [3, 2 * mss, mss]
            got = b""
            while len(got) < (5002 if oob else 5003):
                got += await server.recv(10000)
            assert got == (b"ab" if oob else b"abc") + b"y" * 5000


@FAMILIES
async def test_segments_carry_urg_and_the_pointer(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Read back with dpkt from a loopback capture (each was the same on a 6.18 kernel):
    URG and ``snd_up - seq`` on every segment that starts before ``snd_up``, PSH only on the
    last; ``MSG_MORE`` drops PSH but not URG and does not hold the write; ``TCP_CORK`` does
    not hold urgent data either; once acknowledged, the next segment has no URG."""
    async with netsim.open_host() as host:

        async def run(maxseg: int, *writes: tuple[bytes, int]) -> list[tuple[int, int, str, int]]:
            capture = io.BytesIO()
            with host.capture(capture, "lo"):
                client, server = await _pair(host, family, maxseg=maxseg)
                for data, flags in writes:
                    if flags == TCP_CORK:
                        client.setsockopt(IPPROTO_TCP, TCP_CORK, 1)
                        flags = 0
                    await client.send(data, flags)
                sport = client.getsockname()[1]
                for sock in (client, server):
                    sock.close()
            return _segments(capture.getvalue(), sport)

        assert await run(0, (b"abc", MSG_OOB)) == [(0, 3, "UAP", 3)]
        assert await run(0, (b"abc", MSG_OOB), (b"def", 0)) == [
            (0, 3, "UAP", 3),
            (3, 3, "AP", 0),
        ]
        assert await run(0, (b"abc", MSG_OOB | MSG_MORE)) == [(0, 3, "UA", 3)]
        assert await run(0, (b"xxx", TCP_CORK), (b"abc", MSG_OOB)) == [(0, 6, "UAP", 6)]
        assert await run(1000, (b"x" * 2500, MSG_OOB)) == [
            (0, 988, "UA", 2500),
            (988, 988, "UA", 1512),
            (1976, 524, "UAP", 524),
        ]
        # a corked write sends its full segments, then the urgent write joins the runt
        assert await run(1000, (b"y" * 5000, TCP_CORK), (b"abc", MSG_OOB)) == [
            (0, 4940, "AP", 0),
            (4940, 63, "UAP", 63),
        ]


@FAMILIES
@STALLED_READER
@pytest.mark.netsim_capture_allow(
    "tcp.analysis.duplicate_ack",
    reason=(
        "with urgent data pending Linux probes a zero window twice (tcp_write_wakeup): at "
        "snd_una, which Wireshark takes for a duplicate ACK, then at snd_una - 1"
    ),
)
async def test_zero_window_probes_carry_the_urgent_pointer(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``tcp_write_wakeup``: with the peer's window shut and ``snd_up`` within 64 KiB of
    ``snd_una``, each probe is two empty segments, one at ``snd_una`` and the usual one at
    ``snd_una - 1``, both with URG and the pointer to the urgent byte (so the peer learns
    of it: ``TCP_URG_NOTYET``); ``TcpExtTCPWinProbe`` counts both."""
    async with netsim.open_host() as host:
        capture = io.BytesIO()
        with host.capture(capture, "lo"):
            client, server = await _pair(host, family, rcvbuf=8192)
            await client.send(b"x" * 30000, MSG_DONTWAIT)
            await trio.sleep(0.05)
            assert await client.send(b"!", MSG_OOB | MSG_DONTWAIT) == 1
            await trio.sleep(1.0)
            sk = _tcp(client)
            probes = host.stats()["TcpExtTCPWinProbe"]
            sport = client.getsockname()[1]
            snd_una, snd_up, iss = sk.snd_una, sk.snd_up, sk.iss
            assert _tcp(server).urg_data == TCP_URG_NOTYET
            assert _tcp(server).urg_seq == _tcp(server).irs + 1 + 30000
            for sock in (client, server):
                sock.close()
        empty = []
        for _ts, raw in dpkt.pcap.Reader(io.BytesIO(capture.getvalue())):
            ip = dpkt.ip.IP(raw) if family == AF_INET else dpkt.ip6.IP6(raw)
            tcp = ip.data
            if tcp.sport == sport and not tcp.data and tcp.flags & dpkt.tcp.TH_URG:
                empty.append(((tcp.seq - iss) & 0xFFFFFFFF, tcp.urp))
        assert snd_up == iss + 1 + 30001
        una = snd_una - iss
        pair = [(una, snd_up - snd_una), (una - 1, snd_up - snd_una + 1)]
        assert probes >= 2
        assert probes % 2 == 0
        assert empty == pair * (probes // 2)


# -- UDP -----------------------------------------------------------------------------------------


@FAMILIES
async def test_udp_and_msg_oob(family: int, autojump_clock: trio.testing.MockClock) -> None:
    """``udp_sendmsg`` refuses ``MSG_OOB`` (``EOPNOTSUPP``, after the ``EMSGSIZE`` length
    check); ``udpv6_sendmsg`` never looks at it and sends the datagram.  ``udp_recvmsg``
    ignores it on reading."""
    async with netsim.open_host() as host:
        sock = host.socket(family, SOCK_DGRAM)
        await sock.bind((LOCAL[family], 0))
        addr = sock.getsockname()
        with raises_errno(errno.EMSGSIZE):
            await sock.sendto(b"x" * 70000, MSG_OOB, addr)
        if family == AF_INET:
            with raises_errno(errno.EOPNOTSUPP):
                await sock.sendto(b"x", MSG_OOB, addr)
        else:
            assert await sock.sendto(b"x", MSG_OOB, addr) == 1
            data, _anc, flags, _addr = await sock.recvmsg(10, 0, MSG_OOB)
            assert (data, flags) == (b"x", 0)
        await sock.sendto(b"hi", addr)
        assert await sock.recv(10, MSG_OOB) == b"hi"
        with raises_errno(errno.EAGAIN):
            await sock.recv(10, MSG_OOB | MSG_DONTWAIT)
        sock.close()


# -- tshark --------------------------------------------------------------------------------------


async def _urgent_traffic(pcap: Path) -> None:
    async with netsim.open_host() as host:
        with host.capture(str(pcap), "lo"):
            for family in (AF_INET, AF_INET6):
                client, server = await _pair(host, family, maxseg=1000)
                await client.send(b"x" * 2500, MSG_OOB)
                for sock in (client, server):
                    sock.close()


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed (apt-get install tshark)")
def test_tshark_reads_urg_and_the_pointer(tmp_path: Path) -> None:
    """tshark decodes the URG flag and the urgent pointer of every data segment (and finds
    the checksums good): 2500, 1512, 524 for each family."""
    assert TSHARK is not None
    pcap = tmp_path / "urgent.pcap"
    trio.run(_urgent_traffic, pcap, clock=trio.testing.MockClock(autojump_threshold=0))
    out = subprocess.run(
        [TSHARK, "-r", str(pcap), "-o", "tcp.check_checksum:TRUE", "-Y", "tcp.len > 0",
         "-T", "fields", "-e", "tcp.flags.urg", "-e", "tcp.urgent_pointer", "-e", "tcp.len",
         "-e", "tcp.checksum.status"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    rows = [line.split("\t") for line in out if line]
    urg = [row[0] in ("1", "True") for row in rows]
    assert urg == [True] * 6
    assert [(int(row[1]), int(row[2])) for row in rows] == [
        (2500, 988),
        (1512, 988),
        (524, 524),
    ] * 2
    assert {row[3] for row in rows} == {"1"}  # PROTO_CHECKSUM_E_GOOD
