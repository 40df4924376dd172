"""Captures netsim writes, read by tools we did not write: tshark (with checksum validation)
and dpkt.  The emulated run happens first, under virtual time; tshark runs afterwards."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import dpkt
import pytest
import trio
import trio.testing

import netsim

TSHARK = shutil.which("tshark")
CHECKS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]


async def _traffic(pcap_a: Path, pcap_lo: Path) -> None:
    payload = bytes(range(256)) * 160
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b, mtu=1500)
        with a.capture(str(pcap_a), "eth0"), b.capture(str(pcap_lo), "lo"):
            for family, dst in ((netsim.AF_INET, "10.0.0.2"), (netsim.AF_INET6, "fd00::2")):
                rx = b.socket(family, netsim.SOCK_DGRAM)
                await rx.bind(("", 9000))
                tx = a.socket(family, netsim.SOCK_DGRAM)
                for size in (1, 1472, 1473, 40000):
                    await tx.sendto(payload[:size], (dst, 9000))
                    assert await rx.recv(65536) == payload[:size]
                rx.close()
                # nobody listens any more: the reply is an ICMP port unreachable
                await tx.sendto(b"late", (dst, 9000))
            lo_tx = b.socket(netsim.AF_INET6, netsim.SOCK_DGRAM)
            lo_rx = b.socket(netsim.AF_INET6, netsim.SOCK_DGRAM)
            await lo_rx.bind(("::1", 9001))
            await lo_tx.sendto(payload[:30000], ("::1", 9001))
            assert await lo_rx.recv(65536) == payload[:30000]


@pytest.fixture
def captures(tmp_path: Path) -> tuple[Path, Path]:
    """Run the traffic in its own trio run, on virtual time, before any tool looks at it."""
    pcap_a, pcap_lo = tmp_path / "a-eth0.pcap", tmp_path / "b-lo.pcap"
    trio.run(_traffic, pcap_a, pcap_lo, clock=trio.testing.MockClock(autojump_threshold=0))
    return pcap_a, pcap_lo


def test_dpkt_reads_every_record(captures: tuple[Path, Path]) -> None:
    pcap_a, pcap_lo = captures
    with pcap_a.open("rb") as fh:
        reader = dpkt.pcap.Reader(fh)
        assert reader.datalink() in (101, 12)  # LINKTYPE_RAW (12 is DLT_RAW on some hosts)
        frames = [buf for _, buf in reader]
    # sent, v4: 1 + 1 + 2 + 28 fragments + 1 "late"; v6: 1 + 2 + 2 + 28 + 1;
    # received: one ICMP and one ICMPv6 port unreachable
    assert len(frames) == 33 + 34 + 2
    versions = [f[0] >> 4 for f in frames]
    assert versions.count(4) == 33 + 1
    for frame in frames:
        if frame[0] >> 4 == 4:
            ip = dpkt.ip.IP(frame)
            assert len(frame) == ip.len
        else:
            ip6 = dpkt.ip6.IP6(frame)
            assert len(frame) == 40 + ip6.plen
    with pcap_lo.open("rb") as fh:
        (lo_frame,) = [buf for _, buf in dpkt.pcap.Reader(fh)]
    assert len(lo_frame) == 40 + 8 + 30000


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed (apt-get install tshark)")
def test_tshark_finds_no_bad_checksum_or_malformed_packet(captures: tuple[Path, Path]) -> None:
    assert TSHARK is not None
    for pcap in captures:
        out = subprocess.run(
            [TSHARK, "-r", str(pcap), *CHECKS, "-Y",
             'ip.checksum.status == "Bad" || udp.checksum.status == "Bad" '
             '|| icmp.checksum_bad || _ws.malformed || _ws.expert.severity >= 6291456'],
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        assert out.stdout.strip() == "", f"{pcap.name}: {out.stdout}"


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed (apt-get install tshark)")
def test_tshark_reassembles_the_fragments_and_sees_the_icmp_errors(
    captures: tuple[Path, Path],
) -> None:
    assert TSHARK is not None
    pcap_a, _ = captures
    out = subprocess.run(
        [TSHARK, "-r", str(pcap_a), *CHECKS, "-T", "fields",
         "-e", "udp.length", "-e", "udp.checksum.status", "-e", "icmp.type", "-e", "icmpv6.type",
         "-Y", "udp || icmp || icmpv6"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    udp_lengths = [int(r[0]) for r in rows if r[0]]
    assert udp_lengths.count(40008) == 2  # the 40000-byte datagrams, reassembled, v4 and v6
    assert {r[1] for r in rows if r[0]} == {"1"}  # 1 = Good
    assert any(r[2] == "3" for r in rows)  # ICMP destination unreachable
    assert any(r[3] == "1" for r in rows)  # ICMPv6 destination unreachable
