"""netsim's pytest plugin (entry point ``pytest11: netsim``).

Fixtures:

``page_leak_check``
    Opt-in.  Collects every :class:`~netsim.mm.PageAllocator` created while the test runs
    (including those inside hosts) and fails the test at teardown if any page is still
    referenced, with the leak report.  Request it, or add it to ``usefixtures`` /
    an ``autouse`` fixture in your own ``conftest.py``.  The plugin never applies it by itself,
    so unrelated tests are untouched.
``page_allocator``
    A fresh allocator with free-page poisoning on, leak-checked at teardown.
``frag_allocator``
    Parametrised over every registered fragment allocator (``page_frag``,
    ``page_frag_cache``, ``page_frag_cache_countdown`` and any ``netsim.frag_allocators``
    entry point), built on ``page_allocator``; drained and leak-checked at teardown.

With pytest-trio installed (trio fixtures):

``netsim_host``
    An emulated host (``netsim.open_host``), allocator ``page_frag_cache`` unless the test
    parametrises it indirectly: ``@pytest.mark.parametrize("netsim_host", ["page_frag"],
    indirect=True)``.  Leaving it raises if any page is still referenced.
``netsim_udp_pair``
    Two UDP sockets on ``netsim_host``, bound on 127.0.0.1 and connected to each other.

pytest-trio takes the clock only from the test function's own arguments: a test that wants
virtual time asks for ``autojump_clock`` itself.

The capture switch (:mod:`netsim.testing.capture`, docs/captures.md):

``--netsim-capture=DIR`` (or ``NETSIM_CAPTURE_DIR=DIR``)
    Every host any test opens captures every device it has, or gets later, into
    ``DIR/<test id>/NNN-HOST-DEV.pcap``; when the session ends tshark reads every file
    (``--netsim-capture-jobs`` at a time, checksum validation on) and the session fails if a
    file has a malformed packet, a bad checksum, any other expert warning or error, or a TCP
    analysis flag its test does not allow, listing them per test and file;
    ``DIR/netsim-capture-report.json`` has every finding and why it was allowed.  Without
    tshark the check is skipped with a message; ``--netsim-capture-check=off`` skips it on
    purpose; ``--netsim-capture-keep=problems`` deletes the captures that passed.
``@pytest.mark.netsim_capture_allow(*kinds, reason=...)``
    The findings a test expects (``fnmatch`` patterns of Wireshark's field names —
    ``"tcp.analysis.retransmission"``, ``"tcp.analysis.*"`` — or ``"group:Checksum"``);
    :mod:`netsim.testing.allow` has ready-made ones (``STALLED_READER``, …).
    Without it a test is allowed flow control (zero windows and their probes), what Linux
    does and Wireshark flags (``capture.explained``), and what its faults cause: lost or
    late packets (a :class:`~netsim.FaultPlan`, a ``wire`` function, packets its hosts
    dropped) explain TCP analysis flags; corruption explains anything in the capture of the
    device that received it.
``@pytest.mark.netsim_no_capture(reason=...)``
    The switch leaves the test's hosts alone (a test that looks at ``dev.taps`` itself).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from ..mm import FragAllocator, PageAllocator, available_frag_allocators, track_page_allocators
from . import capture as _capture
from .leaks import assert_no_page_leaks

__all__ = ["frag_allocator", "page_allocator", "page_leak_check"]

try:
    import pytest_trio
except ImportError:  # pragma: no cover - the trio fixtures need pytest-trio
    pytest_trio = None

_F = TypeVar("_F", bound=Callable[..., Any])


def _trio_fixture(fn: _F) -> _F:
    """``pytest_trio.trio_fixture``, typed."""
    return cast(_F, pytest_trio.trio_fixture(fn))


_ALLOW_MARKER = "netsim_capture_allow"
_OFF_MARKER = "netsim_no_capture"
_REPORT_NAME = "netsim-capture-report.json"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("netsim", "netsim: packet captures of every test")
    group.addoption(
        "--netsim-capture",
        metavar="DIR",
        default=None,
        help="capture every device of every netsim host each test opens into "
        "DIR/<test id>/, and check every capture with tshark when the session ends "
        "(default: $NETSIM_CAPTURE_DIR; off when neither is set)",
    )
    group.addoption(
        "--netsim-capture-check",
        choices=("tshark", "off"),
        default="tshark",
        help="what reads the captures at the session's end: tshark (skipped with a "
        "message if it is not installed) or nobody (default: tshark)",
    )
    group.addoption(
        "--netsim-capture-keep",
        choices=("all", "problems"),
        default="all",
        help="which captures to keep after the check: all, or only the files with a "
        "finding their test does not allow (and the report) (default: all)",
    )
    group.addoption(
        "--netsim-capture-jobs",
        metavar="N",
        type=int,
        default=None,
        help="tshark processes to run at once (default: the number of CPUs)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_ALLOW_MARKER}(*kinds, reason=None): findings this test's packet captures may "
        "have under --netsim-capture (fnmatch patterns of tshark expert fields, such as "
        "'tcp.analysis.retransmission' or 'tcp.analysis.*', or 'group:Checksum')",
    )
    config.addinivalue_line(
        "markers",
        f"{_OFF_MARKER}(reason=None): --netsim-capture leaves this test's hosts alone "
        "(for tests that look at dev.taps themselves)",
    )
    directory = config.getoption("netsim_capture") or os.environ.get("NETSIM_CAPTURE_DIR")
    if directory:
        config.pluginmanager.register(_CaptureSession(config, Path(directory)), "netsim-capture")


class _TestCaptures:
    """One test's captures and what it may show."""

    def __init__(self, nodeid: str, directory: Path, allow: tuple[str, ...]) -> None:
        self.nodeid = nodeid
        self.directory = directory
        self.allow = allow
        self.files: list[_capture.CaptureFile] = []


class _CaptureSession:
    """``--netsim-capture``: captures each test's hosts, checks every file at the end."""

    def __init__(self, config: pytest.Config, directory: Path) -> None:
        self.config = config
        self.directory = directory.resolve()
        self.tests: list[_TestCaptures] = []
        self.used: set[str] = set()
        self.check = config.getoption("netsim_capture_check")
        self.jobs: int | None = config.getoption("netsim_capture_jobs")
        self.keep: str = config.getoption("netsim_capture_keep")
        self.summary: list[tuple[str, str | None]] = []
        self.failed = False

    def _test_dir(self, nodeid: str) -> Path:
        name = _capture.safe_name(nodeid, 150)
        if name in self.used:  # two ids that differ only by characters a file name drops
            name = _capture.safe_name(nodeid + "\0", 150)
            name = f"{name[:139]}-{len(self.used)}"
        self.used.add(name)
        return self.directory / name

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        if item.get_closest_marker(_OFF_MARKER) is not None:
            return (yield)
        allow: list[str] = []
        for marker in item.iter_markers(_ALLOW_MARKER):
            allow.extend(str(kind) for kind in marker.args)
        test = _TestCaptures(item.nodeid, self._test_dir(item.nodeid), tuple(allow))
        shutil.rmtree(test.directory, ignore_errors=True)  # a previous session's files
        self.tests.append(test)
        with _capture.capture_hosts(test.directory) as files:
            try:
                return (yield)
            finally:
                test.files = files
                with contextlib.suppress(OSError):
                    test.directory.rmdir()  # only if no file was kept

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        files = [f for t in self.tests for f in t.files]
        packets = sum(f.records for f in files)
        where = f"{len(files)} captures ({packets} packets) of " + _plural(
            sum(1 for t in self.tests if t.files), "test"
        )
        if self.check == "off":
            self.summary.append((f"{where} in {self.directory}; not checked", None))
            return
        tshark = _capture.find_tshark()
        if tshark is None:
            self.summary.append(
                (
                    f"{where} in {self.directory}; tshark check SKIPPED: tshark not found "
                    "(apt-get install tshark)",
                    None,
                )
            )
            return
        start = time.monotonic()
        results = _capture.check_pcaps(
            [f.path for f in files if f.error is None], tshark=tshark, jobs=self.jobs
        )
        took = time.monotonic() - start
        report: list[dict[str, object]] = []
        problems: list[str] = []
        reasons: dict[str, int] = {}
        kept: set[Path] = set()
        for test in self.tests:
            lines: list[str] = []
            # lost, late or doubled packets show in every capture of the hosts that were open
            # together (the sender's retransmits, the receiver's duplicate ACKs); corruption
            # only in the receiver's
            group_faults: dict[int, set[str]] = {}
            for capture in test.files:
                group_faults.setdefault(capture.group, set()).update(
                    capture.faults - _capture.PER_FILE_FAULTS
                )
            for capture in test.files:
                faults = group_faults[capture.group] | (capture.faults & _capture.PER_FILE_FAULTS)
                patterns = test.allow + _capture.fault_allowances(faults)
                entry: dict[str, object] = {
                    "test": test.nodeid,
                    "file": str(capture.path),
                    "host": capture.host,
                    "dev": capture.dev,
                    "packets": capture.records,
                    "faults": sorted(faults),
                    "allow": list(patterns),
                }
                report.append(entry)
                if capture.error is not None:
                    entry["error"] = repr(capture.error)
                    lines.append(f"  {capture.path.name}: the capture failed: {capture.error!r}")
                    kept.add(capture.path)
                    continue
                result = results[capture.path]
                if isinstance(result, BaseException):
                    entry["error"] = str(result)
                    lines.append(f"  {capture.path.name}: tshark could not read it: {result}")
                    kept.add(capture.path)
                    continue
                judged = _capture.judge(result, capture, patterns)
                bad = [f for f, why in judged if why is None]
                if bad:
                    kept.add(capture.path)
                for _f, why in judged:
                    if why is not None:
                        key = (
                            why
                            if not why.startswith("allowed: ")
                            else ("the test's marker" if why[9:] in test.allow else "its faults")
                        )
                        reasons[key] = reasons.get(key, 0) + 1
                entry["findings"] = [
                    {"frame": f.frame, "kind": f.kind, "severity": f.severity,
                     "group": f.group, "message": f.message, "quoted": f.quoted, "why": why}
                    for f, why in judged
                ]  # fmt: skip
                lines.extend(_describe(capture.path, bad))
            if lines:
                problems.append(test.nodeid)
                problems.extend(lines)
        report_path = self.directory / _REPORT_NAME
        with contextlib.suppress(OSError):
            self.directory.mkdir(parents=True, exist_ok=True)
            report_path.write_text(json.dumps(report, indent=1) + "\n")
        if self.keep == "problems":
            self._remove_all_but(kept)
        jobs = self.jobs or len(os.sched_getaffinity(0))
        checked = (
            f"{where} checked by tshark in {took:.1f} s ({jobs} at a time); report: {report_path}"
        )
        self.summary.append((checked, None))
        if reasons:
            allowed = "; ".join(f"{n} {why}" for why, n in sorted(reasons.items(), key=_count))
            self.summary.append((f"allowed findings: {allowed}", None))
        if problems:
            self.failed = True
            count = sum(1 for line in problems if not line.startswith(" "))
            self.summary.append(
                (
                    f"{_plural(count, 'test')} wrote captures with findings they do not "
                    f"allow (@pytest.mark.{_ALLOW_MARKER}(KIND, reason=...) declares the "
                    "expected ones):",
                    "\n".join(problems),
                )
            )
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _remove_all_but(self, kept: set[Path]) -> None:
        """``--netsim-capture-keep=problems``: delete the other captures (and the test
        directories left empty)."""
        for test in self.tests:
            for capture in test.files:
                if capture.path not in kept:
                    with contextlib.suppress(OSError):
                        capture.path.unlink()
            with contextlib.suppress(OSError):
                test.directory.rmdir()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.section("netsim captures (tshark)", red=self.failed, green=not self.failed)
        for line, details in self.summary:
            terminalreporter.line(line, red=details is not None)
            if details:
                terminalreporter.line(details)


def _describe(path: Path, findings: list[_capture.Finding]) -> list[str]:
    """One line per kind of finding in ``path``: how many, the first frame, the message."""
    by_kind: dict[str, list[_capture.Finding]] = {}
    for finding in findings:
        by_kind.setdefault(finding.kind, []).append(finding)
    lines = []
    for kind, same in by_kind.items():
        first = same[0]
        frames = ", ".join(str(f.frame) for f in same[:5]) + (", ..." if len(same) > 5 else "")
        lines.append(
            f"  {path.name}: {len(same)} x {kind} ({first.severity}/{first.group}) "
            f"frames {frames}: {first.message}"
        )
    return lines


def _count(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@pytest.fixture
def page_leak_check() -> Iterator[list[PageAllocator]]:
    """Fail the test if any page allocator created during it still has live pages."""
    with track_page_allocators() as created:
        yield created
    assert_no_page_leaks(created, "at test teardown")


@pytest.fixture
def page_allocator(page_leak_check: list[PageAllocator]) -> PageAllocator:
    """A :class:`~netsim.mm.PageAllocator` with poisoning on, leak-checked at teardown."""
    return PageAllocator(poison=True)


@pytest.fixture(params=sorted(available_frag_allocators()))
def frag_allocator(
    request: pytest.FixtureRequest, page_allocator: PageAllocator
) -> Iterator[FragAllocator]:
    """Each registered fragment allocator in turn, drained at teardown."""
    factory = available_frag_allocators()[request.param]
    allocator = factory(page_allocator)
    yield allocator
    allocator.drain()


if pytest_trio is not None:
    from collections.abc import AsyncIterator

    from ..runtime import Host, Socket, open_host
    from ..sock.constants import AF_INET, SOCK_DGRAM, SOCK_STREAM

    __all__ += ["netsim_host", "netsim_tcp_pair", "netsim_udp_pair"]

    @_trio_fixture
    async def netsim_host(request: pytest.FixtureRequest) -> AsyncIterator[Host]:
        """An emulated host; ``request.param`` (indirect parametrisation) picks the allocator."""
        allocator = getattr(request, "param", "page_frag_cache")
        async with open_host(allocator=allocator, name="netsim_host") as host:
            yield host

    @_trio_fixture
    async def netsim_udp_pair(netsim_host: Host) -> AsyncIterator[tuple[Socket, Socket]]:
        """Two UDP sockets on ``netsim_host``, each connected to the other over 127.0.0.1."""
        a = netsim_host.socket(AF_INET, SOCK_DGRAM)
        b = netsim_host.socket(AF_INET, SOCK_DGRAM)
        await a.bind(("127.0.0.1", 0))
        await b.bind(("127.0.0.1", 0))
        await a.connect(b.getsockname())
        await b.connect(a.getsockname())
        try:
            yield a, b
        finally:
            a.close()
            b.close()

    @_trio_fixture
    async def netsim_tcp_pair(netsim_host: Host) -> AsyncIterator[tuple[Socket, Socket]]:
        """A connected TCP pair on ``netsim_host`` over 127.0.0.1: ``(client, server)``, the
        server side from ``accept()``.  The listener is closed before the test runs."""
        listener = netsim_host.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = netsim_host.socket(AF_INET, SOCK_STREAM)
        await client.connect(listener.getsockname())
        server, _ = await listener.accept()
        listener.close()
        try:
            yield client, server
        finally:
            client.close()
            server.close()
