"""Links whose wire leaves the process: ``RemoteLinkDevice`` (sans-IO), ``open_stream_link``
over trio's in-memory streams (virtual time) and ``open_unix_link`` over a real Unix socket."""

from __future__ import annotations

import errno
import os
import random
import socket as stdsocket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

import netsim
from netsim.dev.device import NET_XMIT_DROP, NET_XMIT_SUCCESS
from netsim.dev.remote import RemoteLinkDevice
from netsim.netns import Net
from netsim.skb import alloc_skb, skb_put

pytestmark = pytest.mark.filterwarnings("error")


# -- the device, sans-IO -----------------------------------------------------------------------


def _ipv4_skb(net: Net, payload: int) -> netsim.SkBuff:
    """A minimal IPv4 packet (protocol 253, experimental) of ``payload`` bytes."""
    skb = alloc_skb(20 + payload, stats=net.stats)
    start = skb_put(skb, 20 + payload)
    head = skb.head
    head[start] = 0x45
    head[start + 2 : start + 4] = (20 + payload).to_bytes(2, "big")
    head[start + 9] = 253
    skb.network_header = start
    return skb


def test_the_skb_is_freed_at_tx_completion_not_at_transmit() -> None:
    net = Net("a")
    dev = RemoteLinkDevice(txqueuelen=2)
    net.add_device(dev, ("10.0.0.1/24",))
    rung: list[int] = []
    dev.on_xmit = lambda: rung.append(len(dev.txring))
    dev.set_carrier(True)
    skbs = [_ipv4_skb(net, n) for n in (10, 20, 30)]
    assert dev.start_xmit(skbs[0]) == NET_XMIT_SUCCESS
    assert dev.start_xmit(skbs[1]) == NET_XMIT_SUCCESS
    assert dev.start_xmit(skbs[2]) == NET_XMIT_DROP  # the ring is full
    assert rung == [1], "the doorbell rings when the ring stops being empty"
    assert [len(f) for f in dev.tx_frames()] == [30, 40]
    assert (dev.tx_packets, dev.tx_bytes, dev.tx_dropped) == (2, 70, 1)
    assert net.stats.skb_free == 1
    dev.tx_complete(1)
    assert net.stats.skb_free == 2
    assert [len(f) for f in dev.tx_frames()] == [40]
    dev.close()  # drops what is left
    assert net.stats.skb_free == 3
    assert not dev.txring
    net.close()
    assert net.page_allocator.leak_report() == ""


def test_an_orphaning_device_uncharges_the_socket_at_transmit() -> None:
    """``orphan=True`` (a TUN device, ``tun_net_xmit``'s ``skb_orphan``): the destructor runs
    as the frame is posted, so the sending socket has its memory back before TX completion
    (TCP Small Queues never waits on it); the skb itself is still freed at completion."""
    net = Net("a")
    dev = RemoteLinkDevice(orphan=True)
    net.add_device(dev, ("10.0.0.1/24",))
    dev.set_carrier(True)
    released: list[int] = []
    skb = _ipv4_skb(net, 10)
    skb.destructor = lambda s: released.append(s.len)
    assert dev.start_xmit(skb) == NET_XMIT_SUCCESS
    assert released == [30]
    assert skb.sk is None
    assert net.stats.skb_free == 0
    dev.tx_complete(1)
    assert net.stats.skb_free == 1
    assert released == [30]  # once
    dev.close()
    net.close()
    assert net.page_allocator.leak_report() == ""


def test_no_carrier_drops_and_counts() -> None:
    net = Net("a")
    dev = RemoteLinkDevice()
    net.add_device(dev, ("10.0.0.1/24",))
    assert dev.start_xmit(_ipv4_skb(net, 8)) == NET_XMIT_DROP
    assert (dev.tx_carrier_errors, dev.tx_dropped, dev.tx_packets) == (1, 1, 0)
    net.close()


def test_mtu_below_ipv4_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="68"):
        RemoteLinkDevice(mtu=60)


# -- two hosts of one run over an in-memory stream (virtual time) -------------------------------


@asynccontextmanager
async def _joined(
    mtu: int = 1500, mtu_b: int | None = None
) -> AsyncIterator[tuple[netsim.Host, netsim.Host, netsim.StreamLink, netsim.StreamLink]]:
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        left, right = trio.testing.memory_stream_pair()
        async with (
            netsim.open_stream_link(a, left, listen_side=False, mtu=mtu) as wa,
            netsim.open_stream_link(b, right, listen_side=True, mtu=mtu_b or mtu) as wb,
        ):
            yield a, b, wa, wb


async def _send_all(sock: netsim.Socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[await sock.send(view) :]


async def test_tcp_over_a_stream_link_is_byte_exact(autojump_clock: trio.abc.Clock) -> None:
    data = random.Random(5).randbytes(700_001)
    async with _joined() as (a, b, wa, wb):
        await wa.wait_carrier()
        await wb.wait_carrier()
        assert (wa.peer_name, wb.peer_name) == ("b", "a")
        assert a.hosts["b"] == ["10.0.0.2", "fd00::2"]
        listener = b.socket(netsim.AF_INET, netsim.SOCK_STREAM)
        await listener.bind(("0.0.0.0", 1234))
        listener.listen(1)
        client = a.socket(netsim.AF_INET, netsim.SOCK_STREAM)
        await client.connect(("10.0.0.2", 1234))
        conn, peer = await listener.accept()
        assert peer[0] == "10.0.0.1"
        assert client.tcp_sk.mss_cache == 1448  # 1500 - 20 - 20 - 12 (timestamps)
        got = bytearray()

        async def read() -> None:
            while chunk := await conn.recv(65536):
                got.extend(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await _send_all(client, data)
            client.shutdown(netsim.SHUT_WR)
        assert got == data
        assert wa.frames_sent == wb.frames_received > len(data) // 1448
        assert 0 < wa.frames_received <= wb.frames_sent  # the ACKs (the last may be in flight)
        assert a.devices["eth0"].tx_dropped == 0
        assert a.stats()["TcpRetransSegs"] == 0
        for sock in (client, conn, listener):
            sock.close()


async def test_udp_datagrams_fragment_and_reassemble_across(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with _joined() as (a, b, wa, _wb):
        await wa.wait_carrier()
        rx = b.socket(netsim.AF_INET6, netsim.SOCK_DGRAM)
        await rx.bind(("::", 9))
        tx = a.socket(netsim.AF_INET6, netsim.SOCK_DGRAM)
        payloads = [bytes([i]) * size for i, size in enumerate((1, 1452, 4000, 9000))]
        for payload in payloads:
            await tx.sendto(payload, ("fd00::2", 9))
        got = [await rx.recv(65536) for _ in payloads]
        assert got == payloads
        assert b.stats()["Ip6ReasmOKs"] == 2
        tx.close()
        rx.close()


async def test_an_mtu_mismatch_is_refused_with_einval(autojump_clock: trio.abc.Clock) -> None:
    with pytest.raises(OSError, match="MTU mismatch") as info:
        async with _joined(mtu=1500, mtu_b=9000) as (_a, _b, wa, _wb):
            await wa.wait_carrier()
    assert info.value.errno == errno.EINVAL
    assert "MTU mismatch" in str(info.value)


async def test_a_stranger_on_the_stream_is_eproto(autojump_clock: trio.abc.Clock) -> None:
    async with netsim.open_host(name="a") as a:
        ours, theirs = trio.testing.memory_stream_pair()
        await theirs.send_all(b"SSH-2.0-OpenSSH_9.6\r\n")
        with pytest.raises(OSError, match="not netsim-link") as info:
            async with netsim.open_stream_link(a, ours, listen_side=False) as wire:
                await wire.wait_carrier()
        assert info.value.errno == errno.EPROTO


async def test_when_the_peer_leaves_the_carrier_drops(autojump_clock: trio.abc.Clock) -> None:
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        left, right = trio.testing.memory_stream_pair()
        async with netsim.open_stream_link(a, left, listen_side=False) as wa:
            async with netsim.open_stream_link(b, right, listen_side=True) as wb:
                await wa.wait_carrier()
                await wb.wait_carrier()
            # b's end is gone: a sees EOF, loses carrier and drops what it sends
            await wa.wait_carrier(False)
            await wa.finished.wait()
            tx = a.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
            await tx.sendto(b"into the void", ("10.0.0.2", 9))
            dev = a.devices["eth0"]
            assert isinstance(dev, RemoteLinkDevice)
            assert dev.tx_carrier_errors == 1
            tx.close()


class _GatedStream(trio.abc.Stream):
    """A stream whose writes wait while the gate is shut: a wire that has stalled."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.open = trio.Event()
        self.open.set()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.open.wait()
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def send_eof(self) -> None:  # pragma: no cover - the link never half-closes
        pass

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_stalled_wire_holds_the_senders_memory(autojump_clock: trio.abc.Clock) -> None:
    """TX completion waits for the stream: while the wire is stalled the sender's skbs stay
    charged to its socket, so SO_SNDBUF — not an unbounded queue — stops the sender (EAGAIN
    with MSG_DONTWAIT), and nothing is lost when the wire moves again."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        left, right = trio.testing.memory_stream_pair()
        gated = _GatedStream(left)
        async with (
            netsim.open_stream_link(a, gated, listen_side=False) as wa,
            netsim.open_stream_link(b, right, listen_side=True),
        ):
            await wa.wait_carrier()
            rx = b.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
            await rx.bind(("0.0.0.0", 9))
            tx = a.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
            tx.setsockopt(netsim.SOL_SOCKET, netsim.SO_SNDBUF, 8192)  # 16 KiB after doubling
            gated.open = trio.Event()  # the wire stalls
            sent = 0
            with pytest.raises(BlockingIOError):  # noqa: PT012
                for _ in range(1000):
                    await tx.sendto(b"x" * 1000, netsim.MSG_DONTWAIT, ("10.0.0.2", 9))
                    sent += 1
            assert 0 < sent < 20, "SO_SNDBUF bounds what waits for the wire"
            dev = a.devices["eth0"]
            assert isinstance(dev, RemoteLinkDevice)
            assert dev.tx_dropped == 0
            assert not rx.is_readable()
            gated.open.set()  # the wire moves again: every datagram arrives
            got = [await rx.recv(2000) for _ in range(sent)]
            assert got == [b"x" * 1000] * sent
            await wa.drain()
            await tx.sendto(b"again", netsim.MSG_DONTWAIT, ("10.0.0.2", 9))
            assert await rx.recv(100) == b"again"
            tx.close()
            rx.close()


# -- a real Unix socket (real time: the sockets are the machine's) -------------------------------


def _short_path(tmp_path: Path) -> str:
    path = tmp_path / "l.sock"
    return str(path) if len(str(path)) < 100 else f"/tmp/netsim-test-{os.getpid()}.sock"


async def test_unix_link_between_two_hosts(tmp_path: Path) -> None:
    path = _short_path(tmp_path)
    data = random.Random(7).randbytes(200_000)
    async with (
        netsim.open_host(name="listener") as b,
        netsim.open_host(name="client") as a,
        netsim.open_unix_link(b, path, listen=True) as wb,
    ):
        assert await trio.Path(path).is_socket()
        listener = b.socket(netsim.AF_INET6, netsim.SOCK_STREAM)
        await listener.bind(("::", 80))
        listener.listen(1)
        async with netsim.open_unix_link(a, path, listen=False) as wa:
            await wa.wait_carrier()
            client = a.socket(netsim.AF_INET6, netsim.SOCK_STREAM)
            await client.connect(("fd00::2", 80))
            conn, _ = await listener.accept()
            got = bytearray()
            async with trio.open_nursery() as nursery:

                async def read() -> None:
                    while chunk := await conn.recv(65536):
                        got.extend(chunk)

                nursery.start_soon(read)
                await _send_all(client, data)
                client.shutdown(netsim.SHUT_WR)
            assert got == data
            assert wb.peers == 1
            for sock in (client, conn):
                sock.close()
            await wa.drain()
        listener.close()
        await wb.finished.wait()  # no keep: the listener's link ends with its peer
    assert not await trio.Path(path).exists(), "the listener removes its socket"


async def test_unix_link_errors(tmp_path: Path) -> None:
    path = _short_path(tmp_path)
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        with pytest.raises(OSError, match="no netsim listening") as info:
            async with netsim.open_unix_link(a, path, listen=False, connect_timeout=0):
                pass
        assert info.value.errno == errno.ENOENT
        # a stale socket file (its listener died) is replaced
        stale = stdsocket.socket(stdsocket.AF_UNIX, stdsocket.SOCK_STREAM)
        stale.bind(path)
        stale.close()
        async with netsim.open_unix_link(a, path, listen=True, devname="eth0"):
            # ... but a live one is not
            with pytest.raises(OSError, match="another netsim") as info:
                async with netsim.open_unix_link(b, path, listen=True, devname="eth1"):
                    pass
            assert info.value.errno == errno.EADDRINUSE
            assert info.value.filename == path


async def test_unix_link_path_errors_name_the_path(tmp_path: Path) -> None:
    """What is wrong with the path is an ``OSError`` whose ``filename`` is the path: a
    missing directory (at once, for a client too: no listener will create it), a directory
    or a file that is not a socket in the way (``EADDRINUSE``, as ``bind`` says; neither is
    removed)."""
    missing = str(tmp_path / "no-such-dir" / "x.sock")
    plain = tmp_path / "plain"
    plain.write_bytes(b"keep me")
    async with netsim.open_host(name="a") as a:
        for listen in (True, False):
            with trio.fail_after(60), pytest.raises(OSError, match="No such file") as info:
                async with netsim.open_unix_link(a, missing, listen=listen, connect_timeout=3600):
                    pass
            assert (info.value.errno, info.value.filename) == (errno.ENOENT, missing)
        for path, kind in ((str(tmp_path), "a directory"), (str(plain), "not a socket")):
            with pytest.raises(OSError, match=kind) as info:
                async with netsim.open_unix_link(a, path, listen=True):
                    pass
            assert (info.value.errno, info.value.filename) == (errno.EADDRINUSE, path)
    assert await trio.Path(plain).read_bytes() == b"keep me"
    assert await trio.Path(tmp_path).is_dir()


async def test_a_unix_listener_serves_queued_peers_one_at_a_time(tmp_path: Path) -> None:
    """Peers that connect while the listener serves one wait in the socket's backlog (more
    than one of them), and each gets the link when the one before it leaves; ``wait_gone``
    tells one peer's leaving from the next one's arrival."""
    path = _short_path(tmp_path)
    async with (
        netsim.open_host(name="listener") as b,
        netsim.open_host(name="c1") as c1,
        netsim.open_host(name="c2") as c2,
        netsim.open_host(name="c3") as c3,
        netsim.open_unix_link(b, path, listen=True, keep=True) as wb,
        trio.open_nursery() as nursery,
    ):
        wires: list[netsim.StreamLink] = []
        leave = [trio.Event() for _ in range(3)]

        async def peer(
            host: netsim.Host, index: int, task_status: trio.TaskStatus[netsim.StreamLink]
        ) -> None:
            async with netsim.open_unix_link(host, path, listen=False) as wire:
                task_status.started(wire)
                await leave[index].wait()

        for index, host in enumerate((c1, c2, c3)):
            wires.append(await nursery.start(peer, host, index))
        for turn, wire in enumerate(wires, 1):
            await wire.wait_carrier()
            assert (wb.peers, wb.peer_name) == (turn, f"c{turn}")
            await trio.testing.wait_all_tasks_blocked()
            assert [w.carrier for w in wires[turn:]] == [False] * (3 - turn), "they queue"
            leave[turn - 1].set()  # this peer leaves; the next one's turn
            await wb.wait_gone(turn)
        assert not wb.carrier
        assert not wb.finished.is_set(), "keep: the listener waits for more"


async def test_a_client_started_first_connects_when_its_listener_comes(tmp_path: Path) -> None:
    path = _short_path(tmp_path)
    async with netsim.open_host(name="client") as a, netsim.open_host(name="listener") as b:
        connected = trio.Event()

        async def client() -> None:
            async with netsim.open_unix_link(a, path, listen=False, connect_timeout=30) as wa:
                await wa.wait_carrier()
                connected.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(client)
            await trio.testing.wait_all_tasks_blocked()  # it tried, failed, and waits to retry
            assert not connected.is_set()
            assert not await trio.Path(path).exists()
            async with netsim.open_unix_link(b, path, listen=True) as wb:
                await connected.wait()
                await wb.finished.wait()


async def test_a_keep_listener_refuses_a_bad_peer_and_takes_the_next(tmp_path: Path) -> None:
    path = _short_path(tmp_path)
    async with (
        netsim.open_host(name="listener") as b,
        netsim.open_host(name="jumbo") as c1,
        netsim.open_host(name="good") as c2,
        netsim.open_unix_link(b, path, listen=True, keep=True, mtu=2000) as wb,
    ):
        seen: list[OSError] = []
        wb.on_refused = seen.append
        with pytest.raises(OSError, match="MTU mismatch") as info:
            async with netsim.open_unix_link(c1, path, listen=False, mtu=1500) as w1:
                await w1.wait_carrier()
        assert info.value.errno == errno.EINVAL
        async with netsim.open_unix_link(c2, path, listen=False, mtu=2000) as w2:
            await w2.wait_carrier()
            assert wb.peer_name == "good"
        assert len(seen) == 1
        assert wb.refused == seen
        assert seen[0].errno == errno.EINVAL


async def test_an_error_from_on_refused_ends_the_listening(tmp_path: Path) -> None:
    """What ``nc -l`` without ``-k`` does with a refused client: the error leaves
    ``open_unix_link`` as it is (not in an exception group)."""
    path = _short_path(tmp_path)

    def refuse(exc: OSError) -> None:
        raise exc

    async def listen(b: netsim.Host, a: netsim.Host) -> None:
        async with netsim.open_unix_link(b, path, listen=True, keep=True, mtu=2000) as wb:
            wb.on_refused = refuse
            with pytest.raises(OSError, match="MTU mismatch"):
                async with netsim.open_unix_link(a, path, listen=False) as wa:
                    await wa.wait_carrier()
            await trio.sleep_forever()

    async with netsim.open_host(name="listener") as b, netsim.open_host(name="client") as a:
        with pytest.raises(OSError, match="this end 2000, the peer 1500") as info:
            await listen(b, a)
        assert info.value.errno == errno.EINVAL
    assert not await trio.Path(path).exists()


async def test_only_the_listening_end_times_out_a_silent_peer(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A listener serves one peer at a time, so a connecting end waits for its hello as long
    as the listener's current peer stays; the listening end gives a silent peer 10 s."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        left, right = trio.testing.memory_stream_pair()
        async with netsim.open_stream_link(a, left, listen_side=False) as wa:
            await trio.sleep(3600)  # the listener is busy for an hour
            assert not wa.carrier
            assert not wa.finished.is_set()
            async with netsim.open_stream_link(b, right, listen_side=True) as wb:
                await wa.wait_carrier()
                await wb.wait_carrier()
        ours, _silent = trio.testing.memory_stream_pair()
        with pytest.raises(OSError, match="sent no hello") as info:
            async with netsim.open_stream_link(b, ours, listen_side=True, devname="eth1") as w:
                await w.wait_carrier()
        assert info.value.errno == errno.ETIMEDOUT


async def test_a_second_listeners_probe_is_not_a_peer(tmp_path: Path) -> None:
    """A listener checks whether a socket file is live by connecting to it: the live
    listener sees a peer that says nothing and closes — not a refused client (which would
    end a listener without ``keep``), just nobody."""
    path = _short_path(tmp_path)
    async with (
        netsim.open_host(name="listener") as b,
        netsim.open_host(name="second") as b2,
        netsim.open_host(name="client") as a,
        netsim.open_unix_link(b, path, listen=True) as wb,
    ):
        with pytest.raises(OSError, match="another netsim") as info:
            async with netsim.open_unix_link(b2, path, listen=True):
                pass  # pragma: no cover
        assert info.value.errno == errno.EADDRINUSE
        async with netsim.open_unix_link(a, path, listen=False) as wa:
            await wa.wait_carrier()
            assert (wb.peers, wb.peer_name, wb.refused) == (1, "client", [])
        await wb.finished.wait()
