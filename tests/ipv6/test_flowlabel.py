"""IPv6 automatic flow labels (netsim.ipv6.flowlabel), as Linux 6.18 writes them: with
``net.ipv6.auto_flowlabels`` at its default every TCP and UDP packet carries a non-zero label,
one per socket (per flow for an unconnected UDP socket), fragments and ICMPv6 errors too;
``IPV6_AUTOFLOWLABEL`` and the sysctl's four modes decide; ``flowlabel_state_ranges`` sets the
top bit.  Packets are read back from pcap captures with dpkt, and once with tshark.

What a live 6.18 kernel showed on ``lo`` (the behaviour these tests pin down): a TCP
connection's two directions carry two different labels, each the same on every segment from
SYN to the last ACK; a connected UDP socket one label; an unconnected one a label per
destination; ``IPV6_AUTOFLOWLABEL`` 0 a zero label; an ICMPv6 port unreachable and a reset
for a closed port a non-zero label; ``getsockopt(IPV6_AUTOFLOWLABEL)`` 0 or 1 as
``ip6_autoflowlabel()`` says under each mode."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import dpkt
import pytest
import trio
import trio.testing

import netsim
from netsim import (
    AF_INET,
    AF_INET6,
    IPV6_AUTOFLOWLABEL,
    IPV6_DONTFRAG,
    SO_TXREHASH,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_IPV6,
    SOL_SOCKET,
)
from netsim.dev import FaultPlan
from netsim.ipv6.flowlabel import (
    IPV6_FLOWLABEL_STATELESS_FLAG,
    flow_hash_from_flowi6,
    ip6_make_flowlabel,
)
from netsim.netns import Net
from netsim.sock.sock import sk_rethink_txhash

TSHARK = shutil.which("tshark")
Flow = tuple[str, int, str, int]  # source, source port, destination, destination port
PEER6 = "fd00::2"


class Packet:
    """One IPv6 packet of a capture: its label and what it belongs to (read from the raw
    header, the label checked against dpkt's reading)."""

    def __init__(self, buf: bytes) -> None:
        assert buf[0] >> 4 == 6
        self.label = int.from_bytes(buf[0:4], "big") & 0xFFFFF
        ip6 = dpkt.ip6.IP6(buf)
        assert ip6.flow == self.label  # dpkt reads the same 20 bits
        self.src = _addr(buf[8:24])
        self.dst = _addr(buf[24:40])
        self.nxt = buf[6]
        self.proto = self.nxt
        self.frag_id: int | None = None
        self.first = True
        l4 = 40
        if self.nxt == 44:  # fragment header
            self.proto = buf[40]
            self.frag_id = int.from_bytes(buf[44:48], "big")
            self.first = int.from_bytes(buf[42:44], "big") >> 3 == 0
            l4 = 48
        self.sport = self.dport = -1
        self.tcp_flags = 0
        if self.first and self.proto in (6, 17):
            self.sport = int.from_bytes(buf[l4 : l4 + 2], "big")
            self.dport = int.from_bytes(buf[l4 + 2 : l4 + 4], "big")
            if self.proto == 6:
                self.tcp_flags = buf[l4 + 13]

    @property
    def flow(self) -> Flow:
        return (self.src, self.sport, self.dst, self.dport)


def _addr(raw: bytes) -> str:
    return str(ipaddress.IPv6Address(raw))


def _read(path: Path) -> list[Packet]:
    with path.open("rb") as fh:
        reader = dpkt.pcap.Reader(fh)
        return [Packet(bytes(buf)) for _, buf in reader if buf[0] >> 4 == 6]


def _labels_by_flow(packets: list[Packet], proto: int) -> dict[Flow, set[int]]:
    out: dict[Flow, set[int]] = defaultdict(set)
    for p in packets:
        if p.proto == proto and p.first:
            out[p.flow].add(p.label)
    return dict(out)


def _one_label(labels: set[int]) -> int:
    """The single label a flow carried (fails if it carried several)."""
    assert len(labels) == 1, f"one flow, several labels: {sorted(map(hex, labels))}"
    (label,) = labels
    return label


async def _tcp_exchange(
    client_host: netsim.Host, server_host: netsim.Host, addr: str, port: int
) -> None:
    """Connect, send both ways, close both ends: SYN, SYN-ACK, data, ACKs, FINs."""
    listener = server_host.socket(AF_INET6, SOCK_STREAM)
    await listener.bind((addr, port))
    listener.listen()
    client = client_host.socket(AF_INET6, SOCK_STREAM)
    await client.connect((addr, port))
    server, _ = await listener.accept()
    await client.send(b"q" * 3000)
    got = 0
    while got < 3000:
        got += len(await server.recv(65536))
    await server.send(b"r" * 70000)
    got = 0
    while got < 70000:
        got += len(await client.recv(65536))
    client.close()
    assert await server.recv(10) == b""
    server.close()
    listener.close()
    await trio.sleep(1)  # the last ACK


@asynccontextmanager
async def _two_hosts(mtu: int = 1500) -> AsyncIterator[tuple[netsim.Host, netsim.Host]]:
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, mtu=mtu, delay=0.001)
        yield a, b


# -- TCP -----------------------------------------------------------------------------------


async def test_tcp_on_loopback_one_label_per_direction(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "lo.pcap"
    async with netsim.open_host() as host:
        with host.capture(str(path)):
            await _tcp_exchange(host, host, "::1", 5000)
    flows = _labels_by_flow(_read(path), 6)
    assert len(flows) == 2  # the two directions of one connection
    labels = {flow: _one_label(seen) for flow, seen in flows.items()}
    assert all(labels.values())
    assert len(set(labels.values())) == 2  # each direction its own (as Linux: two txhashes)


async def test_tcp_over_a_link_every_segment_carries_its_direction_label(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "eth0.pcap"
    async with _two_hosts() as (a, b):
        with a.capture(str(path), "eth0"):
            await _tcp_exchange(a, b, PEER6, 5001)
    packets = _read(path)
    flows = _labels_by_flow(packets, 6)
    assert len(flows) == 2
    for flow, seen in flows.items():
        assert _one_label(seen), flow
        flags = [p.tcp_flags for p in packets if p.flow == flow]
        assert flags[0] & 0x02  # the SYN (or SYN-ACK) ...
        assert any(f & 0x01 for f in flags)  # ... a FIN ...
        assert any(f == 0x10 for f in flags)  # ... and bare ACKs: one label for them all
    syn, synack = (p for p in packets if p.tcp_flags & 0x02)
    assert syn.label != synack.label


async def test_each_tcp_connection_has_its_own_label(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "lo.pcap"
    async with netsim.open_host() as host:
        listener = host.socket(AF_INET6, SOCK_STREAM)
        await listener.bind(("::1", 5002))
        listener.listen()
        with host.capture(str(path)):
            clients = []
            for _ in range(8):
                c = host.socket(AF_INET6, SOCK_STREAM)
                await c.connect(("::1", 5002))
                await c.send(b"x")
                clients.append(c)
            for c in clients:
                c.close()
    flows = _labels_by_flow(_read(path), 6)
    labels = [_one_label(seen) for seen in flows.values()]
    assert len(labels) == 16  # 8 connections, both directions
    assert len(set(labels)) == 16
    assert 0 not in labels


async def test_labels_come_from_the_host_seed(autojump_clock: trio.testing.MockClock) -> None:
    """Same seed, same labels; another seed, others."""

    async def labels(seed: int) -> tuple[int, int]:
        async with netsim.open_host(seed=seed) as host:
            listener = host.socket(AF_INET6, SOCK_STREAM)
            await listener.bind(("::1", 5003))
            listener.listen()
            c = host.socket(AF_INET6, SOCK_STREAM)
            await c.connect(("::1", 5003))
            s, _ = await listener.accept()
            return c.sk.tx_flowlabel, s.sk.tx_flowlabel

    first = await labels(7)
    assert first == await labels(7)
    assert first != await labels(8)
    assert all(first)


# -- UDP -----------------------------------------------------------------------------------


async def test_udp_labels_per_socket_and_per_flow(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A connected socket: one label for its datagrams.  Unconnected: the flow's hash — the
    same for every datagram to one destination, another for another destination.  Other
    sockets, other labels."""
    path = tmp_path / "lo.pcap"
    async with netsim.open_host() as host:
        rx1 = host.socket(AF_INET6, SOCK_DGRAM)
        await rx1.bind(("::1", 6001))
        rx2 = host.socket(AF_INET6, SOCK_DGRAM)
        await rx2.bind(("::1", 6002))
        with host.capture(str(path)):
            connected = host.socket(AF_INET6, SOCK_DGRAM)
            await connected.connect(("::1", 6001))
            for _ in range(3):
                await connected.send(b"c")
            loose = host.socket(AF_INET6, SOCK_DGRAM)
            for _ in range(3):
                await loose.sendto(b"u", ("::1", 6001))
                await loose.sendto(b"u", ("::1", 6002))
            others = [host.socket(AF_INET6, SOCK_DGRAM) for _ in range(6)]
            for s in others:
                await s.sendto(b"o", ("::1", 6001))
    flows = _labels_by_flow(_read(path), 17)
    assert len(flows) == 1 + 2 + 6
    labels = [_one_label(seen) for seen in flows.values()]
    assert 0 not in labels
    assert len(set(labels)) == len(labels)
    assert connected.sk.tx_flowlabel in labels
    assert loose.sk.sk_txhash == 0  # never connected: a label per datagram, from its flow
    assert loose.sk.tx_flowlabel == -1


def test_the_flow_hash_is_the_same_both_ways() -> None:
    """``__flow_hash_consistentify``: a reply on the same 4-tuple hashes alike."""
    net = Net()
    a, b = bytes(15) + b"\x01", b"\xfd" + bytes(14) + b"\x02"
    there = flow_hash_from_flowi6(net, a, b, 40000, 53, 17)
    assert there == flow_hash_from_flowi6(net, b, a, 53, 40000, 17)
    assert there != flow_hash_from_flowi6(net, a, b, 40001, 53, 17)
    assert there != flow_hash_from_flowi6(net, a, b, 40000, 53, 6)
    assert there  # never 0
    assert flow_hash_from_flowi6(Net(seed=1), a, b, 40000, 53, 17) != there


@pytest.mark.parametrize("connect", [False, True], ids=["unconnected", "connected"])
async def test_fragments_share_their_datagram_label(
    tmp_path: Path, connect: bool, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "eth0.pcap"
    async with _two_hosts() as (a, b):
        rx = b.socket(AF_INET6, SOCK_DGRAM)
        await rx.bind(("::", 7000))
        tx = a.socket(AF_INET6, SOCK_DGRAM)
        if connect:
            await tx.connect((PEER6, 7000))
        with a.capture(str(path), "eth0"):
            for size in (40000, 3000, 100):
                if connect:
                    await tx.send(bytes(size))
                else:
                    await tx.sendto(bytes(size), (PEER6, 7000))
                assert len(await rx.recv(65536)) == size
    packets = [p for p in _read(path) if p.src == "fd00::1"]
    by_datagram: dict[int, set[int]] = defaultdict(set)
    for p in packets:
        if p.frag_id is not None:
            by_datagram[p.frag_id].add(p.label)
    assert len(by_datagram) == 2  # 40000 and 3000 bytes were fragmented
    assert sum(1 for p in packets if p.frag_id is not None) == 28 + 3
    # every fragment of every datagram, and the unfragmented one: the socket's one label
    label = _one_label({p.label for p in packets})
    assert label
    if connect:
        assert label == tx.sk.tx_flowlabel


async def test_udp_gso_segments_share_the_label(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "eth0.pcap"
    async with _two_hosts() as (a, b):
        rx = b.socket(AF_INET6, SOCK_DGRAM)
        await rx.bind(("::", 7001))
        tx = a.socket(AF_INET6, SOCK_DGRAM)
        await tx.connect((PEER6, 7001))
        tx.setsockopt(netsim.SOL_UDP, netsim.UDP_SEGMENT, 1000)
        with a.capture(str(path), "eth0"):
            await tx.send(bytes(10000))
            for _ in range(10):
                assert len(await rx.recv(65536)) == 1000
    packets = [p for p in _read(path) if p.src == "fd00::1"]
    assert len(packets) == 10
    assert _one_label({p.label for p in packets}) == tx.sk.tx_flowlabel != 0


# -- ICMPv6 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "labelled"), [(0, False), (1, True), (2, False), (3, True)])
async def test_icmpv6_errors_carry_a_flow_hash_label(
    tmp_path: Path, mode: int, labelled: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """ICMPv6's control socket never sets ``IPV6_AUTOFLOWLABEL``: modes 1 and 3 label its
    errors, with the hash of the error's flow (so two errors on one flow alike)."""
    path = tmp_path / "lo.pcap"
    async with netsim.open_host() as host:
        host.sysctl["net.ipv6.auto_flowlabels"] = mode
        tx = host.socket(AF_INET6, SOCK_DGRAM)
        tx.setsockopt(SOL_IPV6, IPV6_AUTOFLOWLABEL, 1)
        with host.capture(str(path)):
            for _ in range(2):
                await tx.sendto(b"nobody", ("::1", 9))
    packets = _read(path)
    errors = {p.label for p in packets if p.proto == 58}
    assert len([p for p in packets if p.proto == 58]) == 2
    label = _one_label(errors)
    assert bool(label) == labelled
    udp = _one_label({p.label for p in packets if p.proto == 17})
    assert bool(udp) == (mode != 0)  # the socket opted in: mode 0 alone refuses it
    assert udp != label or not udp


# -- the sysctls and the socket option -------------------------------------------------------


def _expected(mode: int, option: int | None) -> bool:
    """``ip6_make_flowlabel``'s test: is a label made?"""
    if mode == 0:
        return False
    if mode == 3:
        return True
    if option is None:
        return mode == 1
    return bool(option)


@pytest.mark.parametrize("option", [None, 0, 1], ids=["unset", "off", "on"])
@pytest.mark.parametrize("mode", [0, 1, 2, 3])
async def test_auto_flowlabels_modes_and_ipv6_autoflowlabel(
    tmp_path: Path, mode: int, option: int | None, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "lo.pcap"
    async with netsim.open_host() as host:
        host.sysctl["net.ipv6.auto_flowlabels"] = mode
        rx = host.socket(AF_INET6, SOCK_DGRAM)
        await rx.bind(("::1", 6000))
        udp = host.socket(AF_INET6, SOCK_DGRAM)
        tcp = host.socket(AF_INET6, SOCK_STREAM)
        for s in (udp, tcp):
            if option is not None:
                s.setsockopt(SOL_IPV6, IPV6_AUTOFLOWLABEL, option)
            # ip6_autoflowlabel(): the option once set, else the mode's default (1 and 3)
            want = mode in (1, 3) if option is None else option
            assert s.getsockopt(SOL_IPV6, IPV6_AUTOFLOWLABEL) == want
        listener = host.socket(AF_INET6, SOCK_STREAM)
        await listener.bind(("::1", 5004))
        listener.listen()
        with host.capture(str(path)):
            await udp.connect(("::1", 6000))
            await udp.send(b"c")
            await udp.sendto(b"u", ("::1", 6000))
            unconnected = host.socket(AF_INET6, SOCK_DGRAM)
            if option is not None:
                unconnected.setsockopt(SOL_IPV6, IPV6_AUTOFLOWLABEL, option)
            await unconnected.sendto(b"u", ("::1", 6000))
            await tcp.connect(("::1", 5004))
            server, _ = await listener.accept()
            await tcp.send(b"t")
            assert await server.recv(1) == b"t"
            await server.send(b"s")
            assert await tcp.recv(1) == b"s"
        ports = {s.getsockname()[1] for s in (udp, tcp, unconnected)}
    packets = _read(path)
    wanted = _expected(mode, option)
    mine = [p for p in packets if p.sport in ports]
    assert len(mine) >= 6
    assert {bool(p.label) for p in mine} == {wanted}
    # the accepted socket never set the option: the mode's default
    theirs = [p for p in packets if p.sport == 5004]
    assert {bool(p.label) for p in theirs} == {_expected(mode, None)}


async def test_writing_the_sysctls_reaches_open_sockets(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Linux reads the sysctls at every packet; netsim's sockets forget the label they kept."""
    path = tmp_path / "lo.pcap"
    async with netsim.open_host() as host:
        rx = host.socket(AF_INET6, SOCK_DGRAM)
        await rx.bind(("::1", 6000))
        tx = host.socket(AF_INET6, SOCK_DGRAM)
        await tx.connect(("::1", 6000))
        with host.capture(str(path)):
            await tx.send(b"1")
            host.sysctl["net.ipv6.auto_flowlabels"] = 0
            await tx.send(b"2")
            host.sysctl["net.ipv6.auto_flowlabels"] = 1
            await tx.send(b"3")
            host.sysctl["net.ipv6.flowlabel_state_ranges"] = 1
            await tx.send(b"4")
            tx.setsockopt(SOL_IPV6, IPV6_AUTOFLOWLABEL, 0)
            await tx.send(b"5")
    first, off, again, stateless, opted_out = (p.label for p in _read(path))
    assert first
    assert off == 0
    assert again == first
    assert stateless == first | IPV6_FLOWLABEL_STATELESS_FLAG
    assert opted_out == 0


async def test_flowlabel_state_ranges_sets_the_top_bit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Off (6.18's default): labels use all 20 bits, some with the top bit clear.  On: every
    label in 0x80000-0xFFFFF."""
    for ranges in (0, 1):
        async with netsim.open_host() as host:
            host.sysctl["net.ipv6.flowlabel_state_ranges"] = ranges
            rx = host.socket(AF_INET6, SOCK_DGRAM)
            await rx.bind(("::1", 6000))
            top = set()
            for _ in range(16):
                s = host.socket(AF_INET6, SOCK_DGRAM)
                await s.connect(("::1", 6000))
                await s.send(b"x")
                label = s.sk.tx_flowlabel
                assert 0 < label <= 0xFFFFF
                top.add(bool(label & IPV6_FLOWLABEL_STATELESS_FLAG))
            assert top == ({True} if ranges else {False, True})


def test_ip6_make_flowlabel_values() -> None:
    """``rol32(hash, 16)``, 20 bits, the stateless bit by the sysctl; nothing when off."""
    net = Net()
    assert ip6_make_flowlabel(net, 0x12345678, True) == 0x81234  # rol32: 0x56781234
    assert ip6_make_flowlabel(net, 0x00070000, True) == 0x7
    net.sysctl["net.ipv6.flowlabel_state_ranges"] = 1
    assert ip6_make_flowlabel(net, 0x00070000, True) == 0x80007
    assert ip6_make_flowlabel(net, 0x00070000, False) == 0
    net.sysctl["net.ipv6.auto_flowlabels"] = 3
    assert ip6_make_flowlabel(net, 0x00070000, False) == 0x80007
    net.sysctl["net.ipv6.auto_flowlabels"] = 0
    assert ip6_make_flowlabel(net, 0x00070000, True) == 0


async def test_ipv6_autoflowlabel_takes_any_length(autojump_clock: trio.testing.MockClock) -> None:
    """``do_ipv6_setsockopt`` reads a short or NULL value as 0, and IPV6_AUTOFLOWLABEL and
    IPV6_DONTFRAG never check the length: such a value turns them off (a live 6.18 agrees);
    any non-zero int turns them on."""
    async with netsim.open_host() as host:
        s = host.socket(AF_INET6, SOCK_DGRAM)
        for option in (IPV6_AUTOFLOWLABEL, IPV6_DONTFRAG):
            s.setsockopt(SOL_IPV6, option, 1)
            s.setsockopt(SOL_IPV6, option, b"\x01")
            assert s.getsockopt(SOL_IPV6, option) == 0
            s.setsockopt(SOL_IPV6, option, 1)
            s.setsockopt(SOL_IPV6, option, None, 4)
            assert s.getsockopt(SOL_IPV6, option) == 0
            s.setsockopt(SOL_IPV6, option, -1)
            assert s.getsockopt(SOL_IPV6, option) == 1
        v4 = host.socket(AF_INET, SOCK_DGRAM)
        with pytest.raises(OSError, match=r"^\[Errno 92\] "):  # ENOPROTOOPT
            v4.setsockopt(SOL_IPV6, IPV6_AUTOFLOWLABEL, 1)
        with pytest.raises(OSError, match=r"^\[Errno 95\] "):  # EOPNOTSUPP
            v4.getsockopt(SOL_IPV6, IPV6_AUTOFLOWLABEL)


# -- rehashing -------------------------------------------------------------------------------


async def test_so_txrehash(autojump_clock: trio.testing.MockClock) -> None:
    """TCP only (``EOPNOTSUPP`` elsewhere); -1..1, -1 meaning ``net.core.txrehash``; new
    sockets copy the sysctl."""
    async with netsim.open_host() as host:
        tcp = host.socket(AF_INET6, SOCK_STREAM)
        assert tcp.getsockopt(SOL_SOCKET, SO_TXREHASH) == 1
        tcp.setsockopt(SOL_SOCKET, SO_TXREHASH, 0)
        assert tcp.getsockopt(SOL_SOCKET, SO_TXREHASH) == 0
        host.sysctl["net.core.txrehash"] = 0
        tcp.setsockopt(SOL_SOCKET, SO_TXREHASH, 1)
        assert tcp.getsockopt(SOL_SOCKET, SO_TXREHASH) == 1
        tcp.setsockopt(SOL_SOCKET, SO_TXREHASH, -1)
        assert tcp.getsockopt(SOL_SOCKET, SO_TXREHASH) == 0
        for bad in (2, -2):
            with pytest.raises(OSError, match=r"^\[Errno 22\] "):
                tcp.setsockopt(SOL_SOCKET, SO_TXREHASH, bad)
        assert host.socket(AF_INET, SOCK_STREAM).getsockopt(SOL_SOCKET, SO_TXREHASH) == 0
        udp = host.socket(AF_INET6, SOCK_DGRAM)
        with pytest.raises(OSError, match=r"^\[Errno 95\] "):
            udp.setsockopt(SOL_SOCKET, SO_TXREHASH, 1)
        with pytest.raises(OSError, match=r"^\[Errno 95\] "):
            udp.getsockopt(SOL_SOCKET, SO_TXREHASH)


async def test_a_new_txhash_is_a_new_label(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """``sk_rethink_txhash``: a socket with a hash, allowed to rehash, draws a new one and its
    packets change label; with ``SO_TXREHASH`` 0 nothing changes."""
    path = tmp_path / "lo.pcap"
    async with netsim.open_host() as host:
        listener = host.socket(AF_INET6, SOCK_STREAM)
        await listener.bind(("::1", 5005))
        listener.listen()
        c = host.socket(AF_INET6, SOCK_STREAM)
        with host.capture(str(path)):
            await c.connect(("::1", 5005))
            s, _ = await listener.accept()
            await c.send(b"1")
            assert await s.recv(1) == b"1"
            assert sk_rethink_txhash(c.sk)
            await c.send(b"2")
            assert await s.recv(1) == b"2"
            c.setsockopt(SOL_SOCKET, SO_TXREHASH, 0)
            assert not sk_rethink_txhash(c.sk)
            await c.send(b"3")
            assert await s.recv(1) == b"3"
        port = c.getsockname()[1]
        never_sent = host.socket(AF_INET6, SOCK_STREAM)
        assert not sk_rethink_txhash(never_sent.sk)  # no hash yet: nothing to rethink
    data = [p.label for p in _read(path) if p.sport == port and p.tcp_flags & 0x08]  # PSH
    assert len(data) == 3
    assert data[0] != data[1] == data[2]
    assert 0 not in data


# -- TCP's labels beyond the data path: RTO rehash, resets, timewait, accepted sockets -------


async def test_an_rto_changes_the_label(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "eth0.pcap"
    async with _two_hosts() as (a, b):
        wire_a = a.net.devices["eth0"]
        listener = b.socket(AF_INET6, SOCK_STREAM)
        await listener.bind(("::", 5006))
        listener.listen()
        c = a.socket(AF_INET6, SOCK_STREAM)
        await c.connect((PEER6, 5006))
        s, _ = await listener.accept()
        with a.capture(str(path), "eth0"):
            wire_a.set_faults(FaultPlan(down=[(0.0, 1.0)]))  # type: ignore[attr-defined]
            await c.send(b"lost, then resent")
            assert await s.recv(100) == b"lost, then resent"
        port = c.getsockname()[1]
        stats = a.stats()
    data = [p.label for p in _read(path) if p.sport == port and p.tcp_flags & 0x08]
    # the original, a tail loss probe (no rehash: the same label), then one segment per RTO,
    # each after tcp_write_timeout() drew a new txhash
    assert stats["TcpExtTCPLossProbes"] == 1
    rehashes = stats["TcpExtTCPTimeoutRehash"]
    assert rehashes >= 1
    assert len(data) == 2 + rehashes
    assert data[0] == data[1]
    assert len(set(data)) == 1 + rehashes


async def test_a_reset_for_a_closed_port_carries_a_label(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "lo.pcap"
    async with netsim.open_host() as host:
        c = host.socket(AF_INET6, SOCK_STREAM)
        with host.capture(str(path)), pytest.raises(ConnectionRefusedError):
            await c.connect(("::1", 5007))
    (rst,) = [p for p in _read(path) if p.tcp_flags & 0x04]
    assert rst.label


async def test_timewait_acks_keep_the_connection_label(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "eth0.pcap"
    async with _two_hosts() as (a, b):
        listener = b.socket(AF_INET6, SOCK_STREAM)
        await listener.bind(("::", 5008))
        listener.listen()
        c = a.socket(AF_INET6, SOCK_STREAM)
        await c.connect((PEER6, 5008))
        s, _ = await listener.accept()
        with a.capture(str(path), "eth0"):
            await c.send(b"x")
            assert await s.recv(1) == b"x"
            port = c.getsockname()[1]
            c.close()
            assert await s.recv(1) == b""
            # the client's last ACK is lost: the server resends its FIN, and the client's
            # timewait socket answers it
            a.net.devices["eth0"].set_faults(FaultPlan(down=[(0.0, 0.1)]))  # type: ignore[attr-defined]
            s.close()
            await trio.sleep(3)
    mine = [p for p in _read(path) if p.sport == port]
    assert len(mine) >= 4  # data, FIN, ACKs, and the timewait ACK
    assert _one_label({p.label for p in mine})


async def test_an_accepted_socket_inherits_ipv6_autoflowlabel(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "lo.pcap"
    async with netsim.open_host() as host:
        listener = host.socket(AF_INET6, SOCK_STREAM)
        listener.setsockopt(SOL_IPV6, IPV6_AUTOFLOWLABEL, 0)
        await listener.bind(("::1", 5009))
        listener.listen()
        with host.capture(str(path)):
            c = host.socket(AF_INET6, SOCK_STREAM)
            await c.connect(("::1", 5009))
            s, _ = await listener.accept()
            await s.send(b"s")
            assert await c.recv(1) == b"s"
        assert s.getsockopt(SOL_IPV6, IPV6_AUTOFLOWLABEL) == 0
    assert {p.label for p in _read(path) if p.sport == 5009} == {0}


# -- read by a tool we did not write ---------------------------------------------------------


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed (apt-get install tshark)")
def test_tshark_reads_the_labels(tmp_path: Path) -> None:
    """tshark decodes ``ipv6.flow`` as the labels dpkt and netsim see (run after the
    emulated traffic, outside virtual time)."""
    path = tmp_path / "eth0.pcap"

    async def traffic() -> None:
        async with _two_hosts() as (a, b):
            with a.capture(str(path), "eth0"):
                await _tcp_exchange(a, b, PEER6, 5010)
                tx = a.socket(AF_INET6, SOCK_DGRAM)
                await tx.sendto(bytes(3000), (PEER6, 9))  # fragments, then an ICMPv6 error

    trio.run(traffic, clock=trio.testing.MockClock(autojump_threshold=0))
    assert TSHARK is not None
    out = subprocess.run(
        [TSHARK, "-r", str(path), "-T", "fields", "-e", "ipv6.flow"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split()  # fmt: skip
    ours = [p.label for p in _read(path)]
    assert [int(x, 16) for x in out] == ours
    assert len(out) > 20
    assert all(ours)
