"""``netsim nc -l … --link unix:PATH`` and ``netsim nc HOST PORT --link unix:PATH``: two
netsim processes, each a host, over an emulated link carried by a Unix socket — run as a user
runs them, as subprocesses."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netsim.cli import main as netsim_main

NC = [sys.executable, "-m", "netsim", "nc"]


@pytest.fixture
def sock_path(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "link.sock")
    if len(path) > 100:  # sun_path is 108 bytes
        path = f"/tmp/netsim-nc-{os.getpid()}.sock"
    yield path
    if os.path.exists(path):
        os.unlink(path)


def _listen(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*NC, "-l", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_tcp_between_two_processes_delivers_the_piped_bytes(
    v6: bool, sock_path: str, tmp_path: Path
) -> None:
    pattern = random.Random(3).randbytes(500_003)
    sink = tmp_path / "sink.bin"
    family = ["-6"] if v6 else []
    listener = _listen([*family, "1234", "--link", f"unix:{sock_path}", "--sink", str(sink)])
    peer = "fd00::2" if v6 else "10.0.0.2"
    client = subprocess.run(
        [*NC, *family, "-N", peer, "1234", "--link", f"unix:{sock_path}"],
        input=pattern,
        capture_output=True,
        timeout=120,
        check=False,
    )
    status, out, err = _finish(listener)
    assert client.returncode == 0, client.stderr.decode()
    assert status == 0, err
    assert sink.read_bytes() == pattern
    assert f"Listening on {'::' if v6 else '0.0.0.0'} port 1234" in err
    assert f"Accepted connection from {'fd00::1' if v6 else '10.0.0.1'}" in out
    assert "500003 bytes" in out
    assert "receiver" in out
    client_out = client.stdout.decode()
    assert f"connected to {peer} port 1234" in client_out
    assert "500003 bytes" in client_out
    assert "to another process" in client_out
    assert not os.path.exists(sock_path), "the listener removed its socket"


def test_udp_between_two_processes_reports_both_ends(sock_path: str) -> None:
    listener = _listen(["-u", "1234", "--link", f"unix:{sock_path}", "--interval", "0"])
    client = subprocess.run(
        [*NC, "-u", "10.0.0.2", "1234", "--link", f"unix:{sock_path}", "--bytes", "256K"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    status, out, err = _finish(listener)
    assert client.returncode == 0, client.stderr.decode()
    assert status == 0, err
    assert "?/16  sender" in client.stdout.decode(), "the client cannot know what arrived"
    received = next(line for line in out.splitlines() if line.endswith("receiver"))
    datagrams = int(received.split()[-2])
    full = next(line for line in out.splitlines() if "UdpRcvbufErrors" in line)
    dropped = int(full.split()[0])
    assert datagrams + dropped == 16, out  # every datagram arrived or was counted as dropped
    assert datagrams > 0


def test_listener_json(sock_path: str) -> None:
    listener = _listen(["1234", "--link", f"unix:{sock_path}", "--json"])
    client = subprocess.run(
        [*NC, "-N", "10.0.0.2", "1234", "--link", f"unix:{sock_path}", "--bytes", "300K"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    status, out, err = _finish(listener)
    assert client.returncode == 0, client.stderr.decode()
    assert status == 0, err
    doc = json.loads(out)
    assert doc["end"]["sum_received"]["bytes"] == 300 << 10
    assert doc["start"]["connected"][0]["remote_host"] == "10.0.0.1"
    assert doc["frag_stats"]["allocator"] == "page_frag_cache"
    assert sum(i["sum"]["bytes"] for i in doc["intervals"]) == 300 << 10


def test_an_mtu_mismatch_fails_both_ends_clearly(sock_path: str) -> None:
    listener = _listen(["1234", "--mtu", "9000", "--link", f"unix:{sock_path}"])
    client = subprocess.run(
        [*NC, "-N", "10.0.0.2", "1234", "--link", f"unix:{sock_path}", "--bytes", "1K"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    status, _out, err = _finish(listener)
    assert client.returncode == 1
    assert "MTU mismatch: this end 1500, the peer 9000" in client.stderr.decode()
    assert status == 1
    assert "MTU mismatch: this end 9000, the peer 1500" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-l", "1234", "--link", "tcp:1.2.3.4"], "--link takes unix:PATH"),
        (["-k", "127.0.0.1", "1234"], "-k applies to a listener"),
        (["-l", "1234", "--link", "unix:/tmp/x", "--bytes", "1M"], "a listener only receives"),
        (["10.0.0.2", "1234", "--link", "unix:/tmp/x", "--rate", "1G"], "in-process link"),
        (
            ["10.0.0.2", "1234", "--link", "unix:/tmp/x", "--compare", "page_frag,page_frag_cache"],
            "cannot use --link unix:",
        ),
        (["-l", "--link", "unix:/tmp/x"], "-l needs a port"),
    ],
)
def test_bad_link_arguments_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert netsim_main(["nc", *argv]) == 2
    _out, err = capsys.readouterr()
    assert "usage: netsim nc" in err
    assert message in err


def test_a_bare_link_flag_still_takes_the_host_after_it(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["nc", "--link", "10.0.0.2", "1234", "--bytes", "64K", "--interval", "0"]
    assert netsim_main(argv) == 0
    out, _err = capsys.readouterr()
    assert "65536 bytes" in out
    assert "link mtu 1500" in out
