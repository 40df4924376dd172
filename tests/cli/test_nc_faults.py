"""``netsim nc`` and faults of its environment: output files that fail mid-run (``/dev/full``,
a full tmpfs), closed standard streams, a stdout whose reader leaves (SIGPIPE), Ctrl-C at
any point.  Each ends with every page given back, one clear line (or none, for SIGPIPE) and
a conventional status; none with a traceback or Python's "Exception ignored" noise.

The subprocess tests run in real time: small flows, generous timeouts."""

from __future__ import annotations

import functools
import io
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from netsim.cli import main as netsim_main
from netsim.cli.nc import _interrupted, _interruptible, parse_args, run_flow, zero_source
from netsim.mm import track_page_allocators
from netsim.testing.leaks import assert_no_page_leaks

NC = [sys.executable, "-m", "netsim", "nc"]
DEV_FULL = "/dev/full"
needs_dev_full = pytest.mark.skipif(not os.path.exists(DEV_FULL), reason="no /dev/full here")


def _nc(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = netsim_main(["nc", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def _clean(err: str) -> None:
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    assert "leak" not in err


# -- output files that fail mid-run --------------------------------------------------------------


@needs_dev_full
@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_a_capture_that_cannot_be_written_stops_and_the_transfer_completes(
    udp: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--pcap /dev/full``: the capture stops with one line, the flow is untouched (every
    byte delivered, no retransmission), and the status is 1: a requested output failed."""
    argv = ["-N", "127.0.0.1", "1234", "--bytes", "1M", "--interval", "0", "--pcap", DEV_FULL]
    status, out, err = _nc(["-u", *argv] if udp else argv, capsys)
    assert status == 1
    assert err == "netsim nc: capture stopped: /dev/full: No space left on device\n"
    assert "1048576 bytes (1.0 MB, 1.0 MiB) copied" in out
    if not udp:
        assert " 0             sender" in out  # Retr: the failing capture caused none


@needs_dev_full
def test_a_sink_that_cannot_be_written_stops_and_the_listener_reads_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["-N", "::1", "1234", "--bytes", "1M", "--interval", "0", "--sink", DEV_FULL]
    status, out, err = _nc(argv, capsys)
    assert status == 1
    assert err == "netsim nc: sink stopped: /dev/full: No space left on device\n"
    assert "1048576 bytes (1.0 MB, 1.0 MiB) copied" in out


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a disk that fills up mid-run.  Mounting needs root (and a kernel
    that lets this process mount); otherwise the test is skipped."""
    where = tmp_path / "tiny"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_a_full_disk_stops_the_capture_and_the_sink_not_the_flow(
    tiny_tmpfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pcap, sink = tiny_tmpfs / "flow.pcap", tiny_tmpfs / "flow.bin"
    argv = ["-N", "127.0.0.1", "1234", "--bytes", "1M", "--interval", "0"]
    status, out, err = _nc([*argv, "--pcap", str(pcap), "--sink", str(sink)], capsys)
    assert status == 1
    assert sorted(err.splitlines()) == [
        f"netsim nc: capture stopped: {pcap}: No space left on device",
        f"netsim nc: sink stopped: {sink}: No space left on device",
    ]
    assert "1048576 bytes (1.0 MB, 1.0 MiB) copied" in out
    assert 0 < sink.stat().st_size < 1 << 20
    assert sink.read_bytes() == bytes(sink.stat().st_size), "what fit is what arrived"


# -- Ctrl-C at any point -------------------------------------------------------------------------


class _InterruptAtStep(trio.abc.Instrument):
    """Ctrl-C (a real SIGINT) just before the run's ``step``-th task step."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.steps == self.step:
            signal.raise_signal(signal.SIGINT)
        self.steps += 1


@pytest.mark.parametrize(
    "argv",
    [
        ["-N", "127.0.0.1", "1234"],
        ["-u", "::1", "1234"],
        ["-N", "10.0.0.2", "1234", "--mtu", "1500"],
    ],
    ids=["tcp-loopback", "udp6-loopback", "tcp-link"],
)
def test_ctrl_c_at_any_step_leaves_every_page_given_back(argv: list[str]) -> None:
    """SIGINT before each task step of a small flow in turn — while the hosts open, the
    listener binds, the handshake runs, data moves, the hosts close — ends the run with
    ``KeyboardInterrupt`` (or, past the last step, a finished flow), never anything else,
    and every page comes back each time.  (Before ``_interruptible`` has its signal
    receiver, trio itself delivers the interrupt at the next checkpoint, wrapped in the
    nursery's group: still only Ctrl-C, and the hosts close cleanly.)"""
    opts = parse_args([*argv, "--bytes", "64K", "--interval", "0"])
    outcomes = set()
    for step in range(80):
        with track_page_allocators() as created:
            flow = functools.partial(
                run_flow, opts, "page_frag_cache", zero_source(1 << 16, opts.write_size)
            )
            stopped: BaseException | None = None  # a group, if trio delivered it
            try:
                result = trio.run(_interruptible, flow, instruments=[_InterruptAtStep(step)])
            except BaseException as exc:
                stopped = exc
            if stopped is not None:
                assert _interrupted(stopped), stopped  # Ctrl-C, and nothing else
                outcomes.add("interrupted")
            else:
                assert result.received == result.sent == 1 << 16
                outcomes.add("finished")
        assert created, "the run made hosts"
        assert_no_page_leaks(created, f"after Ctrl-C at step {step}")
    assert outcomes == {"interrupted", "finished"}


class _InterruptingStdout(io.StringIO):
    """A stdout where Ctrl-C arrives while the report is being written."""

    def write(self, text: str) -> int:
        signal.raise_signal(signal.SIGINT)
        return super().write(text)


def test_ctrl_c_during_the_report_is_status_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdout", _InterruptingStdout())
    status = netsim_main(["nc", "-N", "127.0.0.1", "1234", "--bytes", "64K", "--interval", "0"])
    assert status == 130
    assert capsys.readouterr().err == "netsim nc: interrupted\n"


# -- standard streams, as a shell leaves them -------------------------------------------------


def _shell(redirect: str, args: list[str]) -> subprocess.CompletedProcess[bytes]:
    """``netsim nc ARGS`` with a shell redirection (``<&-``, ``>&-``, ``2>&-``,
    ``>/dev/full``) applied after the test's pipes, as a user's shell applies it."""
    return subprocess.run(
        ["sh", "-c", f'exec "$@" {redirect}', "sh", *NC, *args],
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_stdin_closed_is_one_line_and_status_1() -> None:
    done = _shell("<&-", ["-N", "127.0.0.1", "1234", "--interval", "0"])
    assert done.returncode == 1
    assert done.stderr.decode() == (
        "netsim nc: stdin is closed: nothing to send (give --bytes N, or -d to send nothing)\n"
    )
    # ... and with a source of its own, stdin is not needed
    done = _shell("<&-", ["-N", "127.0.0.1", "1234", "--bytes", "64K", "--interval", "0"])
    assert done.returncode == 0, done.stderr.decode()
    assert b"65536 bytes" in done.stdout


def test_stdout_closed_is_one_line_and_status_1() -> None:
    done = _shell(">&-", ["-N", "127.0.0.1", "1234", "--bytes", "64K"])
    assert done.returncode == 1
    assert done.stderr.decode() == (
        "netsim nc: stdout is closed: the report would have nowhere to go\n"
    )


@needs_dev_full
def test_stdout_on_a_full_disk_is_one_line_and_status_1() -> None:
    done = _shell(">/dev/full", ["-N", "127.0.0.1", "1234", "--bytes", "64K"])
    assert done.returncode == 1
    assert done.stderr.decode() == (
        "netsim nc: writing the report to stdout failed: No space left on device\n"
    )


@needs_dev_full
def test_stderr_closed_loses_the_messages_not_the_run() -> None:
    done = _shell("2>&-", ["-N", "127.0.0.1", "1234", "--bytes", "64K", "--sink", DEV_FULL])
    assert done.returncode == 1  # the sink failed; there was nowhere to say so
    assert b"65536 bytes" in done.stdout


def test_a_reader_that_leaves_is_sigpipe_quietly() -> None:
    """``netsim nc … | head -0``: the report meets a pipe with no reader (EPIPE).  The run
    ends quietly with 141 — what a shell shows for a process SIGPIPE killed — with no
    ``BrokenPipeError`` at interpreter exit."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [*NC, "-N", "127.0.0.1", "1234", "--bytes", "64K", "--interval", "0"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert done.stderr == b""


def test_ctrl_c_while_waiting_for_stdin_is_status_130() -> None:
    """The flow is connected and waits for its first byte of stdin: Ctrl-C ends it with one
    line and 130, the hosts closed (a leak would say so on stderr)."""
    proc = subprocess.Popen(
        [*NC, "-N", "127.0.0.1", "1234", "--progress", "--interval", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        early = _read_until(proc, b"MB/s")  # the progress bar: the flow is up
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    text = (early + err).decode()
    assert proc.returncode == 130, text
    assert text.endswith("netsim nc: interrupted\n")
    _clean(text)
    assert out == b""


def _read_until(proc: subprocess.Popen[bytes], text: bytes) -> bytes:
    """Read the process's stderr until ``text`` shows up (or fail, after a generous wait)."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    seen = b""
    deadline = time.monotonic() + 60
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while text not in seen:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise AssertionError(f"no {text!r} from {proc.args!r}: {seen!r}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"EOF before {text!r} from {proc.args!r}: {seen!r}")
            seen += chunk
    return seen
