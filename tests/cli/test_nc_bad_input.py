"""``netsim nc`` and bad input: every mistake ends in one clear line naming what was wrong —
status 2 for a usage error (argparse's ``netsim nc: error: …``), 1 for one found at run time
(a path, an address, the kernel's errno) — and never a traceback.  The table holds the
interesting cases (many found by fuzzing); a hypothesis test fuzzes the parser beyond them."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netsim.cli import main as netsim_main
from netsim.cli.nc import MAX_BUF, NcOptions, parse_args

USAGE, RUNTIME = 2, 1

# (argv, status, what stderr must say); {tmp} is a short scratch directory
TABLE: list[tuple[list[str], int, str]] = [
    # -- ports
    (["127.0.0.1"], USAGE, "a destination host and port are required"),
    (["127.0.0.1", "0"], USAGE, "port number invalid: 0"),
    (["127.0.0.1", "65536"], USAGE, "port number invalid: 65536"),
    (["127.0.0.1", "²"], USAGE, "port number invalid: ² (1..65535, digits only)"),
    (["127.0.0.1", "١٢٣"], USAGE, "port number invalid: ١٢٣"),
    (["127.0.0.1", "http"], USAGE, "port number invalid: http"),
    (["127.0.0.1", "9" * 5000], USAGE, "port number invalid"),
    (["127.0.0.1", "-1"], USAGE, "unrecognized arguments: -1"),
    # -- hosts: netsim's hosts have the addresses they have
    (["example.com", "9"], USAGE, "example.com: not a numeric address"),
    (["[::1]", "9"], USAGE, "[::1]: not a numeric address"),
    (["10.0.0.2", "9"], USAGE, "10.0.0.2: not an address of the emulated host"),
    (["fe80::1", "9"], USAGE, "fe80::1: not an address of the emulated host"),
    (["224.0.0.1", "9"], USAGE, "224.0.0.1: a multicast address"),
    (["-u", "255.255.255.255", "9"], USAGE, "255.255.255.255: the broadcast address"),
    (["--link", "127.0.0.1", "9"], USAGE, "over a link the listener is the other host"),
    (["--mtu", "9000", "::1", "9"], USAGE, "::1: over a link the listener is the other host"),
    (["-l", "127.0.0.1", "9", "--link", "unix:{tmp}/s"], USAGE, "cannot be reached over the"),
    (["-l", "10.0.0.7", "9", "--link", "unix:{tmp}/s"], USAGE, "not an address of this host"),
    # -- -4/-6 and the address's family
    (["-6", "127.0.0.1", "9"], USAGE, "127.0.0.1 is not an IPv6 address"),
    (["-4", "::1", "9"], USAGE, "::1 is not an IPv4 address"),
    (["-4", "::ffff:127.0.0.1", "9"], USAGE, "is not an IPv4 address"),
    (["-4", "-6", "127.0.0.1", "9"], USAGE, "-4 and -6 contradict each other"),
    (["-46", "::1", "9"], USAGE, "-4 and -6 contradict each other"),
    (["-6", "--mtu", "1279", "fd00::2", "9"], USAGE, "1279 is below IPv6's minimum MTU of 1280"),
    (["--mtu", "1000", "fd00::2", "9"], USAGE, "below IPv6's minimum MTU"),
    # -- sizes
    (["--bytes", "12Q", "127.0.0.1", "9"], USAGE, "invalid size '12Q'"),
    (["--bytes", "\uff11K", "127.0.0.1", "9"], USAGE, "invalid size"),
    (["--bytes=-1", "127.0.0.1", "9"], USAGE, "invalid size '-1'"),
    (["--bytes", "9999999999T", "127.0.0.1", "9"], USAGE, "more than 9223372036854775807 bytes"),
    (["--write-size", "99999999999", "127.0.0.1", "9"], USAGE, "more than 67108864 bytes"),
    (["--read-size", "0", "127.0.0.1", "9"], USAGE, "must be a positive integer, not '0'"),
    (["--write-size", "²", "127.0.0.1", "9"], USAGE, "must be a positive integer, not '²'"),
    (["-I", "0", "127.0.0.1", "9"], USAGE, "argument -I: buffer size must be"),
    (["-O", str(MAX_BUF + 1), "127.0.0.1", "9"], USAGE, "argument -O: buffer size must be"),
    (["-I", "1e3", "127.0.0.1", "9"], USAGE, "buffer size must be"),
    # -- the link: MTU, rate, delay
    (["--mtu", "1", "10.0.0.2", "9"], USAGE, "argument --mtu: MTU must be 68..65535"),
    (["--mtu", "67", "10.0.0.2", "9"], USAGE, "MTU must be 68..65535"),
    (["--mtu", "65536", "10.0.0.2", "9"], USAGE, "MTU must be 68..65535"),
    (["--mtu", "1500.0", "10.0.0.2", "9"], USAGE, "MTU must be"),
    (["--rate", "fast", "10.0.0.2", "9"], USAGE, "invalid rate 'fast'"),
    (["--rate", "1e999", "10.0.0.2", "9"], USAGE, "invalid rate '1e999' (a finite number"),
    (["--rate", "nan", "10.0.0.2", "9"], USAGE, "invalid rate 'nan'"),
    (["--rate=0", "10.0.0.2", "9"], USAGE, "rate must be > 0"),
    (["--rate", "1", "10.0.0.2", "9", "-d"], USAGE, "one 1500-byte frame takes 3.33 hours"),
    (["--rate", "1M", "10.0.0.2", "9", "--bytes", "20G"], USAGE, "take 47.7 hours of real time"),
    (["--rate", "1k", "10.0.0.2", "9", "--bytes", "1T"], USAGE, "take 279 years of real time"),
    (["--delay", "1e999", "10.0.0.2", "9"], USAGE, "invalid delay '1e999'"),
    (["--delay", "nan", "10.0.0.2", "9"], USAGE, "invalid delay 'nan'"),
    (["--delay", "inf", "10.0.0.2", "9"], USAGE, "invalid delay 'inf'"),
    (["--delay=-1ms", "10.0.0.2", "9"], USAGE, "invalid delay '-1ms'"),
    (["--delay", "61", "10.0.0.2", "9"], USAGE, "delay '61' is more than 60 s one way"),
    (["--delay", "60001ms", "10.0.0.2", "9"], USAGE, "more than 60 s one way"),
    # -- the link's faults
    (["--loss", "1.5", "10.0.0.2", "9"], USAGE, "invalid probability '1.5' (0..1, or a percentage"),
    (["--loss", "101%", "10.0.0.2", "9"], USAGE, "invalid probability '101%'"),
    (["--dup", "nan", "10.0.0.2", "9"], USAGE, "invalid probability 'nan'"),
    (["--reorder=-0.1", "10.0.0.2", "9"], USAGE, "invalid probability '-0.1'"),
    (["--corrupt", "x", "10.0.0.2", "9"], USAGE, "invalid probability 'x'"),
    (["--jitter", "inf", "10.0.0.2", "9"], USAGE, "invalid delay 'inf'"),
    (["--seed=-3", "10.0.0.2", "9", "--loss", "1%"], USAGE, "invalid seed '-3'"),
    (["--loss", "1%", "127.0.0.1", "9"], USAGE, "127.0.0.1"),
    (["--interval", "nan", "127.0.0.1", "9"], USAGE, "argument --interval: must be 0"),
    (["--interval", "inf", "127.0.0.1", "9"], USAGE, "argument --interval: must be 0"),
    (["--interval", "1e-9", "127.0.0.1", "9"], USAGE, ">= 0.001, not '1e-9'"),
    # -- allocators
    (["--allocator", "slab", "127.0.0.1", "9"], USAGE, "unknown allocator 'slab'; available:"),
    (["--allocator", "", "127.0.0.1", "9"], USAGE, "unknown allocator ''"),
    (["--compare", "page_frag", "127.0.0.1", "9", "-d"], USAGE, "two or more"),
    (["--compare", ",", "127.0.0.1", "9", "-d"], USAGE, "two or more"),
    (["--compare", "page_frag,slab", "127.0.0.1", "9", "-d"], USAGE, "two or more"),
    (
        ["--compare", "page_frag,page_frag", "127.0.0.1", "9", "-d"],
        USAGE,
        "names an allocator twice",
    ),
    (["--compare", "page_frag,page_frag_cache", "127.0.0.1", "9"], USAGE, "stdin can be read only"),
    (
        ["--allocator", "page_frag", "--compare", "page_frag,page_frag_cache", "::1", "9", "-d"],
        USAGE,
        "--allocator and --compare contradict each other",
    ),
    # -- --link specs
    (["--link", "tcp:1.2.3.4", "10.0.0.2", "9"], USAGE, "--link takes unix:PATH"),
    (
        ["--link", "unix:", "10.0.0.2", "9"],
        USAGE,
        "--link takes unix:PATH (or nothing), not 'unix:'",
    ),
    (["--link", "unix", "10.0.0.2", "9"], USAGE, "not 'unix'"),
    (["--link", "unix:/" + "x" * 107, "10.0.0.2", "9"], USAGE, "holds at most 107 (sun_path)"),
    (["10.0.0.2", "9", "--link", "unix:{tmp}/s", "--delay", "1ms"], USAGE, "in-process link"),
    (["10.0.0.2", "9", "--link", "unix:{tmp}/s", "--loss", "1%"], USAGE, "in-process link"),
    (
        ["10.0.0.2", "9", "--link", "unix:{tmp}/s", "--compare", "page_frag,page_frag_cache"],
        USAGE,
        "cannot use --link unix:",
    ),
    # -- flags that contradict each other, stdin modes
    (["-d", "--bytes", "1M", "127.0.0.1", "9"], USAGE, "-d and --bytes contradict each other"),
    (["-k", "127.0.0.1", "9"], USAGE, "-k applies to a listener (-l)"),
    (["-l", "9"], USAGE, "on its own has no client to meet"),
    (["-l", "--link", "unix:{tmp}/s"], USAGE, "-l needs a port"),
    (["-l", "9", "--link", "unix:{tmp}/s", "--bytes", "1M"], USAGE, "a listener only receives"),
    (["10.0.0.2", "9", "--link", "unix:{tmp}/s", "--sink", "f"], USAGE, "the other process"),
    (["--pcap", "{tmp}/f", "--sink", "{tmp}/f", "::1", "9"], USAGE, "name the same file"),
    (["-l", "9", "--link", "unix:{tmp}/s", "--sink", "{tmp}/s"], USAGE, "name the same file"),
    (["--pcap", "", "127.0.0.1", "9"], USAGE, "argument --pcap: needs a file name"),
    (["--sink=", "127.0.0.1", "9"], USAGE, "argument --sink: needs a file name"),
    (["-u", "--tls", "127.0.0.1", "9"], USAGE, "--tls and -u contradict each other"),
    (["-u", "--tls-offload", "::1", "9"], USAGE, "--tls-offload and -u contradict each other"),
    (["-l", "9", "--link", "unix:{tmp}/s", "--tls-offload"], USAGE, "is the sender's"),
    (["-x", "127.0.0.1", "9"], USAGE, "unrecognized arguments: -x"),
    # -- found at run time: exit 1, naming the file, the path or the address, and strerror
    (
        ["127.0.0.1", "9", "-d", "--sink", "{tmp}/no/such/dir"],
        RUNTIME,
        "netsim nc: --sink {tmp}/no/such/dir: No such file or directory",
    ),
    (["127.0.0.1", "9", "-d", "--pcap", "{tmp}"], RUNTIME, "--pcap {tmp}: Is a directory"),
    (
        ["-l", "9", "--link", "unix:{tmp}/no/s"],
        RUNTIME,
        "netsim nc: --link unix:{tmp}/no/s: No such file or directory",
    ),
    (
        ["-l", "9", "--link", "unix:{tmp}"],
        RUNTIME,
        "--link unix:{tmp}: Address already in use (a directory is in the way)",
    ),
    (
        ["-l", "9", "--link", "unix:{tmp}/plain"],
        RUNTIME,
        "Address already in use (a file that is not a socket is in the way)",
    ),
    (
        ["10.0.0.2", "9", "-d", "--link", "unix:{tmp}/no/s"],
        RUNTIME,
        "--link unix:{tmp}/no/s: No such file or directory (no directory {tmp}/no)",
    ),
    (
        ["-u", "127.0.0.1", "9", "--bytes", "100K", "--write-size", "70000"],
        RUNTIME,
        "netsim nc: write to 127.0.0.1 port 9 (udp) failed: Message too long",
    ),
]


@pytest.fixture
def short_tmp() -> Iterator[str]:
    """A scratch directory whose paths fit a Unix socket's 107 bytes."""
    path = tempfile.mkdtemp(prefix="nc-", dir="/tmp")
    with open(os.path.join(path, "plain"), "w") as f:
        f.write("not a socket")
    yield path
    shutil.rmtree(path)


@pytest.mark.parametrize(
    ("argv", "status", "message"), TABLE, ids=[" ".join(r[0])[:60] for r in TABLE]
)
def test_bad_input_is_one_clear_line_and_a_status(
    argv: list[str],
    status: int,
    message: str,
    short_tmp: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [arg.replace("{tmp}", short_tmp) for arg in argv]
    message = message.replace("{tmp}", short_tmp)
    assert netsim_main(["nc", *argv]) == status
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err
    assert "Traceback" not in err
    if "no client to meet" in message:
        return  # the lone listener's note: how to run the flow instead
    if status == USAGE:
        assert err.startswith("usage: netsim nc")
        assert err.count("netsim nc: error: ") == 1
    else:
        assert err.count("netsim nc: ") == 1, err


def test_the_table_is_big_enough() -> None:
    assert len(TABLE) >= 40


def test_connecting_to_the_unspecified_address_reaches_loopback() -> None:
    """``nc 0.0.0.0 PORT`` works on Linux: ``connect()`` to INADDR_ANY (or ``::``) reaches
    the host itself, at its loopback address."""
    assert parse_args(["0.0.0.0", "9"]).host == "127.0.0.1"
    assert parse_args(["::", "9"]).host == "::1"
    assert parse_args(["-6", "::ffff:127.0.0.1", "9"]).host == "::ffff:127.0.0.1"
    assert parse_args(["127.1.2.3", "9"]).host == "127.1.2.3"


# -- fuzzing the parser -----------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


_FLAGS = [
    *_words("-4 -6 -d -k -l -N -u -I -O -46 -lk -x -- -h"),
    *_words("--bytes --allocator --compare --read-size --write-size --link --link= --mtu"),
    *_words("--rate --delay --tls --tls-offload --pcap --sink --json --interval --progress"),
    *_words("--no-progress"),
    *_words("--loss --dup --reorder --corrupt --jitter --seed"),
]
_VALUES = [
    *_words("127.0.0.1 ::1 10.0.0.2 fd00::2 0.0.0.0 :: localhost ::ffff:127.0.0.1 fe80::1%lo"),
    *_words("1234 0 65536 ² ١٢ -1 1e999 nan inf -0 1K 20G 99999999999999999999T 1e-300"),
    *_words("unix:/tmp/x.sock unix: unix tcp:1.2.3.4 page_frag page_frag,page_frag_cache ,"),
    *_words("1.5e9 10ms µs 1µs 0x10 +5 1_000 [::1] 224.0.0.1 /dev/full 68 1279 65535 1M 12Q"),
    "",
    " ",
    "x" * 300,
    "9" * 5000,
    "\udcff",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(st.sampled_from(_FLAGS), st.sampled_from(_VALUES), st.text(max_size=6)),
        max_size=8,
    )
)
def test_fuzzed_command_lines_parse_or_are_usage_errors(argv: list[str]) -> None:
    """Any command line either parses or is refused with status 2 (0 for --help): never an
    exception of another kind."""
    status: object = "parsed"
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            opts = parse_args(argv)
        except SystemExit as exc:
            status = exc.code
    if status != "parsed":
        assert status in (0, 2)
        return
    assert isinstance(opts, NcOptions)
    assert 1 <= opts.port <= 65535
    assert 68 <= opts.mtu <= 65535
