"""examples/ (page_frag_test.py, the four nc_*.py, run_all.sh, page_appetite.py,
tls_device_offload.py) and benchmarks/run.py.

Neither directory is a package, so both files are loaded from their paths.  Timing is printed
by them and never asserted here; what is asserted is the output's shape, the exit statuses, and
counter identities that hold whatever order trio runs the push and pop tasks in (trio shuffles
runnable tasks, so how often the ring fills — and so how many pages are abandoned rather than
recycled — varies from run to run).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio

from netsim.mm import PAGE_FRAG_CACHE_MAX_SIZE, PAGE_SIZE, FragSpan, Page, PageFragCache

ROOT = Path(__file__).resolve().parents[1]


def _load(relpath: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / relpath)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


pft = _load("examples/page_frag_test.py", "netsim_examples_page_frag_test")
bench = _load("benchmarks/run.py", "netsim_benchmarks_run")
NC_EXAMPLES = {
    flow: _load(f"examples/nc_{flow}.py", f"netsim_examples_nc_{flow}")
    for flow in ("tcp4", "udp4", "tcp6", "udp6")
}

NR_TEST = 20000
LINE = re.compile(
    r"^(?P<n>\d+) of iterations for (?P<align>aligned|non-aligned)(?P<api> prepare API)?"
    r" testing took: (?P<us>\d+)us$",
    re.MULTILINE,
)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _per_page(size: int, align: int = 1) -> int:
    """Fragments of ``size`` bytes (each rounded up to ``align``) in one 32 KiB page."""
    return PAGE_FRAG_CACHE_MAX_SIZE // (-(-size // align) * align)


def _report(out: str) -> dict[str, int]:
    """The numbers of the single-allocator report: refcount calls, page events, ring fulls."""
    found = {
        name: int(calls)
        for name, calls in re.findall(r"^  (page_\w+) +\S+ +(\d+)  ", out, re.MULTILINE)
    }
    pages = re.search(
        r"^pages: (\d+) refills, (\d+) recycles, (\d+) abandons, (\d+) reuses; "
        r"(\d+) allocated, (\d+) freed, none leaked$",
        out,
        re.MULTILINE,
    )
    ring = re.search(
        r"^ring full (\d+) times: .*\((\d+) fragments allocated in all\)$", out, re.MULTILINE
    )
    assert pages is not None, out
    assert ring is not None, out
    keys = ("frag_refill", "frag_recycle", "frag_abandon", "frag_reuse", "page_alloc", "page_free")
    found.update(zip(keys, map(int, pages.groups()), strict=True))
    found["ring_full"], found["frag_commit"] = map(int, ring.groups())
    return found


def _table(out: str) -> dict[str, list[str]]:
    """The --compare table: row label -> cells (one per allocator)."""
    rows: dict[str, list[str]] = {}
    for line in out.splitlines():
        label, cells = line[:28].strip(), line[28:].split()
        if cells:
            rows.setdefault(label, cells)
    return rows


# -- page_frag_test.py: the module line and the report ----------------------------------------


def test_default_run_prints_the_module_line_and_cache_counters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert pft.main([f"nr_test={NR_TEST}"]) == 0
    out = capsys.readouterr().out
    [m] = LINE.finditer(out)
    assert (int(m["n"]), m["align"], m["api"]) == (NR_TEST, "non-aligned", None)
    assert "emulator's wall time" in out
    assert "WARNING" not in out
    got = _report(out)
    m_frags = got["frag_commit"]
    assert m_frags == NR_TEST + got["ring_full"]
    # page_frag_cache: no get_page at all; one page_ref_add per refill; every page (2048-byte
    # frags: 16 to a page) was either refilled or recycled
    assert got["page_get"] == 0
    assert got["page_put"] == m_frags
    assert got["page_ref_add"] == got["frag_refill"] == got["page_alloc"] == got["page_free"]
    assert got["frag_refill"] + got["frag_recycle"] == _ceil_div(m_frags, _per_page(2048))
    assert got["page_ref_sub_and_test"] == got["frag_recycle"] + got["frag_abandon"] + 1
    assert got["frag_refill"] == got["frag_abandon"] + 1


def test_page_frag_takes_one_get_page_per_fragment(capsys: pytest.CaptureFixture[str]) -> None:
    assert pft.main([f"nr_test={NR_TEST}", "test_alloc_len=12", "--allocator", "page_frag"]) == 0
    got = _report(capsys.readouterr().out)
    assert got["page_get"] == got["frag_commit"] == NR_TEST + got["ring_full"]
    assert got["page_ref_add"] == got["page_ref_sub_and_test"] == 0
    # every fragment's put, plus the pfrag's own reference on each page it let go
    assert got["page_put"] == got["frag_commit"] + got["frag_abandon"] + 1
    assert got["frag_refill"] == got["page_alloc"] == got["frag_abandon"] + 1


@pytest.mark.parametrize("allocator", ["page_frag_cache", "page_frag_cache_countdown"])
def test_aligned_run(allocator: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = [f"nr_test={NR_TEST}", "test_alloc_len=12", "test_align=1", "--allocator", allocator]
    assert pft.main(args) == 0
    out = capsys.readouterr().out
    [m] = LINE.finditer(out)
    assert (m["align"], m["api"]) == ("aligned", None)
    assert "WARNING" not in out
    got = _report(out)
    # 12 bytes rounded to SMP_CACHE_BYTES: 512 fragments to a page
    assert got["frag_refill"] + got["frag_recycle"] == _ceil_div(got["frag_commit"], 512)


@pytest.mark.parametrize("align", ["0", "1"])
def test_prepare_api_run(align: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert pft.main([f"nr_test={NR_TEST}", "test_prepare=1", f"test_align={align}"]) == 0
    out = capsys.readouterr().out
    [m] = LINE.finditer(out)
    assert m["align"] == ("aligned" if align == "1" else "non-aligned")
    assert m["api"] == " prepare API"
    assert "WARNING" not in out  # probe() described the same room as prepare()
    got = _report(out)
    assert got["page_get"] == 0
    assert got["frag_refill"] + got["frag_recycle"] == _ceil_div(got["frag_commit"], 16)


def test_compare_prints_both_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    args = [f"nr_test={NR_TEST}", "--compare", "page_frag_cache,page_frag_cache_countdown"]
    assert pft.main(args) == 0
    out = capsys.readouterr().out
    assert [int(m["n"]) for m in LINE.finditer(out)] == [NR_TEST, NR_TEST]
    rows = _table(out)
    assert rows[""] == ["page_frag_cache", "page_frag_cache_countdown"]
    assert rows["page_get / frag"] == ["0", "0"]
    assert all(cell.endswith("x") for cell in rows["time vs page_frag_cache"])
    for refills, ref_add in zip(rows["refills"], rows["page_ref_add / frag"], strict=True):
        # one page_ref_add per refill; about nr_test * 2048 / 32768 of them
        assert float(ref_add) == pytest.approx(int(refills) / NR_TEST, abs=1e-4)
        assert 1 <= int(refills) <= _ceil_div(NR_TEST + 1024, 16)


def test_compare_with_page_frag(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["nr_test=5000", "test_alloc_len=256", "--compare", "page_frag,page_frag_cache"]
    assert pft.main(args) == 0
    rows = _table(capsys.readouterr().out)
    get_page, cache_get = (float(c) for c in rows["page_get / frag"])
    assert get_page >= 1.0  # one per fragment, plus those freed when the ring was full
    assert cache_get == 0.0


@pytest.mark.parametrize(
    ("allocator", "size"),
    [("page_frag_cache", 2048), ("page_frag_cache_countdown", 12), ("page_frag", 75)],
)
def test_run_returns_the_counters(allocator: str, size: int) -> None:
    params = pft.Params(nr_test=3000, test_alloc_len=size)
    result = trio.run(pft.run, params, allocator)
    c = result.counters
    frags = 3000 + result.ring_full
    assert c["frag_commit"] == frags
    assert result.duration_us == result.duration_ns // 1000
    assert result.warnings == ()
    assert c["page_alloc"] == c["page_free"] == c["frag_refill"]
    if allocator == "page_frag":
        assert (c["page_get"], c["page_ref_add"]) == (frags, 0)
    else:
        assert (c["page_get"], c["page_ref_add"]) == (0, c["frag_refill"])
        assert c["frag_refill"] + c["frag_recycle"] == _ceil_div(frags, _per_page(size))


class _IgnoresAlign(PageFragCache):
    """A broken allocator: alloc() ignores ``align``."""

    __slots__ = ()

    def alloc(self, fragsz: int, gfp: int, align: int = 1) -> tuple[Page, int] | None:
        return super().alloc(fragsz, gfp)


class _ProbeLies(PageFragCache):
    """A broken allocator: probe() reports one byte less room than prepare()."""

    __slots__ = ()

    def probe(self, fragsz: int, align: int = 1, *, want: int | None = None) -> FragSpan | None:
        span = super().probe(fragsz, align, want=want)
        return None if span is None else FragSpan(span.page, span.offset, span.size - 1)


@pytest.mark.parametrize(
    ("broken", "args", "warning"),
    [
        (_IgnoresAlign, ["test_align=1"], "WARNING: page_frag_test: unaligned va returned"),
        (_ProbeLies, ["test_prepare=1"], "WARNING: page_frag_test: probe() disagrees"),
    ],
)
def test_a_broken_allocator_warns_once_and_fails(
    broken: type[PageFragCache],
    args: list[str],
    warning: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(pft, "get_frag_allocator", lambda name: broken)
    assert pft.main(["nr_test=2000", "test_alloc_len=12", *args]) == 1
    out = capsys.readouterr().out
    assert out.count("WARNING") == 1  # WARN_ONCE
    assert warning in out
    assert len(LINE.findall(out)) == 1  # v20 only warns: the run completes
    assert "WARN(s) with page_frag_cache: it broke an invariant" in out


# -- page_frag_test.py: parameters as insmod takes them ----------------------------------------


@pytest.mark.parametrize("length", ["0", str(PAGE_SIZE + 1), "-5"])
def test_alloc_len_out_of_range_is_einval(length: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert pft.main([f"test_alloc_len={length}", "nr_test=10"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0] == (
        "insmod: ERROR: could not insert module page_frag_test.ko: Invalid parameters"
    )
    assert f"test_alloc_len={length}" in lines[1]
    assert "(0, PAGE_SIZE]" in lines[1]


def test_alloc_len_of_a_page_is_fine(capsys: pytest.CaptureFixture[str]) -> None:
    assert pft.main([f"test_alloc_len={PAGE_SIZE}", "nr_test=100"]) == 0
    assert len(LINE.findall(capsys.readouterr().out)) == 1


@pytest.mark.parametrize(
    "arg", ["nr_test=abc", "nr_test=1e6", "nr_test=4294967296", "test_align=maybe", "nr_test"]
)
def test_unparsable_value_is_einval(arg: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert pft.main([arg]) == 1
    err = capsys.readouterr().err
    assert "Invalid parameters" in err
    assert "invalid for parameter" in err


@pytest.mark.parametrize("arg", ["test_push_cpu=-1", "test_pop_cpu=-2", "nr_test=-1"])
def test_negative_cpu_or_count_is_einval(arg: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert pft.main([arg]) == 1
    assert arg in capsys.readouterr().err


def test_unknown_key_lists_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert pft.main(["nr_tests=10"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'nr_tests'" in err
    for name in pft.PARAM_DOCS:
        assert name in err


def test_unknown_allocator_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert pft.main(["nr_test=10", "--compare", "page_frag_cache,nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown frag allocator 'nope'" in err
    assert "page_frag_cache_countdown" in err


def test_allocator_and_compare_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    assert pft.main(["--allocator", "page_frag", "--compare", "page_frag"]) == 2
    assert "not allowed" in capsys.readouterr().err


def test_cpus_are_accepted_and_reported(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["test_push_cpu=16", "test_pop_cpu=17", "test_alloc_len=12", "nr_test=1000"]
    assert pft.main(args) == 0
    out = capsys.readouterr().out
    assert "test_push_cpu=16 test_pop_cpu=17" in out
    assert "cpu 16 and 17 are nominal" in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], pft.Params()),
        (["test_align=y", "test_prepare=true"], pft.Params(test_align=True, test_prepare=True)),
        (["test_align=Y", "test_prepare=on"], pft.Params(test_align=True, test_prepare=True)),
        (["test_align=1", "test_align=n"], pft.Params(test_align=False)),  # later wins
        (["test_align=false", "test_prepare=0"], pft.Params()),
        (["test-align", "nr-test=0x10"], pft.Params(nr_test=16, test_align=True)),
        (["nr_test=010", "test_alloc_len=+12"], pft.Params(nr_test=8, test_alloc_len=12)),
        (["nr_test=51200000"], pft.Params(nr_test=51200000)),
    ],
)
def test_parameter_syntax(args: list[str], expected: Any) -> None:
    assert pft.parse_module_params(args) == expected


def test_defaults_are_the_modules() -> None:
    p = pft.Params()
    assert (p.nr_test, p.test_align, p.test_alloc_len) == (2000000, False, 2048)
    assert (p.test_push_cpu, p.test_pop_cpu, p.test_prepare) == (0, 0, False)


# -- benchmarks/run.py alloc -------------------------------------------------------------------


def test_bench_alloc_prints_a_line_per_allocator(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["alloc", "--count", "2000", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    allocators = bench.alloc_allocators()
    assert {"page_frag", "page_frag_cache", "page_frag_cache_countdown"} <= set(allocators)
    for size in (12, 256, 2048):
        for name in [bench.BASELINE, *allocators]:
            line = re.compile(rf"^{re.escape(name)} +{size} +\d+\.\d +\d+\.\d\d", re.MULTILINE)
            assert line.search(out), f"no line for {name} at {size}:\n{out}"


def test_bench_alloc_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["alloc", "--count", "2000", "--repeat", "1", "--sizes", "12,2048", "--json"]
    assert bench.main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["benchmark"] == "alloc"
    assert [b["size"] for b in data["baseline"]] == [12, 2048]
    results = {(r["allocator"], r["size"]): r for r in data["results"]}
    assert len(results) == 2 * len(bench.alloc_allocators())
    old, cache = results["page_frag", 2048], results["page_frag_cache", 2048]
    # batches of 16 (one 32 KiB page of 2048-byte frags): 125 batches for 2000 fragments
    assert old["frags"] == cache["frags"] == 2000
    assert old["refcount_per_frag"]["page_get"] == 1.0
    assert cache["refcount_per_frag"]["page_get"] == 0.0
    assert cache["refcount_per_frag"]["page_put"] == 1.0
    # one refill, then every page recycled: one page_ref_sub_and_test per later batch
    assert cache["counters"]["frag_refill"] == cache["counters"]["page_ref_add"] == 1
    assert cache["counters"]["frag_recycle"] == cache["counters"]["page_ref_sub_and_test"] == 124
    assert cache["ratio_to_slice"] > 0


def test_bench_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["alloc", "--sizes", "0"]) == 2
    assert bench.main(["alloc", "--allocators", "nope", "--count", "10"]) == 2
    assert bench.main([]) == 2
    capsys.readouterr()


# -- examples/nc_*.py and run_all.sh ----------------------------------------------------------

DD = re.compile(r"^(?P<bytes>\d+) bytes \(.*\) copied, \S+ s, \S+ MB/s, \S+ MiB/s$", re.MULTILINE)
UDP_COUNTS = re.compile(
    r"^(?P<sent>\d+) datagrams sent, (?P<got>\d+) received, (?P<lost>\d+) lost "
    r"\((?P<mib>Udp6?RcvbufErrors): the receive buffer was full\)$",
    re.MULTILINE,
)


def _counter(out: str, name: str) -> int:
    found = re.search(rf"^ +([\d,]+) +{re.escape(name)}\b", out, re.MULTILINE)
    assert found is not None, f"no {name} line in:\n{out}"
    return int(found.group(1).replace(",", ""))


@pytest.mark.parametrize("flow", list(NC_EXAMPLES))
@pytest.mark.parametrize(
    ("size", "nbytes", "allocator"),
    [("1M", 1 << 20, "page_frag"), ("100000", 100000, "page_frag_cache")],
)
def test_nc_example_prints_dd_and_the_report(
    flow: str, size: str, nbytes: int, allocator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert NC_EXAMPLES[flow].main([size, allocator]) == 0
    out = capsys.readouterr().out
    [dd] = DD.finditer(out)
    addr = "::1" if flow.endswith("6") else "127.0.0.1"
    title = f"nc{' -u' if flow.startswith('udp') else ''} {addr} 1234"
    assert f" Performance counter stats for '{title}' (allocator {allocator}):" in out
    copied = _counter(out, "bytes copied")  # payload bytes copied into page frags
    if flow.startswith("tcp") or nbytes % 16384 == 0:
        assert copied == nbytes
    else:  # UDP's short last datagram is copied into the skb's linear head instead
        assert copied == nbytes - nbytes % 16384
    if flow.startswith("tcp"):
        assert int(dd["bytes"]) == nbytes
        return
    [counts] = UDP_COUNTS.finditer(out)
    sent, got, lost = int(counts["sent"]), int(counts["got"]), int(counts["lost"])
    assert sent == -(-nbytes // 16384)  # one datagram per 16 KiB write
    assert got + lost == sent
    assert counts["mib"] == ("Udp6RcvbufErrors" if flow == "udp6" else "UdpRcvbufErrors")
    assert int(dd["bytes"]) == nbytes if lost == 0 else int(dd["bytes"]) < nbytes


def test_nc_example_defaults() -> None:
    ex = NC_EXAMPLES["tcp4"]
    assert [ex.parse_size(s) for s in ("32M", "1g", "512K", "4096")] == [
        32 << 20,
        1 << 30,
        512 << 10,
        4096,
    ]


@pytest.mark.skipif(shutil.which("bash") is None, reason="run_all.sh is a bash script")
def test_run_all_runs_the_four_examples() -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "examples" / "run_all.sh"), "64K", "page_frag"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    heads = re.findall(r"^==> nc_(\w+)\.py 64K page_frag$", out, re.MULTILINE)
    assert heads == ["tcp4", "udp4", "tcp6", "udp6"]
    assert len(re.findall(r"^65536 bytes .* copied", out, re.MULTILINE)) >= 2  # TCP never drops
    assert out.count("(allocator page_frag):") == 4
    assert out.rstrip().endswith("Done")


@pytest.mark.skipif(shutil.which("bash") is None, reason="run_all.sh is a bash script")
def test_run_all_stops_at_the_first_failure() -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "examples" / "run_all.sh"), "64K", "no_such_allocator"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        timeout=300,
        check=False,
    )
    assert proc.returncode != 0
    assert "==> nc_udp4.py" not in proc.stdout  # set -e: the first failure ends the script


# -- benchmarks/run.py nc ----------------------------------------------------------------------

NC_ROW = re.compile(
    r"^(?P<flow>tcp4|tcp6|udp4|udp6) +(?P<allocator>\w+) +(?P<real>\d+) +(?P<netsim>[\d.]+) +"
    r"(?P<x_real>[\d.]+) +(?P<x_ceiling>[\d.]+)(?: +(?P<lost>[\d?]+/\d+))?$",
    re.MULTILINE,
)


def test_bench_nc_table_over_trio_sockets(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["nc", "--bytes", "256K", "--repeat", "1", "--real", "trio"]
    assert bench.main([*args, "--allocators", "page_frag,page_frag_cache"]) == 0
    out = capsys.readouterr().out
    assert "real:    trio over the kernel's sockets, best of 1" in out
    assert re.search(r"^ceiling: .*: \d+ MB/s$", out, re.MULTILINE)
    rows = [m.groupdict() for m in NC_ROW.finditer(out)]
    assert [(r["flow"], r["allocator"]) for r in rows] == [
        (flow, allocator)
        for flow in ("tcp4", "tcp6", "udp4", "udp6")
        for allocator in ("page_frag", "page_frag_cache")
    ]
    for r in rows:
        assert (r["lost"] is not None) == r["flow"].startswith("udp")
        assert float(r["x_real"]) > 0
        assert float(r["x_ceiling"]) > 0
    tls = out.split("nc --tls: ", 1)[1]
    assert re.search(
        r"^real: +(the kernel's kTLS, software path|Python ssl \(OpenSSL)", tls, re.MULTILINE
    )
    tls_rows = [m.groupdict() for m in NC_TLS_ROW.finditer(tls)]
    assert [(r["flow"], r["mode"], r["allocator"]) for r in tls_rows] == [
        (flow, mode, allocator)
        for flow in ("tcp4", "tcp6")
        for mode in ("sw", "device")
        for allocator in ("page_frag", "page_frag_cache")
    ]
    for r in tls_rows:
        assert float(r["netsim"]) > 0
        assert float(r["x_real"]) > 0
        assert float(r["x_ceiling"]) > 0
        assert float(r["x_plain"]) > 0


NC_TLS_ROW = re.compile(
    r"^(?P<flow>tcp[46])/tls +(?P<mode>sw|device) +(?P<allocator>\w+) +(?P<real>\d+) +"
    r"(?P<netsim>[\d.]+) +(?P<x_real>[\d.]+) +(?P<x_ceiling>[\d.]+) +(?P<x_plain>[\d.]+)$",
    re.MULTILINE,
)


def test_bench_nc_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["nc", "--bytes", "128K", "--repeat", "1", "--real", "trio", "--json"]
    assert bench.main([*args, "--allocators", "page_frag_cache"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["benchmark"] == "nc"
    assert (data["bytes"], data["write_size"], data["read_size"]) == (128 << 10, 16384, 16384)
    assert [f["flow"] for f in data["flows"]] == ["tcp4", "tcp6", "udp4", "udp6"]
    for flow in data["flows"]:
        [run] = flow["netsim"]
        assert run["allocator"] == "page_frag_cache"
        assert run["ratio_to_real"] > 0
        assert run["ratio_to_ceiling"] > 0
        assert set(run["refcount_per_MiB"]) == {
            "page_get",
            "page_put",
            "page_ref_add",
            "page_ref_sub_and_test",
        }
        if flow["flow"].startswith("tcp"):
            assert run["received"] == 128 << 10
            assert run["lost_datagrams"] is None
        else:
            assert run["received"] + run["lost_datagrams"] * 16384 == 128 << 10
    assert data["rss"] == []
    tls = data["tls"]
    assert tls["real_is_ktls"] == (tls["no_ktls_because"] is None)
    assert tls["ceiling_MB/s"] > 0
    assert [(f["flow"], f["mode"]) for f in tls["flows"]] == [
        ("tcp4", "sw"),
        ("tcp4", "device"),
        ("tcp6", "sw"),
        ("tcp6", "device"),
    ]
    for flow in tls["flows"]:
        assert flow["real"]["MB/s"] > 0
        [run] = flow["netsim"]
        assert run["txconf"] == ("hw" if flow["mode"] == "device" else "sw")
        assert run["received"] == 128 << 10
        assert run["records_per_MiB"] == 64.0  # one record per 16 KiB write
        assert run["ratio_to_real"] > 0
        assert run["ratio_to_plain"] > 0
    args = ["nc", "--bytes", "64K", "--repeat", "1", "--real", "trio", "--json", "--no-tls"]
    assert bench.main([*args, "--allocators", "page_frag"]) == 0
    assert "tls" not in json.loads(capsys.readouterr().out)


@pytest.mark.skipif(bench.openbsd_nc() is None, reason="OpenBSD netcat (netcat-openbsd) absent")
def test_bench_nc_with_openbsd_netcat(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["nc", "--bytes", "256K", "--repeat", "1", "--real", "nc", "--allocators", "page_frag"]
    assert bench.main(args) == 0
    out = capsys.readouterr().out
    assert "real:    OpenBSD netcat (" in out
    assert [m["flow"] for m in NC_ROW.finditer(out)] == ["tcp4", "tcp6", "udp4", "udp6"]


def test_bench_nc_rss(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["nc", "--bytes", "64K", "--repeat", "1", "--real", "trio", "--allocators", "page_frag"]
    assert bench.main([*args, "--rss", "--rss-sizes", "1M,2M", "--json", "--no-tls"]) == 0
    data = json.loads(capsys.readouterr().out)
    floor, one, two = data["rss"]
    assert (floor["bytes"], one["bytes"], two["bytes"]) == (0, 1 << 20, 2 << 20)
    assert all(r["max_rss_kib"] > 1024 for r in data["rss"])
    assert one["seconds"] > 0


def test_bench_nc_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["nc", "--bytes", "0"]) == 2
    assert bench.main(["nc", "--bytes", "lots"]) == 2
    assert bench.main(["nc", "--allocators", "nope"]) == 2
    assert bench.main(["nc", "--rss", "--rss-allocator", "nope"]) == 2
    capsys.readouterr()


# -- tls_device_offload.py: kTLS records in page frags, and TCP's frags over them -------------

tls_example = _load("examples/tls_device_offload.py", "netsim_examples_tls_device_offload")
TCP_FRAG = re.compile(r"^ {6}pfn (0x[0-9a-f]+) off +(\d+) len +(\d+)$", re.MULTILINE)


def _tls_example(allocator: str) -> str:
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        status = trio.run(
            tls_example.main, allocator, clock=trio.testing.MockClock(autojump_threshold=0)
        )
    assert status == 0
    return out.getvalue()


@pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])
def test_tls_device_offload_example(allocator: str) -> None:
    out = _tls_example(allocator)
    assert out.startswith("client TLS_TX: hw (device offload on lo), server TLS_RX: sw")
    first, more, last = out.split("\nsend(")[1:]
    # one full record per 16 KiB write: prepend, payload and tag in one frag of the 32 KiB page
    record0 = "record 0: seq 0..16413, len 16413 (13 + 16384 + 16 tag), frags [pfn 0x1000 off 0"
    assert record0 in first
    assert "open record: len 113 so far" in more  # MSG_MORE: still open
    assert "record 1: seq 16413..21542, len 5129 (13 + 5100 + 16 tag)" in last
    assert "open record" not in last
    # TCP spliced the records 4 KiB sub-page by sub-page: no frag crosses a 4 KiB boundary
    frags = [(int(pfn, 16), int(off), int(n)) for pfn, off, n in TCP_FRAG.findall(first)]
    assert [n for _, _, n in frags] == [4096, 4096, 4096, 4096, 29]
    assert [pfn for pfn, _, _ in frags] == [0x1000, 0x1001, 0x1002, 0x1003, 0x1004]
    frags = [(int(pfn, 16), int(off), int(n)) for pfn, off, n in TCP_FRAG.findall(last)]
    assert all(off + n <= 4096 for _, off, n in frags)
    assert sum(n for _, _, n in frags) == 21542  # both records, header and tag included
    assert "the listener read 21484 bytes: decrypted, authenticated, the bytes sent" in out
    assert "after the ACKs: 0 records on records_list, the 2 records' frags freed" in out
    dropped = re.search(r"(\d+) references dropped: (\d+) of the records' frags, (\d+) of", out)
    assert dropped is not None
    assert int(dropped[1]) == int(dropped[2]) + int(dropped[3]) == 2 + 6
    counters = dict(re.findall(r"^  (\w+) +(\d+)$", out, re.MULTILINE))
    assert counters["tls_records"] == counters["tls_dev_encrypt"] == counters["tls_rx_records"]
    assert counters["tls_records"] == "2"
    assert counters["tls_sw_encrypt"] == "0"
    assert (counters["TlsTxDevice"], counters["TlsCurrTxDevice"], counters["TlsRxSw"]) == (
        "1",
        "1",
        "1",
    )


def test_tls_device_offload_example_output_is_stable() -> None:
    assert _tls_example("page_frag_cache") == _tls_example("page_frag_cache")


def test_tls_device_offload_example_runs_as_a_script() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tls_device_offload.py"), "page_frag"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == _tls_example("page_frag")


# -- page_appetite.py: why the cache takes more pages at odd write sizes ----------------------

appetite = _load("examples/page_appetite.py", "netsim_examples_page_appetite")


def _appetite(write: int, count: int) -> tuple[dict[str, float], str]:
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        per_mib = trio.run(
            appetite.main, write, count, clock=trio.testing.MockClock(autojump_threshold=0)
        )
    return per_mib, out.getvalue()


def test_page_appetite_at_odd_write_sizes() -> None:
    """1000-byte writes: the old allocator reuses its one page at every write; the cache uses
    each page up in the middle of a write that holds it, so it abandons it and refills — one
    page per 32 KiB, whatever the timing (docs/page-appetite.md)."""
    per_mib, out = _appetite(1000, 200)
    old, cache = out.split("--- page_frag_cache")
    assert old.count(" reuse") >= 3
    assert "(197 more writes, each a reuse from offset 0)" in old
    assert "pages allocated: 1 " in old
    lines = [line for line in cache.splitlines() if "abandon" in line]
    assert len(lines) == 6  # 200,000 bytes: six page ends, each inside a write
    assert all(" + p" in line and line.split()[1] == "0" for line in lines)
    assert "recycle" not in cache
    assert "pages allocated: 7 " in cache
    assert per_mib["page_frag_cache"] > 30 * per_mib["page_frag"] / 5


def test_page_appetite_when_writes_divide_the_page() -> None:
    per_mib, out = _appetite(16384, 16)
    cache = out.split("--- page_frag_cache")[1]
    assert cache.count("recycle") == 7
    assert "abandon" not in cache
    assert per_mib["page_frag"] == per_mib["page_frag_cache"]
