"""Linux as a yardstick (issue 15, item 2): the same socket call sequence on this machine's
kernel and on netsim, both captured, compared field by field.

The real side: two network namespaces the test creates, joined by a veth pair with a 1500-byte
MTU (198.18.0.1/24 and fd00:198:18::1/64 on the sender's ``eth0``, .2 and ::2 on the
receiver's; IPv6 addresses ``nodad``), the offloads set with ``ethtool -K`` as each sequence
needs, the sender and the receiver Python child processes (``ip netns exec``), and an
``AF_PACKET`` socket (a third child, in the sender's namespace) writing a pcap, with the
``virtio_net_hdr`` of each packet (``PACKET_VNET_HDR``) kept beside it so a GSO super-packet's
``gso_size`` can be compared too.  The netsim side: the same calls on two hosts over
``netsim.link(a, b, mtu=1500)`` with the same addresses, on trio's virtual clock, captured with
``host.capture`` (and, where offloads are on, a tap that also keeps ``gso_size``).  The emulated
run comes first, the real one after it (real I/O never runs inside an autojump clock).

What must agree is asserted equal; what legitimately differs (timing-dependent segment sizes,
hash-chosen values) is compared as a distribution or a property, and every such divergence is
listed with its reason in ``docs/yardstick.md``.

Needs root (namespaces), ``ip`` and ``ethtool``; skips with the reason elsewhere.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dpkt
import pytest
import trio
import trio.testing

import netsim
from netsim.dev import (
    NETIF_F_GSO_UDP_L4,
    NETIF_F_HW_CSUM,
    NETIF_F_TSO,
    NETIF_F_TSO6,
)
from netsim.skb import SkBuff

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CAP_NET_ADMIN) for namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2's ip"),
    pytest.mark.skipif(shutil.which("ethtool") is None, reason="needs ethtool (-K offloads)"),
]

ADDR = {4: ("198.18.0.1", "198.18.0.2"), 6: ("fd00:198:18::1", "fd00:198:18::2")}
PREFIX = {4: 24, 6: 64}
PORT = 5001
MTU = 1500
TIMEOUT = 20.0

#: sysctls set in both namespaces to netsim's (Linux's built-in) defaults: a namespace
#: inherits some from the machine.  (The congestion control, which this machine sets to bbr,
#: is set per socket instead: a namespace other than the first may only choose an algorithm of
#: ``tcp_allowed_congestion_control`` as its default, EPERM otherwise.)
SYSCTLS = (
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_timestamps",
    "net.ipv4.tcp_sack",
    "net.ipv4.tcp_window_scaling",
    "net.ipv4.tcp_autocorking",
    "net.ipv4.ip_default_ttl",
    "net.ipv4.ip_no_pmtu_disc",
    "net.ipv6.auto_flowlabels",
    "net.ipv4.tcp_min_tso_segs",
    "net.ipv4.tcp_tso_win_divisor",
    "net.ipv4.tcp_limit_output_bytes",
    "net.ipv4.tcp_slow_start_after_idle",
)
#: and these, which netsim does not model, to the value that means what netsim does: no
#: per-destination TCP metrics (ssthresh, RTT) carried from one test's connection to the next
REAL_ONLY_SYSCTLS = {"net.ipv4.tcp_no_metrics_save": "1"}


# --------------------------------------------------------------------------- call sequences
#
# A call sequence is data, run by both interpreters: the real one below (a child process in
# the sender's namespace) and netsim's (_netsim_send).  Operations:
#   ["setsockopt", level, optname, value]   ["connect"]
#   ["send", nbytes, flags]                 ["sendto", nbytes]
#   ["sendall", nbytes, chunk]              ["close"]
# The receiver: TCP accepts one connection and reads 16 KiB at a time to EOF; UDP reads
# ``expect`` datagrams.  Both print what they received (JSON).


@dataclass
class Sequence:
    """One socket call sequence: ``proto`` ("tcp"/"udp"), ``family`` (4/6), ``ops``."""

    proto: str
    family: int
    ops: list[list[Any]]
    expect: int = 0  # UDP: datagrams the receiver waits for
    loopback: bool = False  # both ends in the sender's namespace, over lo
    close_delay: float = 0.0  # TCP: the receiver waits this long after EOF before closing


SENDER = r"""
import json, socket, sys
seq = json.loads(sys.argv[1])
af = socket.AF_INET if seq["family"] == 4 else socket.AF_INET6
kind = socket.SOCK_STREAM if seq["proto"] == "tcp" else socket.SOCK_DGRAM
peer = (seq["peer"], seq["port"])
s = socket.socket(af, kind)
if kind == socket.SOCK_STREAM:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")
for op in seq["ops"]:
    if op[0] == "setsockopt":
        s.setsockopt(op[1], op[2], op[3])
    elif op[0] == "connect":
        s.connect(peer)
    elif op[0] == "send":
        assert s.send(bytes(op[1]), *op[2:]) == op[1]
    elif op[0] == "sendto":
        assert s.sendto(bytes(op[1]), peer) == op[1]
    elif op[0] == "sendall":
        chunk = bytes(op[2])
        for _ in range(op[1] // op[2]):
            s.sendall(chunk)
    elif op[0] == "close":
        s.close()
"""

RECEIVER = r"""
import json, socket, sys, time
seq = json.loads(sys.argv[1])
af = socket.AF_INET if seq["family"] == 4 else socket.AF_INET6
if seq["proto"] == "tcp":
    l = socket.socket(af, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")  # the child inherits it
    l.bind((seq["addr"], seq["port"]))
    l.listen()
    l.settimeout(10)
    print("ready", flush=True)
    c, _ = l.accept()
    c.settimeout(10)
    total = 0
    while d := c.recv(16384):
        total += len(d)
    time.sleep(seq["close_delay"])
    c.close()
    print(json.dumps([total]), flush=True)
else:
    s = socket.socket(af, socket.SOCK_DGRAM)
    s.bind((seq["addr"], seq["port"]))
    s.settimeout(5)
    print("ready", flush=True)
    sizes = []
    try:
        while len(sizes) < seq["expect"]:
            sizes.append(len(s.recv(70000)))
    except TimeoutError:
        pass
    print(json.dumps(sizes), flush=True)
"""

#: An AF_PACKET capture of one device: a pcap (Ethernet) and, beside it, the virtio_net_hdr of
#: every packet ([pkttype, gso_type, gso_size]), until its stdin closes.  On lo only the
#: outgoing copy of each packet is kept (AF_PACKET sees both).
CAPTURE = r"""
import json, os, select, socket, struct, sys, time
ifname, path = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.setsockopt(263, 15, 1)  # SOL_PACKET, PACKET_VNET_HDR
s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE
s.bind((ifname, 0))
f = open(path, "wb")
f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
meta = []
def take():
    data, addr = s.recvfrom(262144)
    if ifname == "lo" and addr[2] != 4:  # PACKET_OUTGOING
        return
    _, gso_type, _, gso_size, _, _ = struct.unpack("<BBHHHH", data[:10])
    frame = data[10:]
    now = time.time()
    f.write(struct.pack("<IIII", int(now), int(now % 1 * 1e6), len(frame), len(frame)) + frame)
    meta.append([addr[2], gso_type, gso_size])
print("ready", flush=True)
while True:
    ready, _, _ = select.select([s, sys.stdin], [], [])
    if s in ready:
        take()
    elif sys.stdin in ready:
        s.setblocking(False)
        try:
            while True:
                take()
        except BlockingIOError:
            pass
        break
f.close()
with open(path + ".json", "w") as m:
    json.dump(meta, m)
"""


# --------------------------------------------------------------------------- packets


@dataclass
class Pkt:
    """What is compared of one captured packet."""

    version: int
    src: bytes
    ttl: int  # TTL / hop limit
    df: bool = False
    ip_id: int | None = None  # IPv4 ID, or the IPv6 fragment header's
    frag_off: int = 0  # in bytes
    mf: bool = False
    fragment: bool = False  # a fragment (IPv4 MF/offset, or an IPv6 fragment header)
    ip_len: int = 0  # IPv4 total length / IPv6 payload length
    flowlabel: int = 0
    proto: int = 0
    sport: int = 0
    dport: int = 0
    flags: int = 0  # TCP flags
    seq: int = 0
    ack: int = 0
    win: int = 0
    opts: list[tuple[int, bytes]] = field(default_factory=list)
    payload: int = 0  # TCP or UDP payload bytes (of this packet / of the datagram's header)
    udp_len: int = 0
    gso_size: int = 0
    gso_type: int = 0


def _parse(raw: bytes) -> Pkt:
    """One packet from its IP header on."""
    if raw[0] >> 4 == 4:
        ip4 = dpkt.ip.IP(raw)
        p = Pkt(4, ip4.src, ip4.ttl, df=bool(ip4.df), ip_id=ip4.id, ip_len=ip4.len, proto=ip4.p)
        p.frag_off = ip4.offset
        p.mf = bool(ip4.mf)
        p.fragment = p.mf or p.frag_off > 0
        l4: bytes = bytes(raw[ip4.hl * 4 : ip4.len]) if ip4.len else bytes(raw[ip4.hl * 4 :])
    else:
        # dpkt's IP6 insists on a whole upper-layer header behind a fragment header: the
        # fixed header and the fragment header are read by hand
        p = Pkt(6, raw[8:24], raw[7], ip_len=struct.unpack("!H", raw[4:6])[0])
        p.flowlabel = struct.unpack("!I", raw[:4])[0] & 0xFFFFF
        nxt, l4 = raw[6], bytes(raw[40:])
        if nxt == 44:  # fragment header
            nxt = l4[0]
            off_m, ident = struct.unpack("!HI", l4[2:8])
            p.frag_off, p.mf, p.ip_id, p.fragment = off_m & ~7, bool(off_m & 1), ident, True
            l4 = l4[8:]
        p.proto = nxt
    if p.frag_off:
        p.payload = len(l4)
        return p
    if p.proto == 6:
        tcp = dpkt.tcp.TCP(l4)
        p.sport, p.dport = tcp.sport, tcp.dport
        p.flags, p.seq, p.ack, p.win = tcp.flags, tcp.seq, tcp.ack, tcp.win
        p.opts = [(k, bytes(v)) for k, v in dpkt.tcp.parse_opts(tcp.opts)]
        p.payload = len(tcp.data)
    elif p.proto == 17:
        p.sport, p.dport, p.udp_len = struct.unpack("!HHH", l4[:6])
        p.payload = len(l4) - 8
    return p


def _read_pcap(data: bytes, meta: list[list[int]] | None = None) -> list[Pkt]:
    """The IPv4 and IPv6 packets of a pcap (Ethernet or raw IP); ``meta``: the capture's
    ``[pkttype, gso_type, gso_size]`` per record, which gives each packet its GSO fields."""
    reader = dpkt.pcap.Reader(io.BytesIO(data))
    ether = reader.datalink() == dpkt.pcap.DLT_EN10MB
    out = []
    for i, (_, buf) in enumerate(reader):
        if ether:
            if struct.unpack("!H", buf[12:14])[0] not in (0x0800, 0x86DD):
                continue  # ARP
            buf = buf[14:]
        p = _parse(buf)
        if meta is not None:
            p.gso_type, p.gso_size = VIRTIO_GSO.get(meta[i][1], meta[i][1]), meta[i][2]
        out.append(p)
    return out


#: virtio_net_hdr's gso_type (what PACKET_VNET_HDR reports) as the skb's SKB_GSO_* bits
VIRTIO_GSO = {0: 0, 1: 1, 4: 1 << 4, 5: 1 << 17}  # none, TCPV4, TCPV6, UDP_L4


# --------------------------------------------------------------------------- the real side


@dataclass
class Namespaces:
    tx: str
    rx: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _in(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


@pytest.fixture(scope="module")
def veth() -> Iterator[Namespaces]:
    """Two namespaces joined by a veth pair (``eth0`` on both sides), MTU 1500, the
    addresses of :data:`ADDR`, the sysctls of :data:`SYSCTLS` set to netsim's defaults."""
    tag = uuid.uuid4().hex[:8]
    ns = Namespaces(f"ys-{tag}-tx", f"ys-{tag}-rx")
    try:
        _ip("netns", "add", ns.tx)
        _ip("netns", "add", ns.rx)
    except subprocess.CalledProcessError as exc:
        for name in (ns.tx, ns.rx):
            subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
        pytest.skip(f"cannot create network namespaces: {exc.stderr.decode().strip()}")
    try:
        _ip("-n", ns.tx, "link", "add", "eth0", "mtu", str(MTU), "type", "veth", "peer", "name",
            "eth0", "mtu", str(MTU), "netns", ns.rx)  # fmt: skip
        defaults = _netsim_sysctls()
        for i, name in enumerate((ns.tx, ns.rx)):
            _ip("-n", name, "addr", "add", f"{ADDR[4][i]}/24", "dev", "eth0")
            _ip("-n", name, "addr", "add", f"{ADDR[6][i]}/64", "dev", "eth0", "nodad")
            _ip("-n", name, "link", "set", "lo", "up")
            _ip("-n", name, "link", "set", "eth0", "up")
            for key, value in {**defaults, **REAL_ONLY_SYSCTLS}.items():
                subprocess.run(
                    _in(name, "sysctl", "-q", "-w", f"{key}={value}"),
                    check=True,
                    capture_output=True,
                )
        # permanent neighbours: no ARP or neighbour discovery before the first packet (netsim's
        # link has no link layer), so the captures hold the flow alone
        macs = [_mac(name) for name in (ns.tx, ns.rx)]
        for i, name in enumerate((ns.tx, ns.rx)):
            for fam in (4, 6):
                _ip("-n", name, "neigh", "replace", ADDR[fam][1 - i], "lladdr", macs[1 - i],
                    "dev", "eth0", "nud", "permanent")  # fmt: skip
        yield ns
    finally:
        for name in (ns.tx, ns.rx):
            subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def _mac(ns: str) -> str:
    out = subprocess.run(
        ["ip", "-n", ns, "-j", "link", "show", "eth0"], check=True, capture_output=True
    ).stdout
    return str(json.loads(out)[0]["address"])


def _netsim_sysctls() -> dict[str, str]:
    async def read() -> dict[str, str]:
        async with netsim.open_host() as host:
            out = {}
            for key in SYSCTLS:
                value = host.sysctl[key]
                out[key] = " ".join(map(str, value)) if isinstance(value, tuple | list) else value
            return {k: str(v) for k, v in out.items()}

    return trio.run(read)


def _offloads(ns: Namespaces, on: bool) -> None:
    """TSO, GSO and GRO on or off on both ends."""
    state = "on" if on else "off"
    for name in (ns.tx, ns.rx):
        subprocess.run(
            _in(
                name,
                "ethtool",
                "-K",
                "eth0",
                "tso",
                state,
                "gso",
                state,
                "gro",
                state,
                "tx-udp-segmentation",
                state,
            ),
            check=True,
            capture_output=True,
        )


def _readline(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


def real_run(ns: Namespaces, seq: Sequence) -> tuple[list[Pkt], list[Any]]:
    """Run ``seq`` on the kernel: the capture and the receiver first, then the sender; returns
    the captured packets (with their ``gso_size``) and what the receiver got."""
    rx_ns = ns.tx if seq.loopback else ns.rx
    dev = "lo" if seq.loopback else "eth0"
    rx_addr = ADDR[seq.family][0 if seq.loopback else 1]
    args = {
        "proto": seq.proto,
        "family": seq.family,
        "port": PORT,
        "expect": seq.expect,
        "close_delay": seq.close_delay,
    }
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp, "real.pcap")
        cap = subprocess.Popen(
            _in(ns.tx, sys.executable, "-c", CAPTURE, dev, str(pcap)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        rcv = subprocess.Popen(
            _in(rx_ns, sys.executable, "-c", RECEIVER, json.dumps({**args, "addr": rx_addr})),
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert _readline(cap) == "ready"
            assert _readline(rcv) == "ready"
            subprocess.run(
                _in(
                    ns.tx,
                    sys.executable,
                    "-c",
                    SENDER,
                    json.dumps({**args, "peer": rx_addr, "ops": seq.ops}),
                ),
                check=True,
                timeout=TIMEOUT,
            )
            out, _ = rcv.communicate(timeout=TIMEOUT)
            received = json.loads(out)
            assert cap.stdin is not None
            cap.stdin.close()
            cap.wait(timeout=TIMEOUT)
        finally:
            for proc in (cap, rcv):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                if proc.stdout is not None:
                    proc.stdout.close()
        meta = json.loads(Path(str(pcap) + ".json").read_text())
        pkts = _read_pcap(pcap.read_bytes(), meta)
    return pkts, received


# --------------------------------------------------------------------------- the netsim side


class _GsoTap:
    """A device tap (``dev_queue_xmit_nit``'s place) that keeps each packet's bytes with its
    ``gso_size``: netsim's view of a super-packet before the wire."""

    def __init__(self) -> None:
        self.pkts: list[Pkt] = []

    def record(self, skb: SkBuff) -> None:
        from netsim.dev.link import frame_with_checksum

        p = _parse(frame_with_checksum(skb))
        p.gso_size = skb.shinfo.gso_size
        p.gso_type = skb.shinfo.gso_type
        self.pkts.append(p)


async def _netsim_send(host: netsim.Host, seq: Sequence, peer: str) -> None:
    af = netsim.AF_INET if seq.family == 4 else netsim.AF_INET6
    kind = netsim.SOCK_STREAM if seq.proto == "tcp" else netsim.SOCK_DGRAM
    s = host.socket(af, kind)
    for op in seq.ops:
        if op[0] == "setsockopt":
            s.setsockopt(op[1], op[2], op[3])
        elif op[0] == "connect":
            await s.connect((peer, PORT))
        elif op[0] == "send":
            assert await s.send(bytes(op[1]), *op[2:]) == op[1]
        elif op[0] == "sendto":
            assert await s.sendto(bytes(op[1]), (peer, PORT)) == op[1]
        elif op[0] == "sendall":
            chunk = bytes(op[2])
            for _ in range(op[1] // op[2]):
                view = memoryview(chunk)
                while view:
                    view = view[await s.send(view) :]
        elif op[0] == "close":
            s.close()


async def _netsim_receive(
    host: netsim.Host, seq: Sequence, addr: str, ready: trio.Event
) -> list[int]:
    af = netsim.AF_INET if seq.family == 4 else netsim.AF_INET6
    if seq.proto == "tcp":
        listener = host.socket(af, netsim.SOCK_STREAM)
        await listener.bind((addr, PORT))
        listener.listen()
        ready.set()
        conn, _ = await listener.accept()
        total = 0
        while d := await conn.recv(16384):
            total += len(d)
        await trio.sleep(seq.close_delay)
        conn.close()
        listener.close()
        return [total]
    s = host.socket(af, netsim.SOCK_DGRAM)
    await s.bind((addr, PORT))
    ready.set()
    sizes: list[int] = []
    with trio.move_on_after(5):
        while len(sizes) < seq.expect:
            sizes.append(len(await s.recv(70000)))
    s.close()
    return sizes


def netsim_run(seq: Sequence, *, offloads: bool = False) -> tuple[list[Pkt], list[Any]]:
    """Run ``seq`` on two netsim hosts over a 1500-MTU link (or one host's loopback), on the
    virtual clock; returns the packets captured on the sender's device and what the receiver
    got.  ``offloads``: the link's devices do TSO and UDP GSO (and checksums), and the packets
    come from a tap that keeps ``gso_size``."""
    received: list[Any] = []
    pcap = io.BytesIO()
    tap = _GsoTap()

    async def main() -> None:
        async with (
            netsim.open_host(name="tx", seed=1) as a,
            netsim.open_host(name="rx", seed=2) as b,
        ):
            wire = netsim.link(
                a,
                b,
                mtu=MTU,
                addrs=(f"{ADDR[4][0]}/24", f"{ADDR[4][1]}/24"),
                addrs6=(f"{ADDR[6][0]}/64", f"{ADDR[6][1]}/64"),
                csum_offload=offloads,
            )
            if offloads:
                for d in (wire.dev_a, wire.dev_b):
                    d.features |= NETIF_F_TSO | NETIF_F_TSO6 | NETIF_F_GSO_UDP_L4 | NETIF_F_HW_CSUM
            rx_host = a if seq.loopback else b
            rx_addr = ADDR[seq.family][0 if seq.loopback else 1]
            dev = "lo" if seq.loopback else "eth0"
            ready = trio.Event()

            async def receive() -> None:
                received.extend(await _netsim_receive(rx_host, seq, rx_addr, ready))

            if offloads:
                a.devices[dev].taps.append(tap)
            with a.capture(pcap, dev):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(receive)
                    await ready.wait()
                    await _netsim_send(a, seq, rx_addr)
                await trio.sleep(1)  # the last ACKs, TIME_WAIT's start
            if offloads:
                a.devices[dev].taps.remove(tap)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    pkts = tap.pkts if offloads else _read_pcap(pcap.getvalue())
    return pkts, received


# --------------------------------------------------------------------------- comparisons

TCP_SYN, TCP_ACK = 0x02, 0x10
FAMILIES = pytest.mark.parametrize("family", [4, 6])


def _flow(pkts: list[Pkt]) -> list[Pkt]:
    """The packets of the sequence's flow (ours go to or come from :data:`PORT`; fragments
    after the first carry no ports)."""
    return [p for p in pkts if PORT in (p.sport, p.dport) or p.frag_off]


def _sent(pkts: list[Pkt]) -> list[Pkt]:
    """The sender's packets (to :data:`PORT`; on loopback both ends share the addresses)."""
    return [p for p in _flow(pkts) if p.dport == PORT or p.frag_off]


def _acks(pkts: list[Pkt]) -> list[Pkt]:
    return [p for p in _flow(pkts) if p.sport == PORT]


def _syn(pkts: list[Pkt], synack: bool) -> Pkt:
    want = TCP_SYN | (TCP_ACK if synack else 0)
    return next(p for p in _flow(pkts) if p.proto == 6 and p.flags & (TCP_SYN | TCP_ACK) == want)


def _syn_fields(p: Pkt) -> dict[str, Any]:
    """What a SYN or SYN-ACK must agree on: option kinds in order (NOPs included), MSS,
    window scale, SACK-permitted and timestamps present, the TSecr of a SYN, the window."""
    opts = dict(p.opts)
    return {
        "kinds": [k for k, _ in p.opts],
        "mss": struct.unpack("!H", opts[2])[0] if 2 in opts else None,
        "wscale": opts[3][0] if 3 in opts else None,
        "sack_perm": 4 in opts,
        "timestamps": 8 in opts,
        "tsecr_zero": struct.unpack("!II", opts[8])[1] == 0 if 8 in opts else None,
        "window": p.win,
        "ttl": p.ttl,
        "df": p.df,
    }


def _ip_fields(pkts: list[Pkt]) -> set[tuple[int, bool]]:
    """TTL / hop limit and DF of every packet of the flow."""
    return {(p.ttl, p.df) for p in _flow(pkts)}


def _check_flowlabels(pkts: list[Pkt]) -> None:
    """IPv6: every packet of a direction carries one non-zero flow label (the values differ
    between Linux and netsim by design: a different hash)."""
    for side in (_sent(pkts), _acks(pkts)):
        labels = {p.flowlabel for p in side}
        assert len(labels) <= 1, labels
        assert 0 not in labels


def _check_ids_follow_on(pkts: list[Pkt]) -> None:
    """IPv4, a connected socket: each packet's ID is the previous one's plus its number of
    segments (the socket's ``inet_id``; a GSO super-packet reserves one per segment)."""
    for a, b in itertools.pairwise(pkts):
        segs = -(-a.payload // a.gso_size) if a.gso_size else 1
        assert b.ip_id == ((a.ip_id or 0) + segs) & 0xFFFF, [p.ip_id for p in pkts]


def _segments(pkts: list[Pkt]) -> list[int]:
    """The sender's TCP payload sizes in order, retransmissions left out (a tail loss probe
    can fire on the real side while the receiver delays its ACK: timing)."""
    out = []
    high: int | None = None  # the highest sequence number sent so far
    for p in _sent(pkts):
        # new data starts at or after ``high`` (sequence arithmetic)
        new = high is None or (p.seq - high) & 0x80000000 == 0
        if p.proto == 6 and p.payload and new:
            out.append(p.payload)
            high = (p.seq + p.payload) & 0xFFFFFFFF
    return out


# --------------------------------------------------------------------------- TCP


def _tcp_common(real: list[Pkt], ours: list[Pkt], family: int) -> None:
    """Handshake, IP fields, flow labels: what every TCP sequence must agree on."""
    for synack in (False, True):
        assert _syn_fields(_syn(ours, synack)) == _syn_fields(_syn(real, synack)), synack
    # the window at the start: the client's ACK of the SYN-ACK carries its window scaled.
    # (The receiver's windows after data has arrived are not compared: they grow with the
    # truesize of what arrived, and a veth hands over the sender's own skb where netsim's
    # link device builds one from its receive buffers; see docs/yardstick.md.)
    first = [p.win for p in _sent(real) if not p.flags & TCP_SYN][:1]
    assert [p.win for p in _sent(ours) if not p.flags & TCP_SYN][:1] == first
    assert _ip_fields(ours) == _ip_fields(real)
    if family == 6:
        _check_flowlabels(real)
        _check_flowlabels(ours)
    else:
        # the client's IDs run on from its inet_id, one per segment, up to its FIN (an ACK
        # after it may come from a timewait socket: see test_ipv4_id_without_a_full_socket)
        for pkts in (real, ours):
            sent = _sent(pkts)
            fin = next(i for i, p in enumerate(sent) if p.flags & 0x01)
            _check_ids_follow_on(sent[: fin + 1])


@FAMILIES
def test_tcp_bulk_16k_writes_veth(veth: Namespaces, family: int) -> None:
    """netcat-style: 2 MiB in 16 KiB writes over the 1500-MTU veth, TSO/GSO/GRO off, so the
    capture shows the segments: the handshake agrees field by field; the segment sizes as a
    distribution (the MSS equal, none above it, nearly all full-sized)."""
    total = 2 << 20
    seq = Sequence("tcp", family, [["connect"], ["sendall", total, 16384], ["close"]])
    ours, ours_rx = netsim_run(seq)
    _offloads(veth, False)
    real, real_rx = real_run(veth, seq)
    assert ours_rx == real_rx == [total]
    _tcp_common(real, ours, family)
    mss = MTU - (40 if family == 4 else 60) - 12  # timestamps on every segment
    for segs in (_segments(real), _segments(ours)):
        assert sum(segs) == total
        assert max(segs) == mss
        assert sum(s == mss for s in segs) / len(segs) > 0.9, segs
    # how many segments: within 5 % (the sub-MSS ones fall where a write ends as the queue
    # runs dry, which depends on timing)
    assert abs(len(_segments(ours)) - len(_segments(real))) <= 0.05 * len(_segments(real))


@FAMILIES
def test_tcp_corked_small_writes(veth: Namespaces, family: int) -> None:
    """``TCP_CORK``, three 100-byte writes, uncork: one 300-byte segment on both."""
    cork = [["setsockopt", netsim.SOL_TCP, netsim.TCP_CORK, 1]]
    uncork = [["setsockopt", netsim.SOL_TCP, netsim.TCP_CORK, 0]]
    ops: list[list[Any]] = [["connect"], *cork, *[["send", 100, 0]] * 3, *uncork, ["close"]]
    seq = Sequence("tcp", family, ops)
    ours, ours_rx = netsim_run(seq)
    _offloads(veth, False)
    real, real_rx = real_run(veth, seq)
    assert ours_rx == real_rx == [300]
    _tcp_common(real, ours, family)
    assert _segments(ours) == _segments(real) == [300]


@FAMILIES
def test_tcp_loopback_8mib(veth: Namespaces, family: int) -> None:
    """netcat over loopback: 8 MiB in 16 KiB writes, both ends on ``lo`` (MTU 65536, TSO
    on), captured there.  The handshake (MSS option 65495 / 65476) agrees; the super-packet sizes do
    not and are not compared: the kernel's depend on how far the real reader lags (see
    docs/yardstick.md), netsim's reader keeps up in virtual time."""
    total = 8 << 20
    seq = Sequence("tcp", family, [["connect"], ["sendall", total, 16384], ["close"]])
    seq.loopback = True
    ours, ours_rx = netsim_run(seq)
    real, real_rx = real_run(veth, seq)
    assert ours_rx == real_rx == [total]
    _tcp_common(real, ours, family)
    # the MSS option: lo's MTU 65536 less the headers, capped at 65535 - 40 (IPv4)
    assert _syn_fields(_syn(real, False))["mss"] == (65495 if family == 4 else 65476)
    for segs in (_segments(real), _segments(ours)):
        assert sum(segs) == total
        assert max(segs) <= 65536 - (40 if family == 4 else 60) - 12


@FAMILIES
def test_tcp_tso_super_packets(veth: Namespaces, family: int) -> None:
    """TSO on (the veth's default; netsim's link given ``NETIF_F_TSO``/``TSO6``): the
    super-packets at the sender's tap carry ``gso_size`` = the MSS and the TCP GSO type, and
    every one's payload is a whole number of MSS but the last."""
    total = 1 << 20
    seq = Sequence("tcp", family, [["connect"], ["sendall", total, 16384], ["close"]])
    ours, ours_rx = netsim_run(seq, offloads=True)
    _offloads(veth, True)
    real, real_rx = real_run(veth, seq)
    assert ours_rx == real_rx == [total]
    _tcp_common(real, ours, family)
    mss = MTU - (40 if family == 4 else 60) - 12
    gso_type = 1 if family == 4 else 1 << 4  # SKB_GSO_TCPV4 / SKB_GSO_TCPV6
    for pkts in (real, ours):
        supers = [p for p in _sent(pkts) if p.gso_size]
        assert supers, "no super-packet"
        assert {(p.gso_size, p.gso_type) for p in supers} == {(mss, gso_type)}
        assert sum(_segments(pkts)) == total
        assert max(_segments(pkts)) <= 65535


def test_ipv4_id_without_a_full_socket(veth: Namespaces) -> None:
    """Packets Linux sends without a full socket carry IPv4 ID 0 (DF set, no connected
    socket): the SYN-ACK (``ip_build_and_send_pkt()``, a request socket) and the ACK of the
    peer's FIN from an orphaned FIN_WAIT2 connection, which ``tcp_rcv_state_process`` has
    already turned into a timewait socket (``tcp_v4_timewait_ack`` → ``ip_send_unicast_reply``
    on the per-CPU control socket).  netsim does both the same way."""
    # the receiver waits before closing, so its ACK of our FIN comes first (FIN_WAIT2) and
    # its FIN alone later
    seq = Sequence("tcp", 4, [["connect"], ["send", 10, 0], ["close"]], close_delay=0.2)
    ours, _ = netsim_run(seq)
    _offloads(veth, False)
    real, _ = real_run(veth, seq)
    assert [p.flags for p in _sent(real)][-2:] == [0x11, 0x10]  # FIN, then the last ACK
    assert (_syn(real, True).ip_id, _sent(real)[-1].ip_id) == (0, 0)
    assert [p.flags for p in _sent(ours)][-2:] == [0x11, 0x10]
    assert (_syn(ours, True).ip_id, _sent(ours)[-1].ip_id) == (0, 0)
    # the connection's own packets number from its inet_id, on both
    for pkts in (real, ours):
        assert all(p.ip_id != 0 for p in _sent(pkts)[1:-1])


# --------------------------------------------------------------------------- UDP


def _datagrams(pkts: list[Pkt]) -> list[list[tuple[Any, ...]]]:
    """The sender's datagrams, each as its fragments' (offset, MF, payload bytes, DF, TTL,
    UDP length of the first)."""
    out: list[list[tuple[Any, ...]]] = []
    for p in _sent(pkts):
        if p.frag_off == 0:
            out.append([])
        out[-1].append((p.frag_off, p.mf, p.payload, p.df, p.ttl, p.udp_len))
    return out


def _ids(pkts: list[Pkt]) -> list[set[int | None]]:
    """The IDs of each datagram's packets (IPv4 header / IPv6 fragment header)."""
    out: list[set[int | None]] = []
    for p in _sent(pkts):
        if p.frag_off == 0:
            out.append(set())
        out[-1].add(p.ip_id)
    return out


@FAMILIES
def test_udp_datagrams_and_fragments(veth: Namespaces, family: int) -> None:
    """UDP datagrams of 1,000, 20,000 and 65,000 bytes from an unconnected socket over the
    1500-MTU veth: the same fragments (offsets, sizes, MF), DF only on the unfragmented one
    (IPv4), one ID per datagram shared by its fragments, a new one per datagram; IPv6: a
    fragment header only where fragmented."""
    sizes = [1000, 20000, 65000]
    seq = Sequence("udp", family, [["sendto", n] for n in sizes], expect=len(sizes))
    ours, ours_rx = netsim_run(seq)
    _offloads(veth, False)
    real, real_rx = real_run(veth, seq)
    assert ours_rx == real_rx == sizes
    assert _datagrams(ours) == _datagrams(real)
    for pkts in (real, ours):
        ids = _ids(pkts)
        assert all(len(one) == 1 for one in ids), ids
        if family == 6:
            assert ids[0] == {None}  # no fragment header
            ids = ids[1:]
        assert len({next(iter(one)) for one in ids}) == len(ids)  # one ID each
        if family == 4:
            # not 0, though DF is set on the 1000-byte one: the socket is unconnected and may
            # fragment locally (skb->ignore_df), so ip_select_ident hashes one
            assert all(next(iter(one)) for one in ids)
    if family == 6:
        _check_flowlabels(real)
        _check_flowlabels(ours)


@FAMILIES
def test_udp_segment_gso_off(veth: Namespaces, family: int) -> None:
    """``UDP_SEGMENT`` 1400 on a connected socket, one 14,100-byte send, GSO off on the
    veth: ten 1400-byte datagrams and a 100-byte one on both, IDs one apart (IPv4)."""
    ops: list[list[Any]] = [
        ["connect"],
        ["setsockopt", netsim.SOL_UDP, netsim.UDP_SEGMENT, 1400],
        ["send", 14100],
    ]
    seq = Sequence("udp", family, ops, expect=11)
    ours, ours_rx = netsim_run(seq)
    _offloads(veth, False)
    real, real_rx = real_run(veth, seq)
    assert ours_rx == real_rx == [1400] * 10 + [100]
    assert _datagrams(ours) == _datagrams(real)
    if family == 4:
        _check_ids_follow_on(_sent(real))
        _check_ids_follow_on(_sent(ours))
    else:
        _check_flowlabels(real)
        _check_flowlabels(ours)


@FAMILIES
def test_udp_segment_gso_on(veth: Namespaces, family: int) -> None:
    """The same with UDP GSO on (``tx-udp-segmentation``; netsim's link given
    ``NETIF_F_GSO_UDP_L4``): one super-packet at the sender's tap, of the whole length,
    ``gso_size`` 1400, ``SKB_GSO_UDP_L4``.  Linux's receiver still gets eleven datagrams (the
    veth hands the skb over whole and ``udp_rcv`` segments it); netsim's link carries bytes,
    so its receiver gets one 14,100-byte datagram (docs/yardstick.md)."""
    ops: list[list[Any]] = [
        ["connect"],
        ["setsockopt", netsim.SOL_UDP, netsim.UDP_SEGMENT, 1400],
        ["send", 14100],
    ]
    seq = Sequence("udp", family, ops, expect=11)
    ours, ours_rx = netsim_run(seq, offloads=True)
    _offloads(veth, True)
    real, real_rx = real_run(veth, seq)
    assert real_rx == [1400] * 10 + [100]
    assert sum(ours_rx) == 14100
    assert _datagrams(ours) == _datagrams(real)
    shape = [(p.gso_size, p.gso_type) for p in _sent(real)]
    assert shape == [(1400, 1 << 17)]
    assert [(p.gso_size, p.gso_type) for p in _sent(ours)] == shape
