"""The first flight of data, on this machine's kernel and on netsim, driven the way packetdrill
drives a kernel: a TUN device (``IFF_TUN | IFF_NO_PI | IFF_VNET_HDR``, TSO offload on, so each
TSO skb arrives whole with its ``gso_size``) in a namespace the test makes, the peer's side of
the handshake written into it with a chosen RTT — a passive open (the peer's SYN, then its ACK)
or an active one (the kernel's SYN answered by a SYN-ACK) — then a ``write``, the data read
back, an ACK of it all and the rest.

The kernel's own packetdrill selftests (``tcp_eor_*``, ``tcp_fast_recovery_prr-*``,
``tcp_limited_transmit_*``, ``tcp_sack_sack-route-refresh-ip-tos``) expect that flight as one
TSO packet of the whole initial window; netsim sends 2-segment skbs (``tcp_tso_autosize``: a
millisecond at the pacing rate is less than two MSS, ``tcp_min_tso_segs`` is 2).  This test
asks the running kernel.  The netsim side is the same sequence as a packetdrill script whose
expectations are the kernel's packets, run by ``netsim packetdrill``'s runner.

Needs root (namespaces, ``/dev/net/tun``) and ``ip``; skips with the reason elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from netsim.cli.packetdrill import Config, run_script

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CAP_NET_ADMIN) for namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2's ip"),
    pytest.mark.skipif(not os.path.exists("/dev/net/tun"), reason="needs /dev/net/tun"),
]

#: The peer, run inside the namespace: prints the kernel's data packets as JSON lists of
#: ``[phase, flags, start, end, gso_size, ms]`` (sequence numbers relative to the SYN-ACK's;
#: milliseconds since the ``write``, or since the ACK of phase 2).
PEER = r"""
import fcntl, json, os, select, socket, struct, subprocess, sys, time
import dpkt

mode, rtt = sys.argv[1], float(sys.argv[2])
LOCAL, REMOTE = "198.18.0.1", "198.18.1.1"
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", b"tun0", 0x0001 | 0x1000 | 0x4000))
fcntl.ioctl(fd, 0x400454D0, 0x01 | 0x02)  # TUNSETOFFLOAD: TUN_F_CSUM | TUN_F_TSO4
for cmd in (
    f"ip addr add {LOCAL}/16 dev tun0",
    "ip link set tun0 up",
    "ip link set lo up",
):
    subprocess.run(cmd, shell=True, check=True)
subprocess.run("tc qdisc replace dev tun0 root pfifo", shell=True, capture_output=True)
# packetdrill's defaults.sh, as netsim's runner applies it, and no cached metrics
for key, value in {
    "ipv4/tcp_rmem": "4096 540000 15728640",
    "ipv4/tcp_wmem": "4096 262144 4194304",
    "ipv4/tcp_timestamps": "1",
    "ipv4/tcp_sack": "1",
    "ipv4/tcp_min_tso_segs": "2",
    "ipv4/tcp_tso_win_divisor": "3",
    "ipv4/tcp_slow_start_after_idle": "0",
    "ipv4/tcp_pacing_ss_ratio": "200",
    "ipv4/tcp_pacing_ca_ratio": "120",
    "ipv4/tcp_no_metrics_save": "1",
}.items():
    with open(f"/proc/sys/net/{key}", "w") as f:
        f.write(value)

def inject(tcp):
    ip = dpkt.ip.IP(src=socket.inet_aton(REMOTE), dst=socket.inet_aton(LOCAL), p=6, ttl=64,
                    data=tcp)
    ip.len = len(bytes(ip))
    os.write(fd, bytes(10) + bytes(ip))

def read(timeout, count=0):
    out = []
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        if not select.select([fd], [], [], left)[0]:
            break
        raw = os.read(fd, 70000)
        if raw[10] >> 4 != 4:
            continue
        ip = dpkt.ip.IP(raw[10:])
        if ip.p == 6:
            out.append((ip.data, struct.unpack("<H", raw[4:6])[0], time.monotonic()))
            if len(out) == count:
                break
    return out

if mode == "passive":
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")
    ls.bind((LOCAL, 8080))
    ls.listen(1)
    # mss 1000,sackOK,nop,nop,nop,wscale 10
    opts = bytes([2, 4, 0x03, 0xE8, 4, 2, 1, 1, 1, 3, 3, 10])
    inject(dpkt.tcp.TCP(sport=40000, dport=8080, seq=0, flags=dpkt.tcp.TH_SYN, win=32792,
                        opts=opts, off=8))
    (synack, _, _), = read(0.5, count=1)
    isn = synack.seq
    time.sleep(rtt)
    inject(dpkt.tcp.TCP(sport=40000, dport=8080, seq=1, ack=isn + 1, flags=dpkt.tcp.TH_ACK,
                        win=514))
    conn, _ = ls.accept()
    size, win = 10400, 514
else:
    conn = socket.socket()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")
    conn.setblocking(False)
    try:
        conn.connect((REMOTE, 8080))
    except BlockingIOError:
        pass
    (syn, _, _), = read(0.5, count=1)
    isn = syn.seq
    time.sleep(rtt)
    # mss 1460,nop,wscale 2,nop,nop,sackOK
    opts = bytes([2, 4, 0x05, 0xB4, 1, 3, 3, 2, 1, 1, 4, 2])
    inject(dpkt.tcp.TCP(sport=8080, dport=syn.sport, seq=0, ack=isn + 1,
                        flags=dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK, win=65535, opts=opts, off=8))
    read(0.5, count=1)  # the third segment of the handshake
    conn.setblocking(True)
    time.sleep(0.01)
    size, win = 5840, 65535
    sport, dport = 8080, syn.sport
t0 = time.monotonic()
conn.send(bytes(size))
packets = []
for tcp, gso, t in read(0.05):
    end = tcp.seq - isn + len(tcp.data)
    packets.append([1, tcp.flags, tcp.seq - isn, end, gso, round((t - t0) * 1000)])
acked = max(p[3] for p in packets)
t0 = time.monotonic()
if mode == "passive":
    sport, dport = 40000, 8080
inject(dpkt.tcp.TCP(sport=sport, dport=dport, seq=1, ack=isn + acked, flags=dpkt.tcp.TH_ACK,
                    win=win))
for tcp, gso, t in read(0.05):
    end = tcp.seq - isn + len(tcp.data)
    packets.append([2, tcp.flags, tcp.seq - isn, end, gso, round((t - t0) * 1000)])
print(json.dumps(packets))
"""


def _script(mode: str, rtt: float, packets: list[list[int]]) -> str:
    """The same sequence for netsim's packetdrill runner, expecting the kernel's packets."""
    if mode == "passive":
        lines = [
            "`./defaults.sh`",
            "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3",
            "+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0",
            "+0 bind(3, ..., ...) = 0",
            "+0 listen(3, 1) = 0",
            "+0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 10>",
            "+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>",
            f"+{rtt} < . 1:1(0) ack 1 win 514",
            "+0 accept(3, ..., ...) = 4",
            "+0 write(4, ..., 10400) = 10400",
        ]
        win = 514
    else:
        lines = [
            "`./defaults.sh`",
            "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4",
            f"+0...{rtt} connect(4, ..., ...) = 0",
            "+0 > S 0:0(0) <...>",
            f"+{rtt} < S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 2,nop,nop,sackOK>",
            "+0 > . 1:1(0) ack 1",
            "+.01 write(4, ..., 5840) = 5840",
        ]
        win = 65535
    acked = max(p[3] for p in packets if p[0] == 1)
    last = 0
    for phase in (1, 2):
        if phase == 2:
            lines.append(f"+{0.05 - last / 1000:.3f} < . 1:1(0) ack {acked} win {win}")
            last = 0
        for p, flags, start, end, _gso, ms in packets:
            if p == phase:
                text = ("P." if flags & 0x08 else ".") + ("F" if flags & 0x01 else "")
                wait = (ms - last) / 1000
                lines.append(f"+{wait:.3f} > {text} {start}:{end}({end - start}) ack 1")
                last = ms
    return "\n".join(lines) + "\n"


@pytest.mark.netsim_capture_allow(
    "tcp.analysis.retransmission",
    reason=(
        "the peer acknowledges nothing for 50 ms: the tail loss probe resends the last "
        "segment, as the kernel did first"
    ),
)
@pytest.mark.parametrize("rtt", [0.01, 0.1], ids=["10ms", "100ms"])
@pytest.mark.parametrize("mode", ["passive", "active"])
def test_first_flight(netns: str, mode: str, rtt: float) -> None:
    """The kernel's first flight with a 10 ms or a 100 ms handshake RTT (what packetdrill's
    scripts use) is what netsim sends: after a passive open 10,400 bytes to a peer of MSS
    1000, after an active open 5,840 bytes to a peer of MSS 1460 — the same TSO skbs, each
    ``gso_size`` the MSS, the same sizes, then the rest once the peer acknowledges them."""
    done = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", PEER, mode, str(rtt)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    packets: list[list[int]] = json.loads(done.stdout)
    mss = 1000 if mode == "passive" else 1460
    # all of it sent (a tail loss probe may resend the last segment)
    assert max(end for _ph, _f, _start, end, _g, _ms in packets) - 1 == (
        10400 if mode == "passive" else 5840
    )
    first = [p for p in packets if p[0] == 1]
    assert all(gso == mss for _ph, _f, start, end, gso, _ms in first if end - start > mss)
    # the tail loss probe's time is counted in jiffies: 2 * srtt rounded up to a jiffy, plus
    # two; netsim's timers model HZ=1000, a kernel built with HZ=250 (as this machine's may
    # be) sends it up to ~10 ms later.  Sizes and order are compared exactly.
    config = Config(tolerance_usecs=12000)
    outcome = run_script(_script(mode, rtt, packets), f"first-flight-{mode}.pkt", config)
    assert outcome.status == "PASS", f"{outcome}\nLinux sent: {packets}"
