"""``netsim trace``: the examples print the decisive lines, ``--json`` follows docs/trace.md's
schema (frames = events + 1, labels shared by events and frames), bad arguments exit 2 with
a reason, a refused write exits 1 — and the host gives every page back on each path."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from netsim.cli import main as netsim_main
from netsim.cli.trace import parse_args
from netsim.skb import PageMapCursor, PageMapPage, PageMapRange, PageMapSkb
from netsim.testing.allow import STALLED_READER

PAGE_KEYS = set(PageMapPage.__required_keys__)
RANGE_KEYS = set(PageMapRange.__required_keys__)
CURSOR_KEYS = set(PageMapCursor.__required_keys__)
SKB_KEYS = set(PageMapSkb.__required_keys__)
SCENARIO_KEYS = {
    "proto",
    "family",
    "allocator",
    "writes",
    "more",
    "cork",
    "nodelay",
    "max_skb_frags",
    "read",
}
EVENT_KEYS = {"seq", "time", "kind", "where", "reason", "fields", "step"}


def _trace(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = netsim_main(["trace", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def _events(out: str, kind: str) -> list[str]:
    """The event lines of ``kind`` (reason lines joined on), in order."""
    lines = out.splitlines()
    found: list[str] = []
    for i, line in enumerate(lines):
        if re.match(rf"^ *\d+ {kind} ", line):
            text = line
            for more in lines[i + 1 :]:
                if not more.startswith("       "):  # continuation lines are indented
                    break
                text += " " + more.strip()
            found.append(text)
    return found


def _step(out: str, header: str) -> str:
    """The text of the step whose header starts with ``header``."""
    start = out.index(f"== {header}")
    end = out.find("\n== ", start + 1)
    return out[start : end if end >= 0 else len(out)]


# -- the examples -------------------------------------------------------------------------------


def test_page_frag_takes_a_get_page_per_new_frag(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _trace(
        ["tcp", "--writes", "100,100,40000", "--allocator", "page_frag"], capsys
    )
    assert (status, err) == (0, "")
    assert out.startswith("netsim trace tcp --writes 100,100,40000 --allocator page_frag\n")
    assert "host: lo 127.0.0.1, allocator page_frag" in out
    for n, size in enumerate((100, 100, 40000), 1):
        assert f"== write {n}: send({size} B) ==" in out
    (refill, *_) = _events(out, "refill")
    assert "each new frag takes its own with get_page" in refill
    assert _events(out, "abandon")  # page 1 ran out while frags still held it
    assert "fresh pages for the fragment allocator" in out
    summary = out[out.index("== summary ==") :]
    assert re.search(r"frag_refill +2 ", summary)
    assert re.search(r"skb_new_frag +5 ", summary)
    assert "page_frag took one get_page per new frag: 5 of the" in " ".join(summary.split())
    assert "every page given back" in " ".join(summary.split())
    for line in out.splitlines():
        if line.startswith(("   ", "== ", "  frag_", "  page_", "  skb_")) and " -- " not in line:
            assert len(line) <= 100, line


def test_cork_coalesces_with_page_frag_cache(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _trace(["tcp", "--writes", "100,100,40000", "--cork"], capsys)
    assert status == 0
    coalesced = _events(out, "coalesce")
    assert len(coalesced) == 2
    assert "contiguous with frag[0] on the same page: it grows to 200 B" in coalesced[0]
    assert "corked (TCP_CORK or MSG_MORE)" in _events(out, "hold")[0]
    write2 = _step(out, "write 2")
    assert "frag[0] page#0x1000 [0, 200) len 200 (ref 32769 = 1 holder + bias 32768" in write2
    assert "|headroom 320" in write2  # the ruler
    assert "== uncork: setsockopt(TCP_CORK, 0) ==" in out
    assert _events(_step(out, "uncork"), "transmit")
    assert re.search(r"skb_coalesce +2 ", out)
    assert re.search(r"page_get +0 ", out) is None  # the receive side's get_page counts


def test_udp_more_copies_the_first_chunk_linear_then_coalesces(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _trace(["udp", "-6", "--more", "--writes", "100,100,100"], capsys)
    assert status == 0
    assert "== write 1: send(100 B, MSG_MORE) ==" in out
    assert "== write 3: send(100 B) ==" in out
    write1 = _step(out, "write 1")
    assert "skb=skb1" in _events(write1, "linear")[0]
    assert "data: IPv6 header 40 | UDP header 8 | payload 100" in write1
    assert "the skb's first frag" in _events(_step(out, "write 2"), "new_frag")[0]
    (coalesce,) = _events(_step(out, "write 3"), "coalesce")
    assert "skb=skb1 frag=0" in coalesce
    assert "it grows to 200 B" in coalesce
    (transmit,) = _events(out, "transmit")
    assert "skb=skb1 len=348 nr_frags=1" in transmit  # 40 + 8 + 100 linear, 200 in one frag


def test_countdown_never_coalesces(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _trace(
        ["tcp", "--writes", "100,100,100", "--allocator", "page_frag_cache_countdown", "--cork"],
        capsys,
    )
    assert status == 0
    assert not _events(out, "coalesce")
    new = _events(out, "new_frag")
    assert len(new) == 3
    for line in new[1:]:
        assert "not contiguous" in line
        assert "skb_can_coalesce says no" in line
    assert "consecutive ones are never contiguous" in " ".join(out.split())


def test_uncorked_small_writes_each_take_a_new_skb(capsys: pytest.CaptureFixture[str]) -> None:
    """Without cork, each small write leaves at once, so the next starts a new skb: the
    summary says why nothing coalesced and what would make it."""
    status, out, _ = _trace(
        ["tcp", "--writes", "100,100,100", "--allocator", "page_frag_cache_countdown"], capsys
    )
    assert status == 0
    assert len(_events(out, "new_skb")) == 3
    words = " ".join(out.split())
    assert "Every write started a new skb" in words
    assert "--cork or --more keeps the tail skb waiting" in words


def test_frag_limit_starts_a_new_skb(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _trace(
        [
            "tcp",
            "--cork",
            "--writes",
            "100,100,100",
            "--max-skb-frags",
            "2",
            "--allocator",
            "page_frag_cache_countdown",
        ],
        capsys,
    )
    assert status == 0
    assert "net.core.max_skb_frags 2" in out
    (full,) = [e for e in _events(out, "new_skb") if "frags are full" in e]
    assert "tail=skb1" in full
    assert "(nr_frags 2, net.core.max_skb_frags 2)" in full
    assert "skb=skb2 frag=0" in _events(_step(out, "write 3"), "new_frag")[0]


def test_nodelay_sends_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _trace(["tcp", "--nodelay", "--writes", "100,100"], capsys)
    assert status == 0
    assert "(TCP_NODELAY)" in out
    assert any("TCP_NODELAY" in t for t in _events(out, "transmit"))


def test_read_gives_the_pages_back(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _trace(["tcp", "--read", "--writes", "100,100"], capsys)
    assert status == 0
    read1 = _step(out, "read 1: recv() -> 100 B")
    assert any("the last user of the frags" in e for e in _events(read1, "skb_free"))
    assert "sk_receive_queue" not in read1
    assert "== read 2: recv() -> 100 B ==" in out


def test_two_sockets_share_the_task_frag(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _trace(
        ["tcp", "--two-sockets", "--cork", "--writes", "100,100,100,100"], capsys
    )
    assert status == 0
    assert "socket A: tcp :" in out
    assert "socket B: tcp :" in out
    assert "== write 2: socket B send(100 B) ==" in out
    (third,) = _events(_step(out, "write 3"), "new_frag")
    assert "offset=200" in third  # after socket B's 100 bytes at 100..200: one task_frag
    assert "not contiguous" in third
    assert out.count("cursor task writer#") >= 4
    assert not _events(out, "coalesce")


def test_all_adds_the_refcount_bookkeeping(capsys: pytest.CaptureFixture[str]) -> None:
    _, quiet, _ = _trace(["tcp", "--writes", "100", "--allocator", "page_frag"], capsys)
    _, loud, _ = _trace(["tcp", "--writes", "100", "--allocator", "page_frag", "--all"], capsys)
    for kind in ("get_page", "prepare", "commit", "skb_alloc", "page_alloc"):
        assert not _events(quiet, kind)
        assert _events(loud, kind), kind


# -- --json, --html -------------------------------------------------------------------------


def _check_schema(data: dict[str, Any], argv: list[str]) -> None:
    assert set(data) == {"version", "title", "scenario", "steps", "events", "frames"}
    assert data["version"] == 1
    assert data["title"] == "netsim trace " + " ".join(argv)
    assert set(data["scenario"]) == SCENARIO_KEYS
    events, steps, frames = data["events"], data["steps"], data["frames"]
    assert len(frames) == len(events) + 1
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    for step in steps:
        assert set(step) == {"label", "first", "last"}
    # the steps tile the events in order; each event names its step
    seq = 1
    for i, step in enumerate(steps):
        assert step["first"] == seq
        for k in range(step["first"], step["last"] + 1):
            assert events[k - 1]["step"] == i
        seq = step["last"] + 1
    assert seq == len(events) + 1
    # skbs are named by the tracer when the cores first see them (an skb_alloc the default
    # view leaves out names one too): every label a frame shows is an event's
    seen: set[str] = set()
    for event in events:
        assert set(event) == EVENT_KEYS
        seen |= {
            str(v) for f, v in event["fields"].items() if f in ("skb", "tail", "from", "clone_of")
        }
    for k, frame in enumerate(frames):
        assert set(frame) == {"pages", "skbs"}
        pfns = [p["pfn"] for p in frame["pages"]]
        assert pfns == sorted(pfns)
        for page in frame["pages"]:
            assert set(page) == PAGE_KEYS
            assert page["holders"] == page["refcount"] - page["allocator_share"]
            assert page["share"] in ("bias", "own", None)
            starts = [r["start"] for r in page["ranges"]]
            assert starts == sorted(starts)
            for r in page["ranges"]:
                assert set(r) == RANGE_KEYS
                assert r["skb"] in seen, f"frame {k}: {r['skb']} is no event's"
            for c in page["cursors"]:
                assert set(c) == CURSOR_KEYS
        for skb in frame["skbs"]:
            assert set(skb) == SKB_KEYS
            assert skb["label"] in seen
            assert skb["nr_frags"] == len(skb["frags"])
            for f in skb["frags"]:
                assert set(f) == {"pfn", "offset", "len"}
                assert f["pfn"] in pfns
    assert frames[-1] == {"pages": [], "skbs": []}  # everything given back at the end


@pytest.mark.parametrize(
    "argv",
    [
        ["tcp", "--writes", "100,100,40000", "--allocator", "page_frag"],
        ["udp", "-6", "--more", "--writes", "100,100,100", "--all"],
        ["tcp", "--cork", "--read", "--two-sockets", "--writes", "100,2000,100"],
    ],
)
def test_json_follows_the_schema(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "trace.json"
    status, out, _ = _trace([*argv, "--json", str(path)], capsys)
    assert status == 0
    assert "== summary ==" in out  # the text still goes to stdout
    data = json.loads(path.read_text())
    _check_schema(data, [*argv, "--json", str(path)])
    assert data["scenario"]["writes"] == [
        int(w) for w in argv[argv.index("--writes") + 1].split(",")
    ]
    # the labels in the text are the JSON's
    for event in data["events"]:
        if event["kind"] in ("coalesce", "new_frag"):
            assert f"{event['seq']:>4} {event['kind']}" in out
            assert f"skb={event['fields']['skb']} " in out


def test_json_frame_after_a_coalesce_shows_the_grown_frag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.json"
    assert _trace(["tcp", "--cork", "--writes", "100,100", "--json", str(path)], capsys)[0] == 0
    data = json.loads(path.read_text())
    (coalesce,) = [e for e in data["events"] if e["kind"] == "coalesce"]
    frame = data["frames"][coalesce["seq"]]
    (page,) = frame["pages"]
    assert [(r["start"], r["end"], r["skb"]) for r in page["ranges"]] == [
        (0, 200, coalesce["fields"]["skb"])
    ]
    assert (page["share"], page["holders"], page["allocator_share"]) == ("bias", 1, 32768)
    step = data["steps"][coalesce["step"]]
    assert step["label"] == "write 2: send(100 B)"
    # the allocator's commit_noref follows the coalesce: by the step's end the cursor moved
    (page,) = data["frames"][step["last"]]["pages"]
    assert page["cursors"][0]["offset"] == 200


def test_json_to_stdout_replaces_the_text(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _trace(["udp", "--writes", "10", "--json", "-"], capsys)
    assert status == 0
    data = json.loads(out)
    _check_schema(data, ["udp", "--writes", "10", "--json", "-"])


def test_html_hands_the_json_data_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("netsim.cli.trace_html")
    path = tmp_path / "t.html"
    status, _, err = _trace(["tcp", "--cork", "--writes", "100,100", "--html", str(path)], capsys)
    assert (status, err) == (0, "")
    assert path.stat().st_size > 0


def test_html_without_its_module_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "netsim.cli.trace_html", None)
    path = tmp_path / "t.html"
    status, out, err = _trace(["tcp", "--html", str(path)], capsys)
    assert status == 1
    assert out == ""
    assert "--html needs the module netsim.cli.trace_html" in err
    assert not path.exists()


def test_unwritable_json_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _trace(["tcp", "--json", str(tmp_path / "no" / "x.json")], capsys)
    assert status == 1
    assert out == ""
    assert err.startswith("netsim trace: --json ")
    assert "No such file or directory" in err


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tcp", "--writes", "-5"], "a write of -5 bytes: sizes must be >= 1"),
        (["tcp", "--writes=100,0"], "a write of 0 bytes: sizes must be >= 1"),
        (["tcp", "--writes", "100,x"], "write sizes are byte counts"),
        (["tcp", "--writes", "2M"], "at most 1048576 B (1M) per write"),
        (["tcp", "--writes", ",".join(["1"] * 101)], "at most 100 in a trace"),
        (
            ["tcp", "--allocator", "slab"],
            "unknown allocator 'slab'; available: page_frag, page_frag_cache",
        ),
        (["tcp", "--max-skb-frags", "0"], "takes 1..17"),
        (["tcp", "--max-skb-frags", "18"], "takes 1..17"),
        (["udp", "--max-skb-frags", "2"], "tcp only"),
        (["udp", "--nodelay"], "tcp only"),
        (["tcp", "-4", "-6"], "not allowed with argument"),
        (["sctp"], "invalid choice: 'sctp'"),
        (["tcp", "--json", "a", "--html", "a"], "name the same file"),
        (["tcp", "--html", "-"], "--html needs a file name"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _trace(argv, capsys)
    assert status == 2
    assert out == ""
    assert message in err
    assert "usage: netsim trace" in err


def test_oversized_datagram_reports_emsgsize(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _trace(["udp", "--writes", "100,70000,100"], capsys)
    assert status == 1
    assert "write 2: send(70000 B) failed: [Errno 90] Message too long" in err
    assert "!! write 2: send(70000 B) failed" in out  # at its step, too
    assert "== write 3" not in out  # the run stops there
    assert "== close: close() every socket ==" in out
    assert "1 write (100 B)" in " ".join(out.split())  # the summary counts what was written


@STALLED_READER
def test_stalled_write_stops_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _trace(["tcp", "--writes", "1M,1M,1M,1M"], capsys)
    assert status == 1
    assert "did not complete in 10 s of virtual time" in err
    assert "add --read" in err
    assert "every page given back" in " ".join(out.split())


def test_parse_defaults_and_the_dispatcher(capsys: pytest.CaptureFixture[str]) -> None:
    opts = parse_args(["udp"])
    assert (opts.proto, opts.family, opts.writes, opts.allocator) == (
        "udp",
        4,
        (100, 100, 100),
        "page_frag_cache",
    )
    assert parse_args(["tcp", "--writes", "1K,16k"]).writes == (1024, 16384)
    assert netsim_main(["--help"]) == 0
    assert "trace     a few writes" in capsys.readouterr().out
    assert netsim_main(["trace", "--help"]) == 0
    assert "netsim trace tcp --writes 100,100,40000 --allocator page_frag" in (
        capsys.readouterr().out
    )
