"""``netsim nc --tls`` / ``--tls-offload``: kTLS on the flow — software kTLS by default (the
emulated devices do not offload, as Linux's ``lo`` cannot), device offload where the client's
device is given ``tls-hw-tx-offload``; each end's mode and the kTLS counters in the report and
under ``"tls"`` in ``--json``; the delivered bytes exact; UDP refused."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from collections.abc import AsyncGenerator
from pathlib import Path

import attrs
import pytest
import trio

from netsim.cli import main as netsim_main
from netsim.cli.nc import (
    TLS_STAT,
    FlowResult,
    NcOptions,
    Source,
    format_human,
    format_json,
    parse_args,
    run,
    run_flow,
    zero_source,
)

MIB = 1 << 20
RECORD = 16384  # TLS_MAX_PAYLOAD_SIZE: a record's most plaintext


def _nc(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = netsim_main(["nc", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def _opts(
    *,
    v6: bool = False,
    offload: bool = False,
    nbytes: int = MIB,
    write_size: int = 16384,
    sndbuf: int | None = None,
) -> NcOptions:
    return NcOptions(
        host="::1" if v6 else "127.0.0.1",
        port=4433,
        family=10 if v6 else 2,
        shutdown_on_eof=True,
        nbytes=nbytes,
        interval=0.0,
        progress=False,
        tls=True,
        tls_offload=offload,
        write_size=write_size,
        sndbuf=sndbuf,
    )


async def _run(opts: NcOptions, source: Source | None = None) -> FlowResult:
    assert opts.nbytes is not None
    return await run_flow(opts, opts.allocator, source or zero_source(opts.nbytes, opts.write_size))


def _random_source(data: bytes, chunk: int) -> Source:
    async def gen() -> AsyncGenerator[memoryview, None]:
        view = memoryview(data)
        for off in range(0, len(view), chunk):
            yield view[off : off + chunk]

    return gen


# -- the command line ------------------------------------------------------------------------


def test_tls_options_parse() -> None:
    plain = parse_args(["-N", "127.0.0.1", "9"])
    assert (plain.tls, plain.tls_offload) == (False, False)
    sw = parse_args(["-N", "127.0.0.1", "9", "--tls"])
    assert (sw.tls, sw.tls_offload) == (True, False)
    hw = parse_args(["-N", "127.0.0.1", "9", "--tls-offload"])
    assert (hw.tls, hw.tls_offload) == (True, True), "--tls-offload implies --tls"
    assert parse_args(["-N", "10.0.0.2", "9", "--link", "--tls-offload"]).link


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-u", "127.0.0.1", "9", "--tls"], "--tls and -u contradict each other: kTLS is a TCP"),
        (["-u", "::1", "9", "--tls-offload"], "--tls-offload and -u contradict each other"),
        (
            ["-l", "9", "--link", "unix:/tmp/netsim-tls-never.sock", "--tls-offload"],
            "--tls-offload is the sender's",
        ),
    ],
)
def test_tls_refusals_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _nc(argv, capsys)
    assert status == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err


def test_help_says_the_key_is_fixed(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _nc(["--help"], capsys)
    assert status == 0
    text = " ".join(out.split())
    assert "Not a handshake: the key, IV and salt are fixed" in text
    assert "tls-hw-tx-offload" in text


# -- the flows, in virtual time --------------------------------------------------------------


@pytest.mark.parametrize("v6", [False, True], ids=["tcp4", "tcp6"])
@pytest.mark.parametrize("offload", [False, True], ids=["sw", "device"])
async def test_tls_flow_counts_one_record_per_16k_write(
    offload: bool, v6: bool, autojump_clock: trio.testing.MockClock
) -> None:
    r = await _run(_opts(v6=v6, offload=offload))
    assert (r.sent, r.received) == (MIB, MIB)
    tls = r.tls
    assert tls is not None
    assert (tls.tx_conf, tls.rx_conf) == ("hw" if offload else "sw", "sw")
    assert (tls.tx_dev, tls.tx_dev_offload) == ("lo", offload)
    c = tls.counters
    records = -(-MIB // RECORD)
    assert c["tls_records"] == records == 64
    assert c["tls_rx_records"] == records
    assert c["tls_record_frags"] >= records
    assert tls.frags_per_record == c["tls_record_frags"] / records
    if offload:
        # the emulated NIC encrypted each record once (nothing was retransmitted)
        assert (c["tls_dev_encrypt"], c["tls_sw_encrypt"]) == (records, 0)
        # tls_append_frag: the payload and the tag each grew the prepend's frag
        assert c["tls_record_coalesce"] > 0
    else:
        assert (c["tls_dev_encrypt"], c["tls_sw_encrypt"]) == (0, records)
    assert c["tls_tx_ooo"] == c["tls_tx_resync_bytes"] == c["tls_sw_fallback_segs"] == 0
    assert c["tls_tx_no_record"] == 0
    mode = "Device" if offload else "Sw"
    # one host (loopback): both ends' /proc/net/tls_stat, the gauges while the flow ran
    both = {f"TlsCurrTx{mode}": 1, "TlsCurrRxSw": 1, f"TlsTx{mode}": 1, "TlsRxSw": 1}
    assert tls.tls_stat == both
    assert tls.peer_tls_stat is None
    assert list(tls.tls_stat) == [name for name in TLS_STAT if name in tls.tls_stat]


@pytest.mark.parametrize(
    ("nbytes", "write_size"), [(MIB, 65536), (100_000, 16384), (3 * RECORD + 1, 4096)]
)
async def test_records_are_ceil_of_each_write(
    nbytes: int, write_size: int, autojump_clock: trio.testing.MockClock
) -> None:
    """A record closes at 16384 bytes of payload or at the end of a write: per write,
    ceil(write / 16384) records."""
    r = await _run(_opts(nbytes=nbytes, write_size=write_size))
    assert r.received == nbytes
    assert r.tls is not None
    full, last = divmod(nbytes, write_size)
    per_write = -(-write_size // RECORD)
    expected = full * per_write + -(-last // RECORD)
    assert r.tls.counters["tls_records"] == expected
    assert r.tls.counters["tls_rx_records"] == expected


@pytest.mark.parametrize("offload", [False, True], ids=["sw", "device"])
async def test_records_with_a_small_send_buffer(
    offload: bool, autojump_clock: trio.testing.MockClock
) -> None:
    """``-O 8192``: TCP takes a record only in part and the send waits for room; the record
    is finished when it resumes — one record per 16 KiB write still, none empty (the device
    path once pushed an empty 29-byte record after each such wait)."""
    r = await _run(_opts(offload=offload, nbytes=2 * MIB, sndbuf=8192))
    assert r.received == 2 * MIB
    assert r.tls is not None
    assert r.tls.counters["tls_records"] == r.tls.counters["tls_rx_records"] == 128


@pytest.mark.parametrize("offload", [False, True], ids=["sw", "device"])
async def test_lossy_link_delivers_exact_bytes(
    offload: bool, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Over a link losing 3% each way: TCP retransmits, and in device mode the emulated NIC
    finds each retransmitted segment's record again and re-encrypts it (resync); the
    listener's decrypted bytes (``--sink``) are the source's, byte for byte — and every record
    authenticated (a wrong byte would have failed the flow with EBADMSG)."""
    data = random.Random(7).randbytes(300_007)
    sink = tmp_path / "sink.bin"
    argv = ["-N", "fd00::2", "4433", "--loss", "3%", "--seed", "2", "--interval", "0"]
    argv += ["--sink", str(sink), "--bytes", str(len(data))]
    opts = parse_args([*argv, "--tls-offload" if offload else "--tls"])
    r = await _run(opts, _random_source(data, 16384))
    assert r.received == len(data)
    assert sink.read_bytes() == data
    tls = r.tls
    assert tls is not None
    assert (tls.tx_conf, tls.tx_dev, tls.tx_dev_offload) == (
        "hw" if offload else "sw",
        "eth0",
        offload,
    )
    c = tls.counters
    assert r.info["total_retrans"] > 0
    assert c["tls_rx_records"] == c["tls_records"] == -(-len(data) // RECORD)
    if offload:
        assert c["tls_tx_ooo"] > 0  # a retransmission is out of the NIC's order
        assert c["tls_tx_resync_bytes"] > 0
        assert c["tls_dev_encrypt"] > c["tls_records"]
        assert tls.tls_stat == {"TlsCurrTxDevice": 1, "TlsTxDevice": 1}
    else:
        assert c["tls_tx_ooo"] == c["tls_dev_encrypt"] == 0  # TCP resends ciphertext
        assert tls.tls_stat == {"TlsCurrTxSw": 1, "TlsTxSw": 1}
    # two hosts: the listener's /proc/net/tls_stat is the peer's
    assert tls.peer_tls_stat == {"TlsCurrRxSw": 1, "TlsRxSw": 1}


async def test_no_data_still_sets_up_both_ends(autojump_clock: trio.testing.MockClock) -> None:
    r = await _run(_opts(nbytes=0))
    assert r.tls is not None
    assert r.tls.counters["tls_records"] == 0
    assert r.tls.tls_stat["TlsTxSw"] == r.tls.tls_stat["TlsRxSw"] == 1


@pytest.mark.parametrize("offload", [False, True], ids=["sw", "device"])
async def test_human_report_names_each_sockets_mode(
    offload: bool, autojump_clock: trio.testing.MockClock
) -> None:
    opts = _opts(offload=offload)
    r = await _run(opts)
    assert r.tls is not None
    head = format_human(opts, r)
    sender = (
        "TLS: device offload (tls-hw-tx-offload on lo, emulated)"
        if offload
        else "TLS: software kTLS (lo: tls-hw-tx-offload off [fixed], as on Linux)"
    )
    assert sender in head
    block = r.tls.format(r.sent)
    assert "client TX:   " + sender.removeprefix("TLS: ") in block
    assert "listener RX: software kTLS" in block
    rows = {
        " ".join(line.split("#")[0].split()[1:]): line.split()[0]
        for line in block.splitlines()
        if "#" in line
    }
    assert rows["TLS records"] == "64"
    assert rows["records received"] == "64"
    assert rows["device record encryptions" if offload else "software record encryptions"] == "64"
    assert "64.00 /MiB" in block
    assert "frags/record" in block
    mode = "Device" if offload else "Sw"
    stat = next(line for line in block.splitlines() if "/proc/net/tls_stat:" in line)
    assert f"TlsCurrTx{mode} 1" in stat
    assert "TlsCurrRxSw 1" in stat
    assert f"TlsTx{mode} 1" in stat
    doc = format_json(opts, r)["tls"]
    assert doc["sender"]["conf"] == ("hw" if offload else "sw")
    assert doc["counters"]["tls_records"] == 64


# -- end to end, as a user runs it -----------------------------------------------------------


@pytest.mark.parametrize("offload", [False, True], ids=["sw", "device"])
def test_cli_json_has_a_tls_object(offload: bool, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-N", "-6", "::1", "1234", "--bytes", "512K", "--json", "--interval", "0"]
    status, out, err = _nc([*argv, "--tls-offload" if offload else "--tls"], capsys)
    assert status == 0, err
    doc = json.loads(out)
    assert doc["end"]["sum_received"]["bytes"] == 512 << 10
    tls = doc["tls"]
    assert (tls["version"], tls["cipher"]) == ("TLS 1.2", "AES-GCM-128")
    assert tls["key"] == "fixed demo key (no handshake)"
    assert tls["sender"] == {
        "conf": "hw" if offload else "sw",
        "mode": "device offload (tls-hw-tx-offload on lo, emulated)"
        if offload
        else "software kTLS (lo: tls-hw-tx-offload off [fixed], as on Linux)",
        "device": "lo",
        "tls_hw_tx_offload": offload,
    }
    assert tls["receiver"]["conf"] == "sw"
    counters = tls["counters"]
    assert counters["tls_records"] == counters["tls_rx_records"] == 32
    assert tls["per_mib"]["tls_records"] == 64.0
    assert tls["frags_per_record"] == round(counters["tls_record_frags"] / 32, 3)
    assert tls["tls_stat"]["TlsTxDevice" if offload else "TlsTxSw"] == 1
    assert "TlsDecryptError" not in tls["tls_stat"]
    assert "peer_tls_stat" not in tls
    assert "tls" not in json.loads(_nc(argv, capsys)[1]), "only a --tls flow has one"


def test_cli_human_report(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-N", "127.0.0.1", "1234", "--bytes", "256K", "--interval", "0", "--tls-offload"]
    status, out, err = _nc(argv, capsys)
    assert status == 0, err
    assert "TLS: device offload (tls-hw-tx-offload on lo, emulated)" in out
    assert ' kTLS (TCP_ULP "tls", TLS 1.2 AES-GCM-128, fixed demo key: no handshake):' in out
    assert "262144 bytes (262 kB, 256 KiB) copied" in out


def test_compare_runs_tls_once_per_allocator(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-N", "127.0.0.1", "1234", "--bytes", "256K", "--interval", "0", "--tls"]
    status, out, err = _nc([*argv, "--compare", "page_frag,page_frag_cache"], capsys)
    assert status == 0, err
    assert out.count(" kTLS (TCP_ULP") == 2
    assert "Before/after" in out


def test_run_without_shutdown_closes_the_tls_socket() -> None:
    """No ``-N``: the client closes at EOF (kTLS's close: no record is open, the pushed ones
    go out); every byte arrives and the host gives every page back (``run`` returns 1 for
    a leak)."""
    out = io.StringIO()
    opts = attrs.evolve(_opts(offload=True, nbytes=300_000), shutdown_on_eof=False)
    assert run(opts, out=out) == 0
    assert "300000 bytes (300 kB, 293 KiB) copied" in out.getvalue()


@pytest.mark.parametrize("offload", [False, True], ids=["sw", "device"])
def test_stdin_through_tls_arrives_byte_exact(offload: bool, tmp_path: Path) -> None:
    pattern = random.Random(5).randbytes(300_001)
    sink = tmp_path / "sink.bin"
    cmd = [sys.executable, "-m", "netsim", "nc", "-N", "127.0.0.1", "1234"]
    cmd += ["--sink", str(sink), "--interval", "0", "--tls-offload" if offload else "--tls"]
    done = subprocess.run(cmd, input=pattern, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert sink.read_bytes() == pattern
    assert b"300001 bytes" in done.stdout
    assert b"TLS records" in done.stdout


def test_tls_between_two_processes(tmp_path: Path) -> None:
    """``--link unix:``: the listener (``-l --tls``) sets TLS_RX in its process, the client
    (``--tls-offload``) TLS_TX on its eth0 with the offload on; each reports its own end."""
    path = str(tmp_path / "l.sock")
    if len(path) > 100:
        pytest.skip("tmp_path too long for a Unix socket")
    pattern = random.Random(9).randbytes(200_003)
    sink = tmp_path / "sink.bin"
    nc = [sys.executable, "-m", "netsim", "nc"]
    listener = subprocess.Popen(
        [*nc, "-l", "1234", "--link", f"unix:{path}", "--tls", "--sink", str(sink)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        client = subprocess.run(
            [*nc, "-N", "10.0.0.2", "1234", "--link", f"unix:{path}", "--tls-offload"],
            input=pattern,
            capture_output=True,
            timeout=120,
            check=False,
        )
        out, err = listener.communicate(timeout=120)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.communicate()
    assert client.returncode == 0, client.stderr.decode()
    assert listener.returncode == 0, err.decode()
    assert sink.read_bytes() == pattern
    client_out, listener_out = client.stdout.decode(), out.decode()
    assert "TLS: device offload (tls-hw-tx-offload on eth0, emulated)" in client_out
    assert "listener RX: in the listener's process" in client_out
    assert "TlsTxDevice 1" in client_out
    assert "TLS: software kTLS" in listener_out
    assert "client TX:   in the client's process" in listener_out
    assert "TlsRxSw 1" in listener_out
    assert "records received" in listener_out


def test_a_plaintext_client_fails_a_tls_listener(tmp_path: Path) -> None:
    """The listener has ``--tls``, the client not: its plaintext is no TLS record, the
    connection fails with ``EBADMSG`` (reported, status 1), never a traceback."""
    path = str(tmp_path / "l.sock")
    if len(path) > 100:
        pytest.skip("tmp_path too long for a Unix socket")
    nc = [sys.executable, "-m", "netsim", "nc"]
    listener = subprocess.Popen(
        [*nc, "-l", "1234", "--link", f"unix:{path}", "--tls", "--interval", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        client = subprocess.run(
            [*nc, "-N", "10.0.0.2", "1234", "--link", f"unix:{path}", "--bytes", "64K"],
            capture_output=True,
            timeout=120,
            check=False,
        )
        out, err = listener.communicate(timeout=120)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.communicate()
    assert listener.returncode == 1
    assert "connection failed after 0 bytes" in out.decode()
    assert "failed: Bad message" in err.decode()
    assert "Traceback" not in err.decode() + client.stderr.decode()
