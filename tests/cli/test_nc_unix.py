"""``netsim nc -l … --link unix:PATH`` and ``netsim nc HOST PORT --link unix:PATH``: two
netsim processes, each a host, over an emulated link carried by a Unix socket — run as a user
runs them, as subprocesses."""

from __future__ import annotations

import json
import os
import random
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

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


_spawned: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_process_left_behind() -> Iterator[None]:
    """A failed test kills what it started, so no netsim outlives it."""
    yield
    while _spawned:
        proc = _spawned.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _listen(args: list[str]) -> subprocess.Popen[bytes]:
    return _popen(["-l", *args])


def _popen(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([*NC, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
    _spawned.append(proc)
    return proc


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


# -- processes that come and go ------------------------------------------------------------------


def _read_until(
    proc: subprocess.Popen[bytes], stream: IO[bytes], text: bytes, count: int = 1
) -> bytes:
    """Read a process's pipe until ``text`` has shown up ``count`` times (or fail, after a
    generous timeout or at EOF); what was read."""
    fd = stream.fileno()
    seen = b""
    deadline = time.monotonic() + 60
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while seen.count(text) < count:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                proc.kill()
                raise AssertionError(f"no {text!r} (x{count}) from {proc.args!r}: {seen!r}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"EOF before {text!r} (x{count}) from {proc.args!r}: {seen!r}")
            seen += chunk
    return seen


def _listening(args: list[str]) -> tuple[subprocess.Popen[bytes], bytes]:
    """A listener, once it has said it listens (its port is bound): the process and what it
    wrote to stderr so far."""
    proc = _listen(args)
    return proc, _read_until(proc, _pipe(proc.stderr), b"Listening on")


def _pipe(stream: IO[bytes] | None) -> IO[bytes]:
    assert stream is not None
    return stream


def _finish_after(proc: subprocess.Popen[bytes], early: bytes = b"") -> tuple[int, str, str]:
    """Like :func:`_finish`, with ``early`` (stderr already read) put back in front."""
    status, out, err = _finish(proc)
    return status, out, early.decode() + err


def _mid_transfer_client(path: str) -> tuple[subprocess.Popen[bytes], bytes]:
    """A TCP client with more to send than any test waits for, once its progress bar shows
    that its connection is up and data is moving."""
    client = _popen(
        ["-N", "10.0.0.2", "1234", "--link", f"unix:{path}", "--bytes", "100G", "--progress"]
    )
    return client, _read_until(client, _pipe(client.stderr), b"MB/s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_the_listener_gone_mid_transfer_resets_the_client(
    sig: signal.Signals, sock_path: str
) -> None:
    listener, early = _listening(["-k", "1234", "--link", f"unix:{sock_path}", "--interval", "0"])
    client, client_early = _mid_transfer_client(sock_path)
    listener.send_signal(sig)
    status, _out, err = _finish_after(listener, early)
    client_status, _client_out, client_err = _finish_after(client, client_early)
    assert client_status == 1, client_err
    # the link dropping, or the RST of a listener that closed with our bytes unread
    assert "Connection reset by peer" in client_err
    assert "Traceback" not in client_err
    assert "leak" not in client_err
    if sig == signal.SIGINT:
        assert status == 130, err  # Ctrl-C ends `nc -l -k`
        assert "Traceback" not in err
        assert not os.path.exists(sock_path), "the listener removed its socket"
    else:
        assert status == -signal.SIGKILL


def test_a_client_interrupted_mid_transfer_fails_the_listeners_connection(
    sock_path: str, tmp_path: Path
) -> None:
    sink = tmp_path / "sink.bin"
    listener, early = _listening(["1234", "--link", f"unix:{sock_path}", "--sink", str(sink)])
    client, client_early = _mid_transfer_client(sock_path)
    client.send_signal(signal.SIGINT)
    client_status, _client_out, client_err = _finish_after(client, client_early)
    assert client_status == 130, client_err
    assert "Traceback" not in client_err
    status, out, err = _finish_after(listener, early)  # it does not wait for a dead peer
    assert status == 1, err
    assert "Traceback" not in err
    assert "leak" not in err
    assert "left mid-connection" in err
    match = re.search(r"connection failed after (\d+) bytes", out)
    assert match is not None, out
    assert int(match.group(1)) == sink.stat().st_size > 0, "what arrived is reported and kept"
    assert not os.path.exists(sock_path)


def test_a_keep_listener_outlives_a_killed_client_and_serves_the_next(sock_path: str) -> None:
    listener, early = _listening(["-k", "1234", "--link", f"unix:{sock_path}", "--interval", "0"])
    client, _ = _mid_transfer_client(sock_path)
    client.kill()
    client.communicate(timeout=60)
    second = subprocess.run(
        [*NC, "-N", "10.0.0.2", "1234", "--link", f"unix:{sock_path}", "--bytes", "64K"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 0, second.stderr.decode()
    seen = _read_until(listener, _pipe(listener.stdout), b"frags/skb histogram", 2)
    listener.send_signal(signal.SIGINT)
    status, out, err = _finish_after(listener, early)
    out = seen.decode() + out
    assert status == 130, err
    assert "left mid-connection" in err
    assert "leak" not in err
    first_report, second_report = out.split("Accepted connection from")[1:]
    assert "connection failed after" in first_report
    assert "connection failed" not in second_report
    assert "65536 bytes (66 kB, 64 KiB) copied" in second_report


def test_a_second_tcp_client_waits_for_a_busy_keep_listener(sock_path: str, tmp_path: Path) -> None:
    """One peer at a time on the Unix socket: a client that arrives while another is being
    served says it waits, and gets its turn when the first leaves (however long that is)."""
    sink = tmp_path / "sink.bin"
    listener, early = _listening(
        ["-k", "1234", "--link", f"unix:{sock_path}", "--sink", str(sink), "--interval", "0"]
    )
    pattern = random.Random(11).randbytes(300_000)
    first = _popen(["-N", "10.0.0.2", "1234", "--link", f"unix:{sock_path}"], stdin=subprocess.PIPE)
    stdin = _pipe(first.stdin)
    stdin.write(pattern[:200_000])  # returns once the first client is reading: it is connected
    stdin.flush()
    second = _popen(["-N", "10.0.0.2", "1234", "--link", f"unix:{sock_path}", "--bytes", "64K"])
    waited = _read_until(second, _pipe(second.stderr), b"waiting for the listener")
    first_out, first_err = (s.decode() for s in first.communicate(pattern[200_000:], timeout=120))
    first_status = first.returncode
    second_status, second_out, second_err = _finish_after(second, waited)
    assert first_status == 0, first_err
    assert second_status == 0, second_err
    assert "300000 bytes" in first_out
    assert "65536 bytes" in second_out
    seen = _read_until(listener, _pipe(listener.stdout), b"frags/skb histogram", 2)
    listener.send_signal(signal.SIGINT)
    status, out, err = _finish_after(listener, early)
    assert status == 130, err
    out = seen.decode() + out
    assert out.index("300000 bytes") < out.index("65536 bytes"), "served in turn"
    assert sink.read_bytes() == pattern + bytes(65536), "-k: one sink, every connection"


def test_a_keep_listener_takes_udp_clients_in_turn(sock_path: str, tmp_path: Path) -> None:
    """``nc -l -k -u``: one report per client process; --sink gets every client's datagrams;
    --json says null where only the other process knows."""
    sink = tmp_path / "sink.bin"
    listener, early = _listening(
        ["-k", "-u", "1234", "--link", f"unix:{sock_path}", "--sink", str(sink), "--json"]
    )
    link = ["10.0.0.2", "1234", "--link", f"unix:{sock_path}"]
    first = subprocess.run(
        [*NC, "-u", *link, "--bytes", "40000", "--json"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert first.returncode == 0, first.stderr.decode()
    pattern = random.Random(13).randbytes(30_000)
    second = subprocess.run(
        [*NC, "-u", *link], input=pattern, capture_output=True, timeout=60, check=False
    )
    assert second.returncode == 0, second.stderr.decode()
    seen = _read_until(listener, _pipe(listener.stdout), b'"udp_drops"', 2)
    listener.send_signal(signal.SIGINT)
    status, out, err = _finish_after(listener, early)
    assert status == 130, err
    docs = _json_documents(seen.decode() + out)
    assert [d["end"]["sum_received"]["bytes"] for d in docs] == [40000, 30000]
    assert docs[0]["end"]["sum_received"]["packets"] == 3  # 16384 + 16384 + 7232
    for doc in docs:
        assert doc["start"]["test_start"]["protocol"] == "UDP"
        assert doc["end"]["accepted_connection"]["host"] == "10.0.0.1"
        assert doc["end"]["udp_drops"] == {"rcvbuf_errors": 0, "reasm_fails": 0}
        sent, received = doc["end"]["sum_sent"], doc["end"]["sum_received"]
        assert (sent["bytes"], sent["packets"]) == (None, None), "the client knows"
        assert (received["lost_packets"], received["lost_percent"]) == (None, None)
        assert all(not i["sum"]["sender"] for i in doc["intervals"])
        assert sum(i["sum"]["bytes"] for i in doc["intervals"]) == received["bytes"]
    assert sink.read_bytes() == bytes(40000) + pattern
    client_doc = json.loads(first.stdout)
    assert client_doc["end"]["sum_sent"]["packets"] == 3
    assert client_doc["end"]["sum_received"]["packets"] is None, "the listener knows"
    assert client_doc["end"]["sum_received"]["lost_percent"] is None
    assert "30000 bytes" in second.stdout.decode()


def _json_documents(text: str) -> list[Any]:
    decoder = json.JSONDecoder()
    docs, at = [], 0
    while text[at:].strip():
        doc, end = decoder.raw_decode(text, at + len(text[at:]) - len(text[at:].lstrip()))
        docs.append(doc)
        at = end
    return docs


def test_a_client_started_before_the_listener_waits_for_it(sock_path: str) -> None:
    client = _popen(["-N", "10.0.0.2", "1234", "--link", f"unix:{sock_path}", "--bytes", "64K"])
    listener = _listen(["1234", "--link", f"unix:{sock_path}"])
    client_status, client_out, client_err = _finish(client)
    status, out, err = _finish(listener)
    assert client_status == 0, client_err
    assert status == 0, err
    assert "65536 bytes" in client_out
    assert "65536 bytes" in out


def test_a_listener_outlives_a_client_that_named_the_wrong_port(sock_path: str) -> None:
    """``nc -l`` serves one connection; a client that never opened one does not count."""
    listener, early = _listening(["1234", "--link", f"unix:{sock_path}"])
    link = ["--link", f"unix:{sock_path}", "--bytes", "64K"]
    wrong = subprocess.run(
        [*NC, "-N", "10.0.0.2", "4321", *link], capture_output=True, timeout=60, check=False
    )
    assert wrong.returncode == 1
    assert "Connection refused" in wrong.stderr.decode()
    right = subprocess.run(
        [*NC, "-N", "10.0.0.2", "1234", *link], capture_output=True, timeout=60, check=False
    )
    assert right.returncode == 0, right.stderr.decode()
    status, out, err = _finish_after(listener, early)
    assert status == 0, err
    assert out.count("Accepted connection") == 1
    assert "65536 bytes" in out


def test_a_keep_listener_announces_a_refused_client(sock_path: str) -> None:
    listener, early = _listening(["-k", "1234", "--mtu", "2000", "--link", f"unix:{sock_path}"])
    link = ["10.0.0.2", "1234", "--link", f"unix:{sock_path}", "--bytes", "64K"]
    refused = subprocess.run([*NC, "-N", *link], capture_output=True, timeout=60, check=False)
    assert refused.returncode == 1
    accepted = subprocess.run(
        [*NC, "-N", *link, "--mtu", "2000"], capture_output=True, timeout=60, check=False
    )
    assert accepted.returncode == 0, accepted.stderr.decode()
    seen = _read_until(listener, _pipe(listener.stdout), b"frags/skb histogram")
    listener.send_signal(signal.SIGINT)
    status, out, err = _finish_after(listener, early)
    assert status == 130, err
    assert "refused a client: Invalid argument (link MTU mismatch" in err
    assert "65536 bytes" in seen.decode() + out


def test_an_empty_flow_ends_cleanly_on_both_ends(sock_path: str) -> None:
    """``nc -d``: a connection and both FINs, nothing else.  The listener's FIN is on the wire
    before it goes, and the client leaves first: neither sees the link drop as a reset.  (The
    race this guards lost about a third of the runs; three in a row catch most of that.)"""
    for _ in range(3):
        listener, early = _listening(["1234", "--link", f"unix:{sock_path}", "--interval", "0"])
        client = subprocess.run(
            [*NC, "-N", "10.0.0.2", "1234", "--link", f"unix:{sock_path}", "-d"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        status, out, err = _finish_after(listener, early)
        assert client.returncode == 0, client.stderr.decode()
        assert status == 0, err
        assert "0 bytes" in out


def test_a_second_listener_on_the_path_leaves_the_first_alone(sock_path: str) -> None:
    listener, early = _listening(["1234", "--link", f"unix:{sock_path}"])
    second = subprocess.run(
        [*NC, "-l", "1234", "--link", f"unix:{sock_path}"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 1
    assert "Address already in use" in second.stderr.decode()
    client = subprocess.run(
        [*NC, "-N", "10.0.0.2", "1234", "--link", f"unix:{sock_path}", "--bytes", "64K"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    status, out, err = _finish_after(listener, early)
    assert client.returncode == 0, client.stderr.decode()
    assert status == 0, err
    assert "65536 bytes" in out
