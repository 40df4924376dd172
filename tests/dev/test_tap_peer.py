"""The real Linux kernel as netsim's peer, over a TAP device (issue 15, item 3).

A netsim host sits on a TAP interface (``netsim.runtime.tap.open_tap_link``) whose kernel side
lives in a network namespace the test creates, with 198.18.0.1/24 and fd00:198:18::1/64
(netsim: .2 and ::2).  A real socket in that namespace — a Python process started with
``ip netns exec`` — exchanges data with a netsim socket: TCP in both directions (the kernel
connecting to netsim, netsim connecting to the kernel), UDP datagrams echoed (fragmented ones
included), over IPv4 and IPv6, byte-exact.  ARP and IPv6 neighbour discovery are answered by
netsim's device.

Real I/O: these tests run trio with its real clock (no autojump) and time limits.  They need
root, ``/dev/net/tun`` and ``ip`` (iproute2); elsewhere they skip with the reason.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
import uuid

import pytest
import trio

import netsim
from netsim.runtime.tap import TUN_PATH

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CAP_NET_ADMIN) for TAP and netns"),
    pytest.mark.skipif(not os.path.exists(TUN_PATH), reason=f"no {TUN_PATH}"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2's ip"),
]

ADDR = {4: ("198.18.0.1", "198.18.0.2"), 6: ("fd00:198:18::1", "fd00:198:18::2")}
PORT = 5000
TIMEOUT = 20.0

#: the kernel's side, run in the namespace: argv = mode family peer port [sizes...]
PEER = r"""
import hashlib, socket, sys
mode, fam, peer, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
af = socket.AF_INET if fam == 4 else socket.AF_INET6
def pattern(n, seed):
    import random
    return random.Random(seed).randbytes(n)
def recv_all(s):
    out = bytearray()
    while True:
        d = s.recv(65536)
        if not d:
            return bytes(out)
        out += d
if mode == "tcp-connect":
    s = socket.create_connection((peer, port), timeout=10)
    s.sendall(pattern(300_000, 1))
    s.shutdown(socket.SHUT_WR)
    print(hashlib.sha256(recv_all(s)).hexdigest())
elif mode == "tcp-listen":
    l = socket.socket(af, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("::" if fam == 6 else "0.0.0.0", port))
    l.listen()
    print("listening", flush=True)
    l.settimeout(10)
    s, _ = l.accept()
    s.settimeout(10)
    got = recv_all(s)
    s.sendall(pattern(200_000, 2))
    s.close()
    print(hashlib.sha256(got).hexdigest())
elif mode == "udp":
    s = socket.socket(af, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.connect((peer, port))
    ok = 0
    for n in map(int, sys.argv[5:]):
        data = pattern(n, n)
        s.send(data)
        echo = s.recv(65536)
        ok += echo == data
    print(ok)
"""


def _pattern(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


async def _peer(netns: str, *args: str) -> trio.Process:
    proc = await trio.lowlevel.open_process(
        ["ip", "netns", "exec", netns, sys.executable, "-c", PEER, *args],
        stdout=subprocess.PIPE,
    )
    _PROCS.append(proc)
    return proc


_PROCS: list[trio.Process] = []


async def _read_line(proc: trio.Process) -> str:
    assert proc.stdout is not None
    out = b""
    while not out.endswith(b"\n"):
        chunk = await proc.stdout.receive_some(4096)
        if not chunk:
            break
        out += chunk
    return out.decode().strip()


async def _send_all(sock: netsim.Socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[await sock.send(view) :]


async def _recv_all(sock: netsim.Socket) -> bytes:
    out = bytearray()
    while chunk := await sock.recv(65536):
        out += chunk
    return bytes(out)


def _run(netns: str, family: int, body: object) -> None:
    async def main() -> None:
        try:
            async with (
                netsim.open_host() as host,
                netsim.open_tap_link(host, f"t{uuid.uuid4().hex[:12]}", netns=netns) as link,
            ):
                with trio.fail_after(TIMEOUT):
                    await body(host, link)  # type: ignore[operator]
        finally:
            with trio.CancelScope(shield=True):
                while _PROCS:
                    proc = _PROCS.pop()
                    if proc.returncode is None:
                        proc.kill()
                    await proc.wait()
                    if proc.stdout is not None:
                        await proc.stdout.aclose()

    trio.run(main)


@pytest.mark.parametrize("family", [4, 6])
def test_kernel_connects_to_netsim(netns: str, family: int) -> None:
    """The kernel's TCP connects to a netsim listener; each side sends, both get exact bytes."""
    kernel, ours = ADDR[family]
    af = netsim.AF_INET if family == 4 else netsim.AF_INET6

    async def body(host: netsim.Host, link: object) -> None:
        listener = host.socket(af)
        await listener.bind((ours, PORT))
        listener.listen()
        proc = await _peer(netns, "tcp-connect", str(family), ours, str(PORT))
        conn, addr = await listener.accept()
        assert addr[0] == kernel
        assert await _recv_all(conn) == _pattern(300_000, 1)
        reply = _pattern(250_000, 3)
        await _send_all(conn, reply)
        conn.close()
        listener.close()
        assert await _read_line(proc) == hashlib.sha256(reply).hexdigest()
        assert await proc.wait() == 0

    _run(netns, family, body)


@pytest.mark.parametrize("family", [4, 6])
def test_netsim_connects_to_kernel(netns: str, family: int) -> None:
    """A netsim socket connects to the kernel's listener (netsim resolves the kernel's MAC
    with ARP or a neighbour solicitation first)."""
    kernel, _ = ADDR[family]
    af = netsim.AF_INET if family == 4 else netsim.AF_INET6

    async def body(host: netsim.Host, link: object) -> None:
        proc = await _peer(netns, "tcp-listen", str(family), kernel, str(PORT))
        assert await _read_line(proc) == "listening"
        sock = host.socket(af)
        await sock.connect((kernel, PORT))
        sent = _pattern(180_000, 4)
        await _send_all(sock, sent)
        sock.shutdown(netsim.SHUT_WR)
        assert await _recv_all(sock) == _pattern(200_000, 2)
        sock.close()
        assert await _read_line(proc) == hashlib.sha256(sent).hexdigest()
        assert await proc.wait() == 0
        dev = host.devices["eth0"]
        assert dev.arp_requests_sent + dev.ndisc_ns_sent >= 1  # type: ignore[attr-defined]

    _run(netns, family, body)


@pytest.mark.parametrize("family", [4, 6])
def test_udp_echo_with_fragments(netns: str, family: int) -> None:
    """The kernel sends datagrams (one over 1500 bytes is fragmented by the kernel and
    reassembled by netsim; its echo is fragmented by netsim and reassembled by the kernel)."""
    _, ours = ADDR[family]
    af = netsim.AF_INET if family == 4 else netsim.AF_INET6
    sizes = ["1", "1000", "1400", "8000", "60000"]

    async def body(host: netsim.Host, link: object) -> None:
        sock = host.socket(af, netsim.SOCK_DGRAM)
        await sock.bind((ours, PORT))
        proc = await _peer(netns, "udp", str(family), ours, str(PORT), *sizes)
        for _ in sizes:
            data, addr = await sock.recvfrom(65536)
            await sock.sendto(data, addr)
        sock.close()
        assert await _read_line(proc) == str(len(sizes))
        assert await proc.wait() == 0
        stats = host.stats()
        assert stats["IpReasmOKs" if family == 4 else "Ip6ReasmOKs"] >= 2
        assert stats["IpFragCreates" if family == 4 else "Ip6FragCreates"] >= 2

    _run(netns, family, body)
