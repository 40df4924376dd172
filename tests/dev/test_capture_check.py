"""The capture switch (netsim.testing.capture, ``--netsim-capture``): every device of every
host is captured without the test doing anything — devices registered after the host opened
included — and tshark's reading of the files finds what is wrong in them, file by file or
many files to a tshark run, and allows only what the test's faults or markers explain.

The emulated runs happen first, under virtual time; tshark runs afterwards."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

import dpkt
import pytest
import trio
import trio.testing

import netsim
from netsim.dev import FaultPlan, Link, PcapWriter
from netsim.runtime.host import host_hook
from netsim.testing import capture
from netsim.testing.capture import CaptureFile, capture_hosts
from netsim.wire.checksum import csum_add, csum_fold, csum_partial
from netsim.wire.ipv4 import ip4_pseudo_csum
from netsim.wire.ipv6 import ip6_pseudo_csum

TSHARK = capture.find_tshark()
needs_tshark = pytest.mark.skipif(
    TSHARK is None, reason="tshark not installed (apt-get install tshark)"
)
PAYLOAD = bytes(range(256)) * 80


def _run(fn: Callable[[], Awaitable[object]]) -> None:
    trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


async def _tcp_echo_once(a: netsim.Host, b: netsim.Host, family: int, dst: str) -> None:
    listener = b.socket(family)
    await listener.bind((dst, 0))
    listener.listen()
    client = a.socket(family)
    await client.connect(listener.getsockname()[:2])
    server, _ = await listener.accept()
    sent = 0
    while sent < len(PAYLOAD):
        sent += await client.send(PAYLOAD[sent:])
    got = b""
    while len(got) < len(PAYLOAD):
        got += await server.recv(65536)
    assert got == PAYLOAD
    for sock in (client, server, listener):
        sock.close()


async def _traffic() -> None:
    """Two hosts: a link made after they opened (``netsim.link``), a second one registered
    by hand (``net.add_device``), TCP and UDP both ways, ICMP errors, loopback."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b)
        extra = Link(a.net, b.net, names=("eth9", "eth9"))
        a.net.add_device(extra.dev_a, ["10.9.0.1/24"])
        b.net.add_device(extra.dev_b, ["10.9.0.2/24"])
        await _tcp_echo_once(a, b, netsim.AF_INET, "10.0.0.2")
        await _tcp_echo_once(a, b, netsim.AF_INET6, "fd00::2")
        rx = b.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
        await rx.bind(("10.9.0.2", 9000))
        for family, dst, size in (
            (netsim.AF_INET, "10.0.0.2", 3000),  # nobody listens: ICMP port unreachable
            (netsim.AF_INET6, "fd00::2", 3000),  # ICMPv6
            (netsim.AF_INET, "127.0.0.1", 100),  # on loopback, quoted whole by the error
            (netsim.AF_INET, "10.9.0.2", 3000),  # over the link registered by hand
        ):
            tx = a.socket(family, netsim.SOCK_DGRAM)
            await tx.sendto(PAYLOAD[:size], (dst, 9000))
            await trio.sleep(0.01)
            tx.close()
        assert await rx.recv(65536) == PAYLOAD[:3000]
        rx.close()


@pytest.fixture
def captures(tmp_path: Path) -> list[CaptureFile]:
    with capture_hosts(tmp_path / "run") as files:
        _run(_traffic)
    return files


def _records(path: Path) -> list[bytes]:
    with path.open("rb") as fh:
        return [bytes(buf) for _, buf in dpkt.pcap.Reader(fh)]


# -- capturing ----------------------------------------------------------------------------------


def test_every_device_is_captured_including_those_registered_later(
    captures: list[CaptureFile],
) -> None:
    names = sorted(f.path.name for f in captures)
    # b's loopback carried nothing: its file is gone
    assert names == [
        "001-a-eth0.pcap",
        "001-a-eth9.pcap",
        "001-a-lo.pcap",
        "002-b-eth0.pcap",
        "002-b-eth9.pcap",
    ]
    assert sorted(p.name for p in captures[0].path.parent.iterdir()) == names
    for f in captures:
        assert f.records == len(_records(f.path)) > 0
        assert f.error is None
        assert f.faults == set()
        assert f.group == 1  # the two hosts were open together
        assert f.dev_kind == ("loopback" if f.dev == "lo" else "link")
    by_name = {f.path.name: f for f in captures}
    # what a sends on a link is what b receives there, and the reverse
    assert by_name["001-a-eth0.pcap"].records == by_name["002-b-eth0.pcap"].records
    assert len(_records(by_name["002-b-eth9.pcap"].path)) == 3  # 3000 bytes: three fragments


def test_the_hook_ends_with_its_block(tmp_path: Path) -> None:
    async def one_host() -> None:
        async with netsim.open_host() as host:
            tx = host.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
            await tx.sendto(b"x", ("127.0.0.1", 9))
            tx.close()

    with capture_hosts(tmp_path / "on") as files:
        _run(one_host)
        _run(one_host)
    _run(one_host)  # not captured
    assert [(f.path.name, f.group) for f in files] == [
        ("001-host-lo.pcap", 1),
        ("002-host-lo.pcap", 2),  # opened after the first closed: a group of its own
    ]
    assert len(list((tmp_path / "on").iterdir())) == 2


def test_watch_devices_and_host_hooks() -> None:
    seen: list[str] = []
    order: list[str] = []

    class Exit:
        def __init__(self, host: netsim.Host) -> None:
            self.host = host

        def __enter__(self) -> None:
            order.append("enter")

        def __exit__(self, *exc: object) -> None:
            assert self.host.closed, "the hook's exit comes after the host's last packet"
            order.append("exit")

    def hook(host: netsim.Host) -> Exit:
        unwatch = host.watch_devices(lambda dev: seen.append(f"{host.name}:{dev.name}"))
        if host.name == "b":
            unwatch()
        return Exit(host)

    async def main() -> None:
        async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
            assert seen == ["a:lo", "b:lo"]
            netsim.link(a, b)
            assert seen == ["a:lo", "b:lo", "a:eth0"]  # b stopped watching
            assert isinstance(a.devices, dict)

    with host_hook(hook):
        _run(main)
    assert order == ["enter", "enter", "exit", "exit"]
    seen.clear()
    with pytest.raises(AssertionError):
        _run(main)  # the hook is gone: nobody watches
    assert seen == []
    assert order == ["enter", "enter", "exit", "exit"]


def test_each_capture_notes_the_faults_its_traffic_met(tmp_path: Path) -> None:
    async def main() -> None:
        async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
            wire = netsim.link(a, b)
            wire.dev_a.set_faults(FaultPlan(duplicate=0.5, corrupt=0.5, seed=3))
            rx = b.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
            await rx.bind(("", 9000))
            tx = a.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
            for _ in range(20):
                await tx.sendto(b"datagram", ("10.0.0.2", 9000))
            await trio.sleep(0.01)
            wire.dev_b.up = False  # b drops what arrives from now on: the "drop" fault
            await tx.sendto(b"lost", ("10.0.0.2", 9000))
            await trio.sleep(0.01)
            for sock in (rx, tx):
                sock.close()

    with capture_hosts(tmp_path) as files:
        _run(main)
    faults = {f.path.name: f.faults for f in files}
    # a sends through the plan; b receives what it did, corruption included
    assert faults["001-a-eth0.pcap"] == {"duplicate", "corrupt_sent"}
    assert faults["002-b-eth0.pcap"] == {"duplicate", "corrupt", "drop"}


# -- addresses of their own, checksums unchanged ------------------------------------------------


def _sums_ok(packet: bytes) -> list[bool]:
    """Whether each checksum of ``packet`` verifies: the IPv4 header's, then TCP's, UDP's
    (the whole datagram, first fragment only) or ICMP's / ICMPv6's."""
    out = []
    if packet[0] >> 4 == 4:
        ihl = (packet[0] & 0x0F) * 4
        out.append(csum_fold(csum_partial(packet[:ihl])) == 0)
        proto, body = packet[9], packet[ihl:]
        fragment = packet[6] & 0x3F or packet[7]
        if fragment:
            return out
        if proto in (6, 17):
            pseudo = ip4_pseudo_csum(packet[12:16], packet[16:20], len(body), proto)
            out.append(csum_fold(csum_add(pseudo, csum_partial(body))) == 0)
        elif proto == 1:
            out.append(csum_fold(csum_partial(body)) == 0)
    else:
        proto, body = packet[6], packet[40:]
        if proto in (6, 17, 58):
            pseudo = ip6_pseudo_csum(packet[8:24], packet[24:40], len(body), proto)
            out.append(csum_fold(csum_add(pseudo, csum_partial(body))) == 0)
    return out


@pytest.mark.parametrize("d", [1, 2, 77, 255])
def test_shifted_addresses_keep_every_checksum(captures: list[CaptureFile], d: int) -> None:
    packets = [p for f in captures for p in _records(f.path)]
    quoted = 0
    for packet in packets:
        shifted = bytearray(packet)
        capture.shift_addresses(memoryview(shifted), d)
        assert _sums_ok(bytes(shifted)) == _sums_ok(packet)
        if packet[0] >> 4 == 4:
            assert shifted[12:20] != packet[12:20]
            if packet[9] == 1 and packet[20] == 3:  # the packet an ICMP error quotes
                quoted += 1
                assert shifted[40:48] != packet[40:48]
        else:
            assert shifted[8:40] != packet[8:40]
            assert shifted[:8] == packet[:8]
            if packet[6] == 58 and packet[40] == 1:
                quoted += 1
                assert shifted[56:88] != packet[56:88]
        # nothing else moves
        assert len(shifted) == len(packet)
        assert sum(a != b for a, b in zip(shifted, packet, strict=True)) <= 16 * 2
    assert quoted >= 3  # ICMP on the link and on loopback, ICMPv6
    assert all(all(_sums_ok(p)) for f in captures if f.dev != "lo" for p in _records(f.path))


# -- reading them with tshark -------------------------------------------------------------------


def _ip4(proto: int, payload: bytes, *, header_sum: bool = True) -> bytes:
    header = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, proto, 0,
            bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]),
        )
    )  # fmt: skip
    if header_sum:
        header[10:12] = csum_fold(csum_partial(bytes(header))).to_bytes(2, "big")
    return bytes(header) + payload


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    """A capture written by hand: a UDP datagram with a wrong checksum, a TCP header cut
    short, an IPv4 header whose checksum is zero."""
    path = tmp_path / "damaged.pcap"
    udp = struct.pack("!HHHH", 1000, 2000, 12, 0x1234) + b"abcd"
    with PcapWriter(path.open("wb")) as writer:
        writer.write(1.0, _ip4(17, udp))
        writer.write(1.5, _ip4(6, bytes(10)))
        writer.write(2.0, _ip4(17, struct.pack("!HHHH", 1, 2, 8, 0), header_sum=False))
    return path


@needs_tshark
def test_tshark_finds_the_damage(damaged: Path) -> None:
    findings = capture.check_pcap(damaged)
    assert [(f.frame, f.kind, f.group) for f in findings] == [
        (1, "udp.checksum.bad", "Checksum"),
        (2, "_ws.malformed", "Malformed"),
        (3, "ip.checksum_bad.expert", "Checksum"),
    ]
    where = CaptureFile(damaged, "h", "eth0", "link")
    judged = capture.judge(findings, where, ["group:Checksum"])
    assert [why for _, why in judged] == [
        "allowed: group:Checksum",
        None,
        "allowed: group:Checksum",
    ]
    assert capture.allowed(findings[1], ["tcp.*", "_ws.*"]) == "_ws.*"


@needs_tshark
def test_netsims_own_captures_are_clean(captures: list[CaptureFile]) -> None:
    results = capture.check_pcaps([f.path for f in captures], batch=False)
    for f in captures:
        found = results[f.path]
        assert isinstance(found, list)
        judged = capture.judge(found, f, [])
        assert [j for j in judged if j[1] is None] == [], f.path.name
        if f.dev == "lo":
            # the ICMP error quotes the CHECKSUM_PARTIAL datagram as it was received
            assert [j[0].kind for j in judged] == ["udp.checksum.bad"]
            assert judged[0][0].quoted
            assert "CHECKSUM_PARTIAL" in str(judged[0][1])
        else:
            assert found == [], f.path.name


@needs_tshark
def test_a_batch_finds_what_each_file_alone_does(
    captures: list[CaptureFile], damaged: Path, tmp_path: Path
) -> None:
    """Copies of the same captures (same addresses, same ports, same sequence numbers) read in
    one tshark run: no connection runs into its twin, every finding maps back to its file and
    frame; a file that is no capture at all is read alone and reported alone."""
    paths = [f.path for f in captures]
    copies = []
    for n in range(2):
        for path in [*paths, damaged]:
            copy = tmp_path / f"copy{n}-{path.name}"
            shutil.copy(path, copy)
            copies.append(copy)
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"not a capture at all")
    every = [*copies, garbage]
    one_by_one = capture.check_pcaps(every, batch=False, jobs=2)
    batched = capture.check_pcaps(every, batch=True, jobs=2)
    assert isinstance(batched[garbage], capture.TsharkError)
    assert isinstance(one_by_one[garbage], capture.TsharkError)
    for path in copies:
        assert batched[path] == one_by_one[path], path.name
    damage = batched[tmp_path / "copy1-damaged.pcap"]
    assert isinstance(damage, list)
    assert [(f.path.name, f.frame) for f in damage] == [
        ("copy1-damaged.pcap", n) for n in (1, 2, 3)
    ]


def test_allowances() -> None:
    assert capture.fault_allowances([]) == ()
    assert capture.fault_allowances(["loss", "drop"]) == capture.LOSS_EXPLAINS
    assert capture.fault_allowances(["corrupt"]) == ("*",)
    finding = capture.Finding(Path("x.pcap"), 3, "tcp.analysis.keep_alive", "Note", "Sequence", "")
    where = CaptureFile(Path("x.pcap"), "h", "lo", "loopback")
    assert capture.explained(finding, where, [finding]) is None
    zero = capture.Finding(Path("x.pcap"), 2, "tcp.analysis.zero_window", "Warning", "Sequence", "")
    assert capture.explained(zero, where, [zero]) == "flow control"
    assert "zero-window probe" in str(capture.explained(finding, where, [zero, finding]))


# -- the pytest plugin --------------------------------------------------------------------------

_INNER_TESTS = '''
import pytest
import trio
import trio.testing

import netsim
from netsim.testing.allow import SIMULTANEOUS_OPEN


def run(fn):
    trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


async def syn_resent(faults=None):
    """A SYN whose answer is 10 s away is sent again after 1 s."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b, delay=10.0, faults=faults)
        sock = a.socket()
        with trio.move_on_after(1.5):
            await sock.connect(("10.0.0.2", 80))
        sock.close()


def test_unexpected():
    run(syn_resent)


@pytest.mark.netsim_capture_allow("tcp.analysis.retransmission", reason="the SYN is late")
def test_declared():
    run(syn_resent)


def test_faulty():
    run(lambda: syn_resent(netsim.FaultPlan(jitter=0.001)))


@pytest.mark.netsim_no_capture(reason="not this one")
def test_left_alone():
    run(syn_resent)


@SIMULTANEOUS_OPEN  # a ready-made marker (its kind: a retransmission)
def test_ready_made():
    run(syn_resent)
'''


@pytest.fixture
def inner(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A project of five tests, and the environment to run pytest on it with this netsim."""
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(_INNER_TESTS))
    root = str(Path(netsim.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    env.pop("NETSIM_CAPTURE_DIR", None)
    return tmp_path, env


def _pytest(where: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--strict-markers", *args],
        cwd=where, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@needs_tshark
def test_the_switch_reports_only_what_a_test_does_not_allow(
    inner: tuple[Path, dict[str, str]],
) -> None:
    where, env = inner
    out = where / "captures"
    result = _pytest(where, env, f"--netsim-capture={out}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "5 passed" in result.stdout
    assert "1 test wrote captures with findings they do not allow" in result.stdout
    assert "test_inner.py::test_unexpected\n" in result.stdout
    assert "tcp.analysis.retransmission" in result.stdout
    for name in ("test_declared", "test_faulty", "test_left_alone", "test_ready_made"):
        assert f"test_inner.py::{name}\n" not in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "netsim-capture-report.json",
        "test_inner.py_test_declared",
        "test_inner.py_test_faulty",
        "test_inner.py_test_ready_made",
        "test_inner.py_test_unexpected",
    ]
    report = json.loads((out / "netsim-capture-report.json").read_text())
    why = {
        (entry["test"].split("::")[1], Path(entry["file"]).name): [
            f["why"] for f in entry["findings"]
        ]
        for entry in report
    }
    assert why[("test_unexpected", "001-a-eth0.pcap")] == [None]
    assert why[("test_declared", "001-a-eth0.pcap")] == ["allowed: tcp.analysis.retransmission"]
    assert why[("test_faulty", "001-a-eth0.pcap")] == ["allowed: tcp.analysis.*"]
    assert why[("test_ready_made", "001-a-eth0.pcap")] == ["allowed: tcp.analysis.retransmission"]


def test_the_switch_without_a_check(inner: tuple[Path, dict[str, str]]) -> None:
    where, env = inner
    off = _pytest(where, env, f"--netsim-capture={where / 'off'}", "--netsim-capture-check=off")
    assert off.returncode == 0, off.stdout + off.stderr
    assert "captures (" in off.stdout
    assert "not checked" in off.stdout
    assert (where / "off" / "test_inner.py_test_unexpected" / "001-a-eth0.pcap").exists()
    env = {**env, "NETSIM_TSHARK": str(where / "no-such-tshark"), "NETSIM_CAPTURE_DIR": "cap"}
    absent = _pytest(where, env)
    assert absent.returncode == 0, absent.stdout + absent.stderr
    assert "tshark check SKIPPED: tshark not found" in absent.stdout
    assert (where / "cap" / "test_inner.py_test_faulty").is_dir()
