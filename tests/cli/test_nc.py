"""``netsim nc``: argument handling, the four seed flows, --json against docs/nc.md's schema,
and stdin mode end to end (a subprocess, as a user runs it)."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from netsim.cli import main as netsim_main
from netsim.cli.nc import NcOptions, parse_args, parse_size, run, run_flow, zero_source

MIB = 1 << 20


def _nc(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = netsim_main(["nc", *argv])
    out, err = capsys.readouterr()
    return status, out, err


# -- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4096", 4096),
        ("1K", 1024),
        ("1KB", 1000),
        ("512M", 512 * MIB),
        ("20G", 20 << 30),
        ("3GB", 3 * 10**9),
        ("2b", 1024),
    ],
)
def test_sizes_read_like_head_c(text: str, value: int) -> None:
    assert parse_size(text) == value


def test_netcat_flags_parse() -> None:
    opts = parse_args(
        ["-N", "-u", "-6", "-I", "65536", "-O", "131072", "::1", "1234", "--bytes", "2M"]
    )
    assert (opts.udp, opts.shutdown_on_eof, opts.host, opts.port) == (True, True, "::1", 1234)
    assert (opts.rcvbuf, opts.sndbuf, opts.nbytes) == (65536, 131072, 2 * MIB)
    assert (opts.read_size, opts.write_size, opts.allocator) == (16384, 16384, "page_frag_cache")
    assert not opts.link
    assert parse_args(["--mtu", "9000", "10.0.0.2", "9"]).link
    assert parse_args(["localhost", "9"]).host == "127.0.0.1"
    assert parse_args(["-6", "localhost", "9"]).host == "::1"


# the bad-input table is tests/cli/test_nc_bad_input.py


def test_a_lone_listener_explains_the_one_process_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _out, err = _nc(["-l", "-k", "1234"], capsys)
    assert status == 2
    assert "one process" in err
    assert "netsim nc -N 127.0.0.1 1234 --bytes 1G" in err


def test_top_level_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert netsim_main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("netsim ")
    assert netsim_main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err
    assert netsim_main([]) == 2


# -- the four seed flows -----------------------------------------------------------------------


def _flow(udp: bool, v6: bool, allocator: str, nbytes: int = 2 * MIB) -> NcOptions:
    return NcOptions(
        host="::1" if v6 else "127.0.0.1",
        port=1234,
        udp=udp,
        family=10 if v6 else 2,
        shutdown_on_eof=True,
        nbytes=nbytes,
        allocator=allocator,
        interval=0.0,
    )


@pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])
@pytest.mark.parametrize(
    ("udp", "v6"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["tcp4", "udp4", "tcp6", "udp6"],
)
def test_seed_flow_delivers_every_byte(udp: bool, v6: bool, allocator: str) -> None:
    """Each flow runs on a fresh host whose exit is leak-checked: ``run`` returns 1 and names
    the pages if any is still referenced."""
    out = io.StringIO()
    assert run(_flow(udp, v6, allocator), out=out) == 0
    text = out.getvalue()
    assert f"{2 * MIB} bytes (2.1 MB, 2.0 MiB) copied" in text
    assert f"allocator {allocator}" in text
    if udp:
        assert " 0/128 (0%)  sender" in text  # 2 MiB in 16 KiB datagrams, none lost
    else:
        assert "receiver" in text
    assert "frags/skb histogram" in text


def test_link_flow_over_1500_mtu() -> None:
    opts = _flow(False, False, "page_frag_cache", MIB)
    opts = attrs.evolve(opts, link=True, mtu=1500, rate=1e9)
    out = io.StringIO()
    assert run(opts, out=out) == 0
    assert f"{MIB} bytes" in out.getvalue()
    assert "connected to 10.0.0.2 port 1234" in out.getvalue()


@pytest.mark.parametrize("delay", [0.0, 0.03, 0.3])
def test_udp_listener_reads_what_a_slow_link_still_carries(delay: float) -> None:
    """The UDP listener stops when the sender is done and nothing is left on the wire or in
    its queue — not earlier: datagrams still crossing a link with a long delay after the last
    send returned are received (they were lost when the listener gave up after 50 ms)."""
    opts = attrs.evolve(
        _flow(True, False, "page_frag_cache", 8000),
        write_size=1000,
        link=True,
        mtu=1500,
        rate=1e8,
        delay=delay,
    )
    result = trio.run(
        run_flow,
        opts,
        "page_frag_cache",
        zero_source(8000, 1000),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    assert (result.datagrams_sent, result.datagrams_received) == (8, 8)
    assert (result.sent, result.received) == (8000, 8000)


def test_fault_options_make_a_seeded_plan_on_a_link() -> None:
    opts = parse_args(["-N", "10.0.0.2", "9", "--loss", "2%", "--dup", "0.01", "--seed", "4"])
    assert opts.link
    assert opts.faults is not None
    assert (opts.faults.loss, opts.faults.duplicate, opts.faults.seed) == (0.02, 0.01, 4)
    plain = parse_args(["-N", "10.0.0.2", "9", "--link", "--seed", "4"])
    assert plain.faults is None  # a seed alone is no fault


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_a_faulty_link_run_follows_its_seed(udp: bool) -> None:
    """``netsim nc --loss --dup --reorder --seed`` (in virtual time here): TCP delivers every
    byte.  The faults follow the seed frame by frame: a UDP flow (one sender, a fixed sequence
    of frames) is the same run twice.  A TCP flow's own frame sequence may differ by an ACK
    from run to run — trio shuffles the order of the tasks it wakes together — and the faults
    then fall on different frames."""
    argv = ["-N", "10.0.0.2", "9", "--bytes", "256K", "--loss", "3%", "--dup", "1%"]
    argv += ["--reorder", "2%", "--seed", "5", "--write-size", "8192"]
    opts = parse_args(["-u", *argv] if udp else argv)
    runs = [
        trio.run(
            run_flow,
            opts,
            "page_frag_cache",
            zero_source(256 * 1024, 8192),
            clock=trio.testing.MockClock(autojump_threshold=0),
        )
        for _ in range(2)
    ]
    first, again = runs
    assert set(first.faults) == {"a->b", "b->a"}
    assert first.faults["a->b"]["lost"] > 0
    if udp:
        assert first.faults == again.faults
        assert (first.received, first.datagrams_received) == (
            again.received,
            again.datagrams_received,
        )
        assert first.datagrams_received < first.datagrams_sent
    else:
        assert first.received == again.received == 256 * 1024
        assert first.info["total_retrans"] > 0
        assert first.report is not None
        rec = first.report.loss_recovery()
        assert rec["fast_recoveries"] > 0  # SACK found most losses
        assert rec["fast_retransmits"] + rec["timeouts"] <= first.report.retransmits
        assert first.report.as_json()["loss_recovery"] == rec
    out = io.StringIO()
    assert run(attrs.evolve(opts, interval=0.0), out=out) == 0
    text = out.getvalue()
    assert "faults loss 3% dup 1% reorder 2% seed 5" in text
    assert "faults a->b: " in text
    if not udp:
        assert "fast recoveries" in text
        assert "tail loss probes" in text


def test_an_oversized_datagram_is_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    """``nc -u`` with 70000-byte writes: ``udp_sendmsg`` refuses a datagram over 65507 bytes
    with EMSGSIZE; the run stops with the error and status 1 (and leaks nothing)."""
    opts = NcOptions(host="127.0.0.1", port=9, udp=True, family=2, nbytes=1 << 20, write_size=70000)
    assert run(opts) == 1
    assert "Message too long" in capsys.readouterr().err


# -- --json ------------------------------------------------------------------------------------

SCHEMA_TYPES: dict[str, Any] = {
    "start": {
        "connected": list,
        "version": str,
        "system_info": str,
        "timestamp": {"time": str, "timesecs": int},
        "connecting_to": {"host": str, "port": int},
        "tcp_mss_default": int,
        "sock_bufsize": int,
        "sndbuf_actual": int,
        "rcvbuf_actual": int,
        "test_start": {
            "protocol": str,
            "num_streams": int,
            "blksize": int,
            "omit": int,
            "duration": int,
            "bytes": int,
            "blocks": int,
            "reverse": int,
            "tos": int,
            "allocator": str,
            "read_size": int,
            "netsim_build": str,
        },
    },
    "intervals": list,
    "end": {
        "streams": list,
        "sum_sent": {
            "start": int,
            "end": float,
            "seconds": float,
            "bytes": int,
            "bits_per_second": float,
            "sender": bool,
        },
        "sum_received": {
            "start": int,
            "end": float,
            "seconds": float,
            "bytes": int,
            "bits_per_second": float,
            "sender": bool,
        },
        "cpu_utilization_percent": dict,
    },
    "frag_stats": {
        "allocator": str,
        "build": str,
        "bytes": int,
        "skbs": int,
        "frags_per_skb": float,
        "frags_histogram": list,
        "coalesce_hits": int,
        "new_frags": int,
        "coalesce_rate": float,
        "pages_allocated_by_order": dict,
        "pages_allocated_per_mib": float,
        "pages_freed": int,
        "refills": int,
        "recycles": int,
        "abandons": int,
        "reuses": int,
        "refcount_ops": {
            "page_get": int,
            "page_put": int,
            "page_ref_add": int,
            "page_ref_sub_and_test": int,
        },
        "refcount_ops_per_mib": {
            "page_get": float,
            "page_put": float,
            "page_ref_add": float,
            "page_ref_sub_and_test": float,
        },
        "bytes_copied": int,
        "segments": int,
        "retransmits": int,
        "rx_buffers": dict,
        "host_refcount_ops": {
            "page_get": int,
            "page_put": int,
            "page_ref_add": int,
            "page_ref_sub_and_test": int,
        },
    },
}
INTERVAL_STREAM = {
    "socket": int,
    "start": float,
    "end": float,
    "seconds": float,
    "bytes": int,
    "bits_per_second": float,
    "omitted": bool,
    "sender": bool,
}
TCP_INTERVAL = {"retransmits": int, "snd_cwnd": int, "snd_wnd": int, "rtt": int, "pmtu": int}


def _check(doc: Any, schema: Any, where: str = "$") -> None:
    if isinstance(schema, dict):
        assert isinstance(doc, dict), where
        for key, sub in schema.items():
            assert key in doc, f"{where}.{key} missing"
            _check(doc[key], sub, f"{where}.{key}")
        return
    if schema is float:
        assert isinstance(doc, int | float), where
        assert not isinstance(doc, bool), where
    elif schema is int:
        assert isinstance(doc, int), where
        assert not isinstance(doc, bool), where
    else:
        assert isinstance(doc, schema), f"{where}: {type(doc).__name__}"


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_json_follows_the_documented_schema(udp: bool, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-N", "127.0.0.1", "1234", "--bytes", "1M", "--json", "--interval", "0.001"]
    status, out, _ = _nc(["-u", *argv] if udp else argv, capsys)
    assert status == 0
    doc = json.loads(out)
    _check(doc, SCHEMA_TYPES)
    assert doc["start"]["test_start"]["protocol"] == ("UDP" if udp else "TCP")
    if not udp:  # the sender's congestion control: the default, CUBIC
        assert doc["end"]["sender_tcp_congestion"] == "cubic"
    assert doc["end"]["sum_sent"]["bytes"] == MIB
    assert doc["end"]["sum_received"]["bytes"] == MIB
    assert doc["frag_stats"]["bytes_copied"] >= MIB
    hist = doc["frag_stats"]["frags_histogram"]
    assert sum(hist) == doc["frag_stats"]["skbs"] > 0
    assert doc["intervals"], "--interval 0.001 gives at least the final interval"
    for interval in doc["intervals"]:
        (stream,) = interval["streams"]
        _check(stream, {**INTERVAL_STREAM, **({} if udp else TCP_INTERVAL)})
    assert sum(i["streams"][0]["bytes"] for i in doc["intervals"]) == MIB
    if udp:
        _check(doc["end"]["sum_received"], {"packets": int, "lost_packets": int})


def test_json_compare_has_a_run_per_allocator(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-N", "127.0.0.1", "1234", "--bytes", "1M", "--json", "--interval", "0"]
    status, out, _ = _nc([*argv, "--compare", "page_frag,page_frag_cache"], capsys)
    assert status == 0
    doc = json.loads(out)
    assert [run["frag_stats"]["allocator"] for run in doc["runs"]] == [
        "page_frag",
        "page_frag_cache",
    ]
    for run_doc in doc["runs"]:
        _check(run_doc, SCHEMA_TYPES)
    per_mib = {name: v["refcount_ops_per_mib"] for name, v in doc["compare"].items()}
    # the series' headline: the old allocator takes a page_get per new frag (64 per MiB of
    # 16 KiB writes), the cache none; both add the receiver's (tcp_try_coalesce refs the
    # frags of a cloned skb it merges: 0-10 per MiB, as trio's randomised scheduling lets the
    # reader fall behind or not), so the difference is 64 give or take that
    saved = per_mib["page_frag"]["page_get"] - per_mib["page_frag_cache"]["page_get"]
    assert per_mib["page_frag"]["page_get"] >= 64
    assert saved >= 48


def test_compare_prints_the_before_after_table(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-N", "127.0.0.1", "1234", "--bytes", "1M", "--interval", "0"]
    status, out, _ = _nc([*argv, "--compare", "page_frag,page_frag_cache"], capsys)
    assert status == 0
    assert "Before/after" in out
    table = out.split("Before/after", 1)[1]
    assert "page_get /MiB" in table
    assert "MB/s (emulator speed)" in table


def test_link_reports_the_rx_buffers_apart(capsys: pytest.CaptureFixture[str]) -> None:
    """Over a link, the NIC's RX buffers come from the driver's own page_frag_cache.  Its
    recycles and ``page_ref_sub_and_test`` are reported under the device, never as the
    socket allocator's: the old ``page_frag`` allocator has neither (it takes a ``page_get``
    per new frag and only ever restarts a page at refcount 1), and the host totals are the
    sum of the two."""
    argv = ["-N", "10.0.0.2", "1234", "--link", "--bytes", "4M", "--interval", "0"]
    status, out, _ = _nc([*argv, "--allocator", "page_frag", "--json"], capsys)
    assert status == 0
    frag = json.loads(out)["frag_stats"]
    assert frag["allocator"] == "page_frag"
    assert (frag["recycles"], frag["refcount_ops"]["page_ref_sub_and_test"]) == (0, 0)
    assert frag["refcount_ops"]["page_ref_add"] == 0
    assert frag["refcount_ops"]["page_get"] > 0
    assert frag["pages_allocated_by_order"] == {"3": frag["refills"]}
    rx = frag["rx_buffers"]["eth0"]  # the ACKs arriving at the sender
    assert rx["recycles"] > 0
    assert rx["refcount_ops"]["page_ref_sub_and_test"] == rx["recycles"]
    assert rx["refcount_ops"]["page_get"] == 0
    for name, total in frag["host_refcount_ops"].items():
        assert total == frag["refcount_ops"][name] + rx["refcount_ops"][name]

    status, out, _ = _nc([*argv, "--allocator", "page_frag"], capsys)
    assert status == 0
    report = out.split("Performance counter stats", 1)[1]
    socket_part, rx_part = report.split("eth0 RX buffers", 1)
    assert " 0      frag recycles" in socket_part
    assert " 0      page_ref_sub_and_test" in socket_part
    assert "frag recycles" in rx_part
    assert "page_ref_sub_and_test" in rx_part


def test_compare_over_a_link_differs_only_in_the_socket_allocator(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--compare`` over a link compares the sockets' allocators; the RX buffers, the same
    driver cache in both runs, stay out of the table."""
    argv = ["-N", "10.0.0.2", "1234", "--link", "--bytes", "4M", "--interval", "0", "--json"]
    status, out, _ = _nc([*argv, "--compare", "page_frag,page_frag_cache"], capsys)
    assert status == 0
    doc = json.loads(out)
    old, new = (run["frag_stats"] for run in doc["runs"])
    assert old["refcount_ops"]["page_ref_add"] == old["refcount_ops"]["page_ref_sub_and_test"] == 0
    # the cache primes each new page with one page_ref_add, and drops its remaining bias with
    # one page_ref_sub_and_test whenever it is done with a page: a recycle (the count drained
    # to the bias: same page from 0), an abandon, and the last page when the sockets'
    # allocators are drained at the end
    assert new["refcount_ops"]["page_ref_add"] == new["refills"]
    subs = new["refcount_ops"]["page_ref_sub_and_test"]
    assert subs == new["abandons"] + new["recycles"] + 1
    # both take a page_get per frag of every segment the software GSO cuts (skb_segment: the
    # link has no TSO); only the old allocator takes one per new frag slot as well
    assert old["refcount_ops"]["page_get"] > new["refcount_ops"]["page_get"]
    compare = doc["compare"]
    assert compare["page_frag"]["refcount_ops_per_mib"]["page_ref_sub_and_test"] == 0
    # about one 32 KiB page per 32 KiB written — fewer when a page's last holder lets go
    # before the allocator moves on and it is reused in place (page_frag: refcount back to
    # one; the cache: a recycle), which depends on when TX completions come, and this flow
    # runs on the real clock: a loaded machine recycles more
    for name in ("page_frag", "page_frag_cache"):
        assert 26 <= compare[name]["pages_allocated_per_mib"] <= 33


# -- stdin, as a user runs it --------------------------------------------------------------------


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_stdin_mode_delivers_exactly_the_piped_bytes(udp: bool, tmp_path: Path) -> None:
    pattern = random.Random(1).randbytes(300_001)
    sink = tmp_path / "sink.bin"
    cmd = [sys.executable, "-m", "netsim", "nc", "-N", "127.0.0.1", "1234", "--sink", str(sink)]
    if udp:
        cmd.insert(4, "-u")
    done = subprocess.run(cmd, input=pattern, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert sink.read_bytes() == pattern
    assert b"300001 bytes" in done.stdout


def test_ctrl_c_cancels_the_flow_at_a_checkpoint() -> None:
    """SIGINT in the middle of a flow becomes a cancellation at the next checkpoint: the host
    closes with every page given back, then ``KeyboardInterrupt`` reaches the caller (status
    130) — never an interrupt in the middle of an allocator update."""
    import signal

    import trio

    from netsim.cli.nc import _interruptible, run_flow, zero_source

    opts = parse_args(["-N", "127.0.0.1", "1234", "--bytes", "1G", "--interval", "0"])
    sent_when_interrupted: list[int] = []

    def on_tick(result: Any, _elapsed: float) -> None:
        if result.sent and not sent_when_interrupted:
            sent_when_interrupted.append(result.sent)
            signal.raise_signal(signal.SIGINT)

    flow = run_flow(opts, "page_frag_cache", zero_source(1 << 30, 16384), on_tick=on_tick)
    with pytest.raises(KeyboardInterrupt):
        trio.run(_interruptible, lambda: flow)
    assert sent_when_interrupted, "the flow was under way"
