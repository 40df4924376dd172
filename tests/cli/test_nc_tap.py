"""``netsim nc --tap IFNAME [--tap-netns NS]``: the machine's own kernel as the peer.

The flows run for real (a TAP interface, a network namespace the test creates, ``netsim nc``
and the kernel's side as processes) and need root and ``/dev/net/tun``; the argument checks
run everywhere."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import uuid

import pytest

from netsim.cli import main as netsim_main
from netsim.runtime.tap import TUN_PATH


def _tap_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root (CAP_NET_ADMIN) for TAP and netns"
    if not os.path.exists(TUN_PATH):
        return f"no {TUN_PATH}"
    if shutil.which("ip") is None:
        return "needs iproute2's ip"
    return None


requires_tap = pytest.mark.skipif(_tap_problem() is not None, reason=_tap_problem() or "")

#: the kernel's side: read everything from one TCP connection, print the byte count
KERNEL_LISTENER = r"""
import socket, sys
l = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen()
print("listening", flush=True)
l.settimeout(20)
s, _ = l.accept()
n = 0
while d := s.recv(65536):
    n += len(d)
s.close()
print(n)
"""

KERNEL_CLIENT = r"""
import socket, sys
data = open(sys.argv[3], "rb").read()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
s.close()
"""


def _netsim(*args: str) -> list[str]:
    return [sys.executable, "-m", "netsim", "nc", *args]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tap-netns", "x", "198.18.0.1", "5000"], "--tap-netns needs --tap"),
        (["--tap", "t0", "--link", "198.18.0.1", "5000"], "--tap and --link are two different"),
        (["--tap", "t0", "127.0.0.1", "5000"], "over --tap the peer is the kernel, 198.18.0.1"),
        (["--tap", "t0", "--loss", "0.1", "198.18.0.1", "5000"], "not --tap"),
        (["--tap", "a" * 16, "198.18.0.1", "5000"], "an interface name is 1 to 15 bytes"),
        (["-l", "--tap", "t0", "127.0.0.1", "5000"], "not an address of this host (198.18.0.2"),
    ],
)
def test_tap_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert netsim_main(["nc", *argv]) == 2
    assert message in capsys.readouterr().err


@requires_tap
@pytest.mark.parametrize("family", [4, 6])
def test_netsim_listener_real_client(netns: str, family: int, tmp_path: object) -> None:
    data = random.Random(family).randbytes(700_000)
    blob = os.path.join(str(tmp_path), "blob")
    with open(blob, "wb") as f:
        f.write(data)
    ours = "198.18.0.2" if family == 4 else "fd00:198:18::2"
    listener = subprocess.Popen(
        _netsim(
            "-l",
            "5000",
            "--tap",
            f"t{uuid.uuid4().hex[:12]}",
            "--tap-netns",
            netns,
            "--json",
            *(["-6"] * (family == 6)),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert listener.stderr is not None
        line = listener.stderr.readline().decode()
        assert line.startswith("Listening on"), line
        subprocess.run(
            ["ip", "netns", "exec", netns, sys.executable, "-c", KERNEL_CLIENT, ours, "5000", blob],
            check=True,
            timeout=30,
        )
        out, _ = listener.communicate(timeout=30)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    assert listener.returncode == 0
    report = json.loads(out)
    assert report["end"]["sum_received"]["bytes"] == len(data)


@requires_tap
@pytest.mark.parametrize("family", [4, 6])
def test_netsim_client_real_listener(netns: str, family: int) -> None:
    kernel = "198.18.0.1" if family == 4 else "fd00:198:18::1"
    # the namespace needs the address before the kernel's listener can bind it: netsim nc
    # creates and configures the TAP, so listen on every address of the family instead
    any_addr = "0.0.0.0" if family == 4 else "::"
    peer = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-c", KERNEL_LISTENER, any_addr, "5001"],
        stdout=subprocess.PIPE,
    )
    try:
        assert peer.stdout is not None
        assert peer.stdout.readline() == b"listening\n"
        done = subprocess.run(
            _netsim(
                "-N",
                kernel,
                "5001",
                "--tap",
                f"t{uuid.uuid4().hex[:12]}",
                "--tap-netns",
                netns,
                "--bytes",
                "1M",
                "--json",
            ),
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr.decode()
        report = json.loads(done.stdout)
        assert report["end"]["sum_sent"]["bytes"] == 1 << 20
        out, _ = peer.communicate(timeout=30)
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.wait()
    assert out.split()[-1] == str(1 << 20).encode()
