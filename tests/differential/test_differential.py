"""The differential errno table: every case runs on netsim and must give exactly the answers
recorded from a live Linux kernel (tests/differential/expected.json); the live kernel of this
machine runs them too and is compared with the table.

* ``test_netsim_matches_linux`` — netsim vs the table, for both fragment allocators.  A case
  listed in ``divergences.KNOWN_DIVERGENCES`` is ``xfail(strict=True)``: netsim differs today;
  one in ``divergences.DELIBERATE`` must give netsim's own answer recorded there instead.
* ``test_live_kernel_matches_table`` — this machine's kernel vs the table.  Where it answers
  differently (another kernel version, no IPv6, no permission for a private network
  namespace …) the test is skipped with both answers, never failed: the table is the reference.
* ``test_docs_in_sync`` — docs/misuse.md's generated part is what the table says.

Re-record with ``python3 tests/differential/record.py`` (see its docstring).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from netsim.testing.allow import SIMULTANEOUS_OPEN

# the suite's own modules live next to this file (pytest's importlib mode adds no path)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cases
from divergences import DELIBERATE, KNOWN_DIVERGENCES
from harness import (
    CASES,
    DOCS,
    HERE,
    ROOT,
    Steps,
    load_table,
    render_docs,
    run_netsim,
    table_steps,
)

TABLE = load_table()
ALLOCATORS = ["page_frag", "page_frag_cache"]
RECORD = HERE / "record.py"

assert cases.__name__  # imported for its registrations


def _diff(want: Steps, got: Steps) -> str:
    lines = []
    for i in range(max(len(want), len(got))):
        w = want[i] if i < len(want) else ("", "(nothing)")
        g = got[i] if i < len(got) else ("", "(nothing)")
        mark = "  " if w == g else "!="
        lines.append(f"{mark} {w[0] or g[0]}: linux {w[1]!r}, got {g[1]!r}")
    return "\n".join(lines)


#: what a case's capture shows that is its subject (``--netsim-capture``)
CAPTURE_MARKS: dict[str, Any] = {"connect_self": SIMULTANEOUS_OPEN}


def _netsim_params() -> list[Any]:
    """Each case on each allocator; a known divergence once (errnos do not depend on the
    allocator, and one expected failure per divergence keeps the summary readable)."""
    params = []
    for name in CASES:
        if name in KNOWN_DIVERGENCES:
            mark = pytest.mark.xfail(strict=True, reason=KNOWN_DIVERGENCES[name])
            params.append(pytest.param(name, ALLOCATORS[-1], id=name, marks=mark))
            continue
        marks = CAPTURE_MARKS.get(name, ())
        for allocator in ALLOCATORS:
            params.append(pytest.param(name, allocator, id=f"{name}-{allocator}", marks=marks))
    return params


@pytest.mark.parametrize(("name", "allocator"), _netsim_params())
def test_netsim_matches_linux(name: str, allocator: str) -> None:
    assert name in TABLE, f"{name} is not in the table: run python3 {RECORD.relative_to(ROOT)}"
    got = run_netsim(CASES[name], allocator)
    if name in DELIBERATE:
        want = DELIBERATE[name].steps
        assert got == want, f"netsim's deliberate answer changed:\n{_diff(want, got)}"
        return
    want = table_steps(TABLE[name])
    assert got == want, f"netsim differs from Linux {TABLE[name]['kernel']}:\n{_diff(want, got)}"


@pytest.fixture(scope="session")
def live_results() -> dict[str, Any]:
    """Every case on this machine's kernel, in a subprocess (real sockets, real time; in a
    private network namespace where it may make one)."""
    if sys.platform != "linux":
        pytest.skip("the table is Linux's: no live comparison on this platform")
    proc = subprocess.run(
        [sys.executable, str(RECORD), "--live-json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"could not run the cases on the live kernel: {proc.stderr.strip()[-500:]}")
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


@pytest.mark.parametrize("name", list(CASES))
def test_live_kernel_matches_table(name: str, live_results: dict[str, Any]) -> None:
    assert name in TABLE, f"{name} is not in the table: run python3 {RECORD.relative_to(ROOT)}"
    want = table_steps(TABLE[name])
    got = [(label, outcome) for label, outcome in live_results["results"][name]]
    if got != want:
        pytest.skip(
            f"{name}: the live kernel (Linux {live_results['kernel']}, in "
            f"{live_results['where']}) answers differently from the table (Linux "
            f"{TABLE[name]['kernel']}); netsim is compared with the table:\n{_diff(want, got)}"
        )


def test_table_has_every_case() -> None:
    missing = sorted(set(CASES) - set(TABLE))
    stale = sorted(set(TABLE) - set(CASES))
    assert not missing, f"re-record with python3 {RECORD.relative_to(ROOT)}: missing {missing}"
    assert not stale, f"re-record with python3 {RECORD.relative_to(ROOT)}: stale {stale}"


def test_known_divergences_name_cases() -> None:
    assert not set(KNOWN_DIVERGENCES) - set(CASES)
    assert all(text.strip() for text in KNOWN_DIVERGENCES.values())


def test_deliberate_divergences_still_differ() -> None:
    """A deliberate entry names a case, is not also a known divergence, has its reason, and
    still differs from the table (else it is stale and should go)."""
    assert not set(DELIBERATE) - set(CASES)
    assert not set(DELIBERATE) & set(KNOWN_DIVERGENCES)
    for name, (reason, steps) in DELIBERATE.items():
        assert reason.strip(), name
        assert steps != table_steps(TABLE[name]), f"{name}: netsim now answers as the table"


def test_docs_in_sync() -> None:
    """docs/misuse.md's generated part is rebuilt from the table and the divergences."""
    text = DOCS.read_text()
    assert text == render_docs(TABLE, KNOWN_DIVERGENCES, DELIBERATE, text), (
        f"{DOCS.relative_to(ROOT)} is out of date: python3 {RECORD.relative_to(ROOT)} --docs"
    )


def test_case_count() -> None:
    """The issue asks for at least 80 cases across TCP, UDP, IPv4 and IPv6."""
    assert len(CASES) >= 150
