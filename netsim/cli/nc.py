"""``netsim nc``: the series' netcat throughput runs, over the emulated stack, in one process.

The series measured ``head -c 20G /dev/zero | nc 127.0.0.1 1234`` against
``nc -l -k 1234 > /dev/null`` (TCP and UDP, IPv4 and IPv6).  ``netsim nc HOST PORT`` runs both
of those as two trio tasks on one emulated host: a listener reading and discarding in
``--read-size`` reads, and a client writing its source — ``--bytes N`` of zeros, or real stdin
— in 16 KiB writes, as OpenBSD netcat's 16 KiB buffer does.  Both use ``host.socket()``
directly (``trio.SocketStream`` would set ``TCP_NODELAY`` and ``TCP_NOTSENT_LOWAT``; netcat
sets neither).  The report: iperf3-style interval lines once per second of wall time, dd's
summary line, and a ``perf stat``-style block of what the allocator and the protocols did
(:mod:`netsim.stats.report`); ``--json`` gives the same in iperf3's JSON layout plus a
``frag_stats`` object (docs/nc.md documents the schema).  ``--explain`` adds what each row means
and says in sentences, from the run's own counters, where each allocator spent its refcount
operations and why it recycled, reused or abandoned pages (JSON: an ``"explain"`` list).

``--tls`` runs the flow through kTLS (:mod:`netsim.tls`): once connected, the client sets
``TCP_ULP "tls"`` and ``TLS_TX``, the listener ``TCP_ULP`` and ``TLS_RX``, with a fixed demo
key (:data:`TLS_DEMO_KEY`; no handshake, as a kTLS test harness sets the keys).  The emulated
devices do not offload TLS (Linux's ``lo``: ``tls-hw-tx-offload: off [fixed]``), so the client
encrypts in software kTLS; ``--tls-offload`` switches the feature on for the device the client
sends through, and ``TLS_TX`` takes the device path.  The report names each socket's mode and
adds the kTLS counters (:class:`TlsSummary`; JSON: ``"tls"``).  The listener's reads are the
decrypted plaintext, each record authenticated: a byte changed on the way fails the flow
(``EBADMSG``), and ``--sink`` gets exactly what was sent.

Bad input never gets as far as a traceback: what can be known before the run (a number in
another script, an address no emulated host has, an MTU IPv6 cannot use, a delay or rate the
run could not finish with, flags that contradict each other) is refused by the parser, status
2; what the run finds (a path, a refused connection, the kernel's errno) is one line naming it,
status 1.  A ``--pcap`` or ``--sink`` file that fails mid-run stops alone (status 1, the flow
completes); closed standard streams, a stdout reader that leaves (141, quietly) and Ctrl-C
(130, every page given back) end cleanly.  docs/nc.md, "Exit status and faults", has the list.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import ipaddress
import json
import math
import os
import platform
import re
import signal
import sys
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import IO, TYPE_CHECKING, Any, Final, TypeVar

import attrs
import trio

from .. import BUILD, __version__
from ..dev.device import NETIF_F_HW_TLS_TX, NetDevice
from ..dev.faults import FaultPlan, FaultState
from ..dev.link import LinkDevice
from ..errors import PageLeakError, errno, exception_leaves, kernel_error
from ..mm import available_frag_allocators
from ..runtime import (
    Host,
    Socket,
    StreamLink,
    TapLink,
    link,
    open_host,
    open_tap_link,
    open_unix_link,
)
from ..runtime.tap import KERNEL_ADDRS, NETSIM_ADDRS
from ..sock.constants import (
    AF_INET,
    AF_INET6,
    MSG_DONTWAIT,
    SHUT_WR,
    SO_RCVBUF,
    SO_SNDBUF,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_SOCKET,
    SOL_TCP,
    SOL_TLS,
    TCP_ULP,
    TLS_RX,
    TLS_TX,
)
from ..stats import StatsSnapshot
from ..stats.counters import TLS_COUNTER_NAMES, TLS_STAT_NAMES
from ..stats.report import (
    FragReport,
    dd_line,
    explain_compare,
    format_compare,
    iperf_bitrate,
    iperf_bytes,
)
from ..tls import tls_crypto_info, tls_info
from ._args import allocator_name, file_name

if TYPE_CHECKING:
    from ..dev.tap import PcapTap

T = TypeVar("T")

__all__ = ["NcOptions", "build_parser", "main", "parse_args", "run"]

BUFSIZE = 16384  # OpenBSD netcat's BUFSIZE
MAX_BUF = 65536 << 14  # -I/-O upper bound in netcat
STDIN_CHUNK = 1 << 18  # bytes per read from stdin (sent in --write-size pieces)
_BUSY_NOTICE = 1.0  # seconds a --link unix: client waits for the listener before it says so
_LAST_CLIENT_GRACE = 5.0  # seconds `nc -l` (no -k) waits for its client to leave the link

LONELY_LISTENER = """\
netsim nc -l: netsim runs both ends of a flow in one process, on one emulated host, so a
listener on its own has no client to meet (a real nc in another process cannot reach an
emulated socket).  Name the destination instead, and netsim starts the listener for you:

    netsim nc -N 127.0.0.1 {port} --bytes 1G       # nc -l -k {port} > /dev/null, plus the client
    head -c 1G /dev/zero | netsim nc -N 127.0.0.1 {port}

or join two netsim processes, each its own host, by an emulated link over a Unix socket:

    netsim nc -l {port} --link unix:/tmp/netsim.sock                       # this one listens
    netsim nc -N 10.0.0.2 {port} --link unix:/tmp/netsim.sock --bytes 1G   # in another shell
"""


# -- options ---------------------------------------------------------------------------------


@attrs.frozen
class NcOptions:
    """What ``netsim nc`` was asked to do (the parsed command line)."""

    host: str
    port: int
    udp: bool = False
    family: int | None = None
    shutdown_on_eof: bool = False
    rcvbuf: int | None = None
    sndbuf: int | None = None
    no_stdin: bool = False
    nbytes: int | None = None
    allocator: str = "page_frag_cache"
    read_size: int = BUFSIZE
    write_size: int = BUFSIZE
    link: bool = False
    mtu: int = 1500
    rate: float | None = None
    delay: float = 0.0
    #: faults on both directions of the in-process link (--loss, --dup, --reorder, ...)
    faults: FaultPlan | None = None
    pcap: str | None = None
    sink: str | None = None
    json: bool = False
    compare: tuple[str, ...] = ()
    interval: float = 1.0
    progress: bool | None = None
    keep: bool = False
    listen: bool = False
    link_unix: str | None = None
    #: ``--tap IFNAME``: this host on a TAP interface, the machine's kernel as the peer
    tap: str | None = None
    #: ``--tap-netns NS``: the network namespace the TAP interface's kernel side goes into
    tap_netns: str | None = None
    #: kTLS on the connection (``--tls``): TLS_TX on the client, TLS_RX on the listener
    tls: bool = False
    #: ``--tls-offload``: tls-hw-tx-offload on the emulated device the client sends through
    tls_offload: bool = False
    #: ``--explain``: each report row's meaning, and the allocators' story in sentences
    explain: bool = False


_SIZE = re.compile(r"^(\d+)\s*([a-zA-Z]*)$", re.ASCII)
_MULTIPLIERS = {
    "": 1,
    "b": 512,
    "k": 1 << 10,
    "kib": 1 << 10,
    "kb": 1000,
    "m": 1 << 20,
    "mib": 1 << 20,
    "mb": 1000**2,
    "g": 1 << 30,
    "gib": 1 << 30,
    "gb": 1000**3,
    "t": 1 << 40,
    "tib": 1 << 40,
    "tb": 1000**4,
}

# What netsim nc refuses up front (argparse: "netsim nc: error: argument ...", status 2), and why
MAX_BYTES = (1 << 63) - 1  # off_t: the most `head -c` (a file offset) can count
MAX_IO_SIZE = 64 << 20  # --read-size/--write-size: each is one buffer, allocated up front
MIN_MTU = 68  # IPv4's minimum (RFC 791)
IPV6_MIN_MTU = 1280  # RFC 8200; Linux takes IPv6 off a device whose MTU drops below it
MAX_MTU = 65535  # IP_MAX_MTU: an IPv4 packet's 16-bit total length
MAX_DELAY = 60.0  # s one way: a SYN's round trip must fit TCP's 127 s of SYN retries
MAX_FRAME_SECONDS = 60.0  # a full-size frame must go out within this at --rate
MAX_RUN_SECONDS = 86400.0  # --bytes at --rate: the run is in real time; a day at most
MIN_INTERVAL = 0.001  # --interval: a line per millisecond at most
UNIX_PATH_MAX = 108  # sizeof(sun_path), the terminating NUL included
_LONG = 40  # digits: any number this long is beyond every bound here (and int() refuses
#             strings of more than 4300 digits with a ValueError)


def _digits(text: str) -> int | None:
    """``text`` as a number of ASCII digits, or None.  ``str.isdigit`` and ``int`` take
    other scripts' digits (``²``, ``١٢``) too; a command line's numbers are ASCII."""
    if not (text.isascii() and text.isdigit()):
        return None
    return 10**_LONG if len(text) > _LONG else int(text)


def parse_size(text: str) -> int:
    """A byte count as ``head -c`` takes it: ``20G`` (GiB), ``512M``, ``1000KB``, ``4096``;
    at most ``MAX_BYTES`` (2**63 - 1, what a file offset holds)."""
    match = _SIZE.match(text.strip())
    if match is None or match.group(2).lower() not in _MULTIPLIERS:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r} (a number with an optional K, M, G, T, KB, MB, GB, TB suffix)"
        )
    number = _digits(match.group(1))
    assert number is not None
    value = number * _MULTIPLIERS[match.group(2).lower()]
    if value > MAX_BYTES:
        raise argparse.ArgumentTypeError(
            f"size {text!r} is more than {MAX_BYTES} bytes (2**63 - 1, the most a file offset "
            "holds)"
        )
    return value


def _buffer_size(text: str) -> int:
    value = _digits(text)
    if value is None or not 1 <= value <= MAX_BUF:
        raise argparse.ArgumentTypeError(f"buffer size must be 1..{MAX_BUF}, not {text!r}")
    return value


def _io_size(text: str) -> int:
    value = _digits(text)
    if value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    if value > MAX_IO_SIZE:
        raise argparse.ArgumentTypeError(
            f"{text} is more than {MAX_IO_SIZE} bytes (64 MiB; netcat's buffer is 16 KiB, and "
            "netsim allocates this one up front)"
        )
    return value


def _mtu(text: str) -> int:
    value = _digits(text)
    if value is None or not MIN_MTU <= value <= MAX_MTU:
        raise argparse.ArgumentTypeError(
            f"MTU must be {MIN_MTU}..{MAX_MTU} bytes (IPv4's minimum .. an IP packet's "
            f"largest; IPv6 needs {IPV6_MIN_MTU}), not {text!r}"
        )
    return value


def _number(text: str) -> float:
    """A finite decimal number, or NaN if ``text`` is none (``float`` also takes ``inf``,
    ``nan``, ``1e999`` and other scripts' digits)."""
    try:
        value = float(text) if text.isascii() else math.nan
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _rate(text: str) -> float:
    """Bits per second: ``10G``, ``100M``, ``1.5e9``."""
    pattern = r"([\d.eE+]+)\s*([kKmMgGtT]?)(?:bit|bps|b)?(?:/s)?"
    match = re.fullmatch(pattern, text.strip(), re.ASCII)
    if match is None:
        raise argparse.ArgumentTypeError(f"invalid rate {text!r} (bits/s, e.g. 10G, 100M)")
    scale = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[match.group(2).lower()]
    value = _number(match.group(1)) * scale
    if math.isnan(value) or math.isinf(value):
        raise argparse.ArgumentTypeError(f"invalid rate {text!r} (a finite number of bits/s)")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"rate must be > 0, not {text!r}")
    return value


def _fraction(text: str) -> float:
    """A probability: ``0.01``, ``1%``."""
    value = _number(text[:-1]) / 100 if text.endswith("%") else _number(text)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"invalid probability {text!r} (0..1, or a percentage: 0.01, 1%)"
        )
    return value


def _seed(text: str) -> int:
    value = _digits(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r} (a whole number >= 0)")
    return value


def _delay(text: str) -> float:
    """Seconds, or with a unit: ``0.5ms``, ``2ms``, ``100us``, ``0.01``; at most
    ``MAX_DELAY``."""
    match = re.fullmatch(r"([\d.eE+-]+)\s*(s|ms|us|µs)?", text.strip(), re.ASCII)
    value = _number(match.group(1)) if match else math.nan
    if match is None or math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"invalid delay {text!r} (a finite time >= 0, e.g. 0.5ms, 10ms, 0.01)"
        )
    value *= {None: 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}[match.group(2)]
    if value > MAX_DELAY:
        raise argparse.ArgumentTypeError(
            f"delay {text!r} is more than {MAX_DELAY:g} s one way: the SYN's round trip would "
            "outlast TCP's SYN retries (net.ipv4.tcp_syn_retries: 127 s), and the run is in "
            "real time"
        )
    return value


def _interval(text: str) -> float:
    value = _number(text)
    if math.isnan(value) or value < 0 or 0 < value < MIN_INTERVAL:
        raise argparse.ArgumentTypeError(
            f"must be 0 (no interval lines) or a finite number of seconds >= {MIN_INTERVAL:g}, "
            f"not {text!r}"
        )
    return value


def _port(text: str) -> int:
    value = _digits(text)
    if value is None or not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port number invalid: {text} (1..65535, digits only)")
    return value


def _allocator_list(text: str) -> tuple[str, ...]:
    names = tuple(n for n in text.split(",") if n)
    known = available_frag_allocators()
    unknown = [n for n in names if n not in known]
    if unknown or len(names) < 2:
        raise argparse.ArgumentTypeError(
            f"--compare wants two or more of {', '.join(sorted(known))}, not {text!r}"
        )
    if len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(f"--compare names an allocator twice: {text!r}")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="netsim nc",
        usage="netsim nc [-46dklNu] [-I length] [-O length] [--bytes N] [options] host port",
        description="netcat over netsim's emulated stack: runs `nc -l -k PORT > /dev/null` and "
        "`<source> | nc HOST PORT` as two trio tasks in one process, then reports throughput "
        "and what the fragment allocator and the protocols did.",
        epilog="examples:  netsim nc -N 127.0.0.1 1234 --bytes 1G\n"
        "           head -c 1G /dev/zero | netsim nc -N -6 ::1 1234\n"
        "           netsim nc -u 127.0.0.1 1234 --bytes 256M --compare page_frag,page_frag_cache\n"
        "           netsim nc -N 127.0.0.1 1234 --bytes 8M --compare page_frag,page_frag_cache "
        "--explain\n"
        "           netsim nc -N 127.0.0.1 1234 --bytes 64M --tls            # software kTLS\n"
        "           netsim nc -N 127.0.0.1 1234 --bytes 64M --tls-offload    # device offload\n"
        "two processes, each a host, over an emulated link carried by a Unix socket:\n"
        "           netsim nc -l -k 1234 --link unix:/tmp/netsim.sock\n"
        "           netsim nc -N 10.0.0.2 1234 --link unix:/tmp/netsim.sock --bytes 1G",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    nc = p.add_argument_group("netcat options")
    nc.add_argument("-4", dest="v4", action="store_true", help="IPv4 only")
    nc.add_argument("-6", dest="v6", action="store_true", help="IPv6 only")
    nc.add_argument("-d", dest="no_stdin", action="store_true", help="do not read stdin")
    nc.add_argument("-k", dest="keep", action="store_true", help="keep listening (listener side)")
    nc.add_argument(
        "-l", dest="listen", action="store_true", help="listen (see the note it prints)"
    )
    nc.add_argument(
        "-N", dest="shutdown_on_eof", action="store_true", help="shutdown(2) the socket after EOF"
    )
    nc.add_argument("-u", dest="udp", action="store_true", help="UDP instead of TCP")
    nc.add_argument("-I", dest="rcvbuf", type=_buffer_size, metavar="length", help="SO_RCVBUF")
    nc.add_argument("-O", dest="sndbuf", type=_buffer_size, metavar="length", help="SO_SNDBUF")
    nc.add_argument("host", nargs="?", help="destination address (numeric, or localhost)")
    nc.add_argument("port", nargs="?", help="destination port")
    ns = p.add_argument_group("netsim options")
    ns.add_argument(
        "--bytes",
        dest="nbytes",
        type=parse_size,
        metavar="N",
        help="send N zero bytes (like head -c N /dev/zero; 20G, 512M, ...) instead of stdin",
    )
    ns.add_argument(
        "--allocator",
        type=allocator_name,
        default=None,
        help="fragment allocator behind sk_page_frag() (default: page_frag_cache)",
    )
    ns.add_argument(
        "--compare",
        type=_allocator_list,
        default=(),
        metavar="A,B",
        help="run the flow once per allocator and print a before/after table",
    )
    ns.add_argument(
        "--read-size", type=_io_size, default=BUFSIZE, help="bytes per recv (default 16384)"
    )
    ns.add_argument(
        "--write-size", type=_io_size, default=BUFSIZE, help="bytes per send (default 16384)"
    )
    ns.add_argument(
        "--link",
        nargs="?",
        const="",
        default=None,
        metavar="unix:PATH",
        help="two hosts over an emulated link; with unix:PATH, this process is one host and a "
        "netsim nc in another process (one with -l, one without) is the other",
    )
    ns.add_argument(
        "--tap",
        metavar="IFNAME",
        default=None,
        help="this host on a TAP interface (root): the machine's own kernel is the peer, at "
        f"{KERNEL_ADDRS[0]} / {KERNEL_ADDRS[1]} (this host: {NETSIM_ADDRS[0]} / "
        f"{NETSIM_ADDRS[1]}), so real nc and any other program can talk to netsim",
    )
    ns.add_argument(
        "--tap-netns",
        metavar="NS",
        default=None,
        help="put the TAP interface's kernel side into network namespace NS (ip netns add NS)",
    )
    ns.add_argument(
        "--mtu", type=_mtu, default=None, help="link MTU (implies --link; default 1500)"
    )
    ns.add_argument("--rate", type=_rate, default=None, help="link rate in bits/s (implies --link)")
    ns.add_argument(
        "--delay", type=_delay, default=None, help="link one-way delay (implies --link)"
    )
    for flag, what in (
        ("--loss", "lose each frame with this probability"),
        ("--dup", "duplicate each frame with this probability"),
        ("--reorder", "hold a frame back (3 frames' time) with this probability"),
        ("--corrupt", "flip one bit of a frame with this probability (checksums catch it)"),
    ):
        ns.add_argument(
            flag,
            type=_fraction,
            default=None,
            metavar="P",
            help=f"{what}, as netem (implies --link)",
        )
    ns.add_argument(
        "--jitter",
        type=_delay,
        default=None,
        help="a further uniform delay per frame (implies --link)",
    )
    ns.add_argument(
        "--seed",
        type=_seed,
        default=None,
        help="the faults' random seed (default 0): same seed, same faults for the same frames",
    )
    ns.add_argument(
        "--tls",
        action="store_true",
        help='kTLS on the connection once it is established: TCP_ULP "tls", then TLS_TX on '
        "the client and TLS_RX on the listener (TLS 1.2, AES-GCM-128). Not a handshake: the "
        "key, IV and salt are fixed, as a kTLS test harness sets them (netsim.cli.nc."
        "TLS_DEMO_KEY); without --tls-offload the emulated devices do not offload, so the "
        "client encrypts in software kTLS. With --link unix:, give both processes --tls. "
        'The report adds each socket\'s mode and the kTLS counters (JSON: "tls")',
    )
    ns.add_argument(
        "--tls-offload",
        action="store_true",
        help="implies --tls: switch tls-hw-tx-offload on for the emulated device the client "
        "sends through (lo, whose real counterpart has it off [fixed]; or the link's eth0), "
        "so TLS_TX takes the device path: records in page frags, encrypted by the emulated NIC",
    )
    ns.add_argument(
        "--pcap", type=file_name, metavar="FILE", help="capture the client's device to FILE"
    )
    ns.add_argument(
        "--sink",
        type=file_name,
        metavar="FILE",
        help="write what the listener receives to FILE (default: discard, like > /dev/null)",
    )
    ns.add_argument("--json", action="store_true", help="iperf3-style JSON on stdout")
    ns.add_argument(
        "--explain",
        action="store_true",
        help="say what each report row means and, in sentences built from the run's counters, "
        "where each allocator spent its refcount operations (get_page per frag slot, or "
        "page_ref_add per refill and a bias decrement per frag) and why it recycled, reused or "
        'abandoned pages; with --compare, the table in words too (JSON: an "explain" list)',
    )
    ns.add_argument(
        "--interval", type=_interval, default=1.0, help="seconds between interval lines (0: none)"
    )
    ns.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    return p


def _fault_flags(args: argparse.Namespace) -> list[str]:
    """The fault options given (``--seed`` alone is not a fault)."""
    names = ("loss", "dup", "reorder", "corrupt", "jitter")
    return [f"--{name}" for name in names if getattr(args, name) is not None]


def parse_args(argv: list[str]) -> NcOptions:
    """Parse ``netsim nc`` arguments; bad ones exit with the usage message and status 2.

    Everything that can be known to fail before the run is refused here, with the reason:
    bad numbers, an address no emulated host has, flags that contradict each other, and
    values a run could not finish with (an MTU IPv6 cannot use, a delay or a rate that would
    take days of real time, a size beyond a file offset)."""
    parser = build_parser()
    argv = list(argv)
    for i, arg in enumerate(argv):  # a bare --link must not swallow the host that follows it
        if arg == "--link" and (i + 1 == len(argv) or not _link_value(argv[i + 1])):
            argv[i] = "--link="
    args = parser.parse_args(argv)
    if args.v4 and args.v6:
        parser.error("-4 and -6 contradict each other")
    family = AF_INET if args.v4 else AF_INET6 if args.v6 else None
    link_unix: str | None = None
    if args.link:
        if not args.link.startswith("unix:") or len(args.link) == len("unix:"):
            parser.error(f"--link takes unix:PATH (or nothing), not {args.link!r}")
        link_unix = args.link[len("unix:") :]
        size = len(os.fsencode(link_unix))
        if size >= UNIX_PATH_MAX:
            parser.error(
                f"--link {args.link}: the path is {size} bytes; a Unix socket's path holds at "
                f"most {UNIX_PATH_MAX - 1} (sun_path)"
            )
        if args.rate is not None or args.delay is not None or _fault_flags(args):
            parser.error(
                "--rate, --delay and the fault options apply to an in-process link, "
                "not --link unix:"
            )
        if args.compare:
            parser.error("--compare runs both ends in one process; it cannot use --link unix:")
    if args.tap_netns is not None and args.tap is None:
        parser.error("--tap-netns needs --tap")
    if args.tap is not None:
        if not args.tap or len(os.fsencode(args.tap)) > 15 or "/" in args.tap:
            parser.error(f"--tap {args.tap!r}: an interface name is 1 to 15 bytes, no '/'")
        if args.link is not None:
            parser.error("--tap and --link are two different wires: give one")
        if args.compare:
            parser.error("--compare runs both ends in one process; it cannot use --tap")
        if args.rate is not None or args.delay is not None or _fault_flags(args):
            parser.error(
                "--rate, --delay and the fault options apply to an in-process link, not --tap"
            )
        if args.tls_offload:
            parser.error("--tls-offload emulates a NIC's kTLS; the kernel on --tap has none here")
    if args.listen:
        if link_unix is None and args.tap is None:
            port = args.host if args.port is None else args.port
            print(LONELY_LISTENER.format(port=port or 1234), file=sys.stderr, end="")
            raise SystemExit(2)
        if args.port is None:  # nc -l PORT
            args.host, args.port = None, args.host
        if args.port is None:
            parser.error("-l needs a port")
        if args.nbytes is not None:
            parser.error("--bytes is the client's source; a listener only receives")
    elif args.keep:
        parser.error("-k applies to a listener (-l)")
    if not args.listen and (args.host is None or args.port is None):
        parser.error("a destination host and port are required")
    tls = args.tls or args.tls_offload
    if tls and args.udp:
        flag = "--tls-offload" if args.tls_offload and not args.tls else "--tls"
        parser.error(
            f"{flag} and -u contradict each other: kTLS is a TCP upper-layer protocol "
            '(TCP_ULP "tls"), there is no UDP kTLS (DTLS is not in the kernel)'
        )
    if args.tls_offload and args.listen:
        parser.error(
            "--tls-offload is the sender's (tls-hw-tx-offload: the NIC encrypts what the "
            "client sends); a listener only receives, in software kTLS: give the listener "
            "--tls, and the client --tls-offload"
        )
    try:
        port = _port(args.port)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.nbytes is not None and args.no_stdin:
        parser.error("-d and --bytes contradict each other")
    if args.compare and args.allocator is not None:
        parser.error("--allocator and --compare contradict each other (--compare names them)")
    if args.compare and args.nbytes is None and not args.no_stdin:
        parser.error(
            "--compare runs the flow once per allocator, and stdin can be read only once: "
            "give --bytes N (or -d)"
        )
    if args.sink is not None and link_unix is not None and not args.listen:
        parser.error(
            "--sink writes what the listener receives; with --link unix: the listener is the "
            "other process (give it --sink there)"
        )
    _check_files(parser, args.pcap, args.sink, link_unix)
    link_wanted = args.link is not None or args.mtu is not None or args.rate is not None
    link_wanted = (link_wanted or args.delay is not None or bool(_fault_flags(args))) and (
        args.tap is None
    )
    faults = None
    if _fault_flags(args):
        faults = FaultPlan(
            loss=args.loss or 0.0,
            duplicate=args.dup or 0.0,
            reorder=args.reorder or 0.0,
            corrupt=args.corrupt or 0.0,
            jitter=args.jitter or 0.0,
            seed=args.seed or 0,
        )
    host = args.host
    if host is None:  # a listener on every address
        host = "::" if family == AF_INET6 else "0.0.0.0"
    if host == "localhost":
        host = "::1" if family == AF_INET6 else "127.0.0.1"
    detected = AF_INET6 if ":" in host else AF_INET
    if not _numeric(host, detected):
        parser.error(f"{args.host}: not a numeric address (netsim's hosts resolve no names)")
    if family is not None and family != detected:
        parser.error(f"{args.host} is not an IPv{'6' if family == AF_INET6 else '4'} address")
    if args.tap is not None:
        problem = _tap_address_problem(host, listen=args.listen)
    else:
        problem = _address_problem(host, listen=args.listen, link=link_wanted)
    if problem is not None:
        parser.error(problem)
    if host in ("0.0.0.0", "::") and not args.listen:
        # connect() to the unspecified address reaches the host itself: ip_route_connect()
        # and ip6_datagram_dst_update() put the loopback address in its place
        host = "::1" if detected == AF_INET6 else "127.0.0.1"
    mtu = args.mtu or 1500
    if detected == AF_INET6 and mtu < IPV6_MIN_MTU:
        parser.error(
            f"argument --mtu: {mtu} is below IPv6's minimum MTU of {IPV6_MIN_MTU} (RFC 8200; "
            "Linux takes IPv6 off such a device)"
        )
    if args.rate is not None:
        _check_rate(parser, args.rate, mtu, args.nbytes)
    return NcOptions(
        host=host,
        port=port,
        udp=args.udp,
        family=detected,
        shutdown_on_eof=args.shutdown_on_eof,
        rcvbuf=args.rcvbuf,
        sndbuf=args.sndbuf,
        no_stdin=args.no_stdin,
        nbytes=args.nbytes,
        allocator=args.allocator or "page_frag_cache",
        read_size=args.read_size,
        write_size=args.write_size,
        link=link_wanted,
        mtu=mtu,
        rate=args.rate,
        delay=args.delay or 0.0,
        faults=faults,
        pcap=args.pcap,
        sink=args.sink,
        json=args.json,
        compare=args.compare,
        interval=args.interval,
        progress=args.progress,
        keep=args.keep,
        listen=args.listen,
        link_unix=link_unix,
        tap=args.tap,
        tap_netns=args.tap_netns,
        tls=tls,
        tls_offload=args.tls_offload,
        explain=args.explain,
    )


PEER_ADDRS = ("10.0.0.2", "fd00::2")  # the listener's host on a link (netsim.link()'s b)


def _tap_address_problem(host: str, *, listen: bool) -> str | None:
    """Why ``host`` cannot be used over ``--tap``: a listener has netsim's addresses on the
    TAP (or every address); a client connects to the kernel's."""
    ours = tuple(a.split("/")[0] for a in NETSIM_ADDRS)
    kernel = tuple(a.split("/")[0] for a in KERNEL_ADDRS)
    if listen:
        if host in ours or ipaddress.ip_address(host).is_unspecified:
            return None
        return f"{host}: not an address of this host ({ours[0]} and {ours[1]} on the TAP)"
    if host in kernel:
        return None
    return f"{host}: over --tap the peer is the kernel, {kernel[0]} (IPv4) or {kernel[1]} (IPv6)"


def _address_problem(host: str, *, listen: bool, link: bool) -> str | None:
    """Why ``host`` cannot be the destination (or, with ``listen``, the listening address),
    or None.  On loopback the one host has 127.0.0.0/8 and ::1; over a link the listener's
    host is 10.0.0.2 / fd00::2 (and, for ``-l --link unix:``, that is this host)."""
    ip = ipaddress.ip_address(host)
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    if ip.is_multicast or host == "255.255.255.255":
        kind = "a multicast" if ip.is_multicast else "the broadcast"
        return f"{host}: {kind} address; netsim nc's listener has one unicast address"
    if listen:
        if ip.is_unspecified or host in PEER_ADDRS:
            return None
        if ip.is_loopback or (mapped is not None and mapped.is_loopback):
            return (
                f"{host}: a listener on loopback cannot be reached over the link; listen on "
                f"{PEER_ADDRS[0]}, {PEER_ADDRS[1]} or every address (give no host)"
            )
        return (
            f"{host}: not an address of this host ({PEER_ADDRS[0]} and {PEER_ADDRS[1]} on the link)"
        )
    if link:
        if host in PEER_ADDRS:
            return None
        return (
            f"{host}: over a link the listener is the other host, {PEER_ADDRS[0]} (IPv4) or "
            f"{PEER_ADDRS[1]} (IPv6)"
        )
    if ip.is_loopback or ip.is_unspecified or (mapped is not None and mapped.is_loopback):
        return None
    return (
        f"{host}: not an address of the emulated host, which has loopback only (127.0.0.0/8, "
        f"::1); for a second host at {PEER_ADDRS[0]} / {PEER_ADDRS[1]}, add --link"
    )


def _check_files(
    parser: argparse.ArgumentParser, pcap: str | None, sink: str | None, link_unix: str | None
) -> None:
    """--pcap, --sink and the link's socket must be three different files."""
    named = [(opt, path) for opt, path in (("--pcap", pcap), ("--sink", sink)) if path]
    if link_unix is not None:
        named.append(("--link unix:", link_unix))
    seen: dict[str, str] = {}
    for opt, path in named:
        real = os.path.realpath(path)
        if real in seen and not real.startswith("/dev/"):
            parser.error(f"{seen[real]} and {opt} name the same file, {path}")
        seen[real] = opt


def _check_rate(parser: argparse.ArgumentParser, rate: float, mtu: int, nbytes: int | None) -> None:
    """A rate the run can finish at, in real time."""
    frame = 8 * mtu / rate
    if frame > MAX_FRAME_SECONDS:
        parser.error(
            f"argument --rate: at {iperf_bitrate(rate)} one {mtu}-byte frame takes "
            f"{_duration(frame)} (at most {MAX_FRAME_SECONDS:g} s: TCP would time out); the "
            f"link needs {8 * mtu / MAX_FRAME_SECONDS:g} bits/s or more"
        )
    if nbytes is not None and nbytes * 8 / rate > MAX_RUN_SECONDS:
        parser.error(
            f"argument --rate: {nbytes} bytes at {iperf_bitrate(rate)} take "
            f"{_duration(nbytes * 8 / rate)} of real time (netsim nc runs in real time; at "
            "most a day): raise --rate or lower --bytes"
        )


def _duration(seconds: float) -> str:
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600)):
        if seconds >= 2 * size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def _link_value(arg: str) -> bool:
    """Is ``arg``, after ``--link``, its value (``unix:PATH``, or a mistyped ``SCHEME:…``
    or ``unix``) rather than the destination host?"""
    if arg == "unix":
        return True
    if arg.startswith("-") or ":" not in arg:
        return False
    return not (_numeric(arg, AF_INET6) or _numeric(arg.strip("[]"), AF_INET6))


def _numeric(host: str, family: int) -> bool:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    return addr.version == (6 if family == AF_INET6 else 4)


# -- the flow --------------------------------------------------------------------------------


@attrs.define
class Interval:
    start: float
    end: float
    bytes: int
    retransmits: int
    snd_cwnd: int
    snd_wnd: int
    rtt: int
    rttvar: int


@attrs.define
class FlowResult:
    """One run: what was sent and received, how long it took, and the counters."""

    allocator: str
    sent: int = 0
    received: int = 0
    datagrams_sent: int = 0
    datagrams_received: int = 0
    seconds: float = 0.0
    intervals: list[Interval] = attrs.Factory(list)
    local: tuple[Any, ...] = ()
    remote: tuple[Any, ...] = ()
    socket_id: int = 0
    report: FragReport | None = None
    info: dict[str, Any] = attrs.Factory(dict)
    sndbuf: int = 0
    rcvbuf: int = 0
    mss: int = 0
    timestamp: float = 0.0
    #: the receiving end is another process (--link unix:): ``received`` is what TCP saw
    #: acknowledged up to the peer's EOF, and for UDP unknown here
    remote_receiver: bool = False
    #: this is the listener's report (``nc -l --link unix:``): the sender is in another
    #: process, so only what arrived is known here
    listener: bool = False
    #: why the connection ended early (the client's process left mid-connection, a reset)
    error: OSError | None = None
    #: the listener's count of link peers when this client was on the link
    peer: int = 0
    #: what the link's faults did, per direction ("a->b", "b->a"): FaultState.counts()
    faults: dict[str, dict[str, int]] = attrs.Factory(dict)
    #: the sender's congestion control (``TCP_CONGESTION``; the host's
    #: ``net.ipv4.tcp_congestion_control``)
    congestion: str = ""
    #: what kTLS did (``--tls``), else None
    tls: TlsSummary | None = None


Source = Callable[[], AsyncGenerator[memoryview, None]]


def zero_source(nbytes: int, chunk: int) -> Source:
    """``head -c nbytes /dev/zero``: memoryviews of one zero buffer, ``chunk`` bytes each."""
    zeros = memoryview(bytes(chunk))

    async def gen() -> AsyncGenerator[memoryview, None]:
        left = nbytes
        while left >= chunk:
            yield zeros
            left -= chunk
        if left:
            yield zeros[:left]

    return gen


def stdin_source(chunk: int, stream: IO[bytes] | None = None) -> Source:
    """Real stdin, read in a worker thread with blocking ``os.read`` (the file's flags are
    left alone, so a shell sharing it is unaffected), handed out in ``chunk``-byte pieces.
    A read that fails ends the flow with ``OSError`` ("reading stdin failed: …")."""
    if stream is None and sys.stdin is None:  # started with stdin closed (<&-)
        raise kernel_error(errno.EBADF, "stdin is closed")
    fd = (stream or sys.stdin.buffer).fileno()

    async def gen() -> AsyncGenerator[memoryview, None]:
        while True:
            try:
                data = await trio.to_thread.run_sync(
                    os.read, fd, STDIN_CHUNK, abandon_on_cancel=True
                )
            except OSError as exc:
                raise _context("reading stdin failed", exc) from None
            if not data:
                return
            view = memoryview(data)
            for off in range(0, len(view), chunk):
                yield view[off : off + chunk]

    return gen


@attrs.define(eq=False)
class OutputFaults:
    """The files ``netsim nc`` writes besides its report (``--pcap``, ``--sink``) that
    failed.  An I/O error of one stops that file — never the flow, as a tap's error never
    stops a transmit (:mod:`netsim.dev.tap`) — and is told to ``announce`` once; a run with
    any such failure exits with status 1 (a requested output failed)."""

    announce: Callable[[str], None] | None = None
    messages: list[str] = attrs.Factory(list)

    def failed(self, message: str) -> None:
        self.messages.append(message)
        if self.announce is not None:
            self.announce(message)


class _Sink:
    """``--sink FILE``: what the listener receives, as ``nc -l > FILE`` writes it.  The
    first failed write (a full disk) closes it, says "sink stopped: FILE: …" once, and the
    listener goes on reading and discarding."""

    def __init__(self, path: str, faults: OutputFaults) -> None:
        try:
            self.file: IO[bytes] | None = open(path, "wb")  # noqa: SIM115
        except OSError as exc:
            raise _file_error("--sink", path, exc) from None
        self.path = path
        self.faults = faults

    def write(self, data: memoryview) -> None:
        if self.file is None:
            return
        try:
            self.file.write(data)
        except (OSError, ValueError) as exc:
            self._stop(exc)

    def _stop(self, exc: BaseException) -> None:
        file, self.file = self.file, None
        if file is not None:
            with contextlib.suppress(OSError, ValueError):
                file.close()  # a buffered file closes even when its last flush fails
        self.faults.failed(f"sink stopped: {self.path}: {_strerror(exc)}")

    def close(self) -> None:
        if self.file is None:
            return
        try:
            self.file.close()
        except (OSError, ValueError) as exc:
            self._stop(exc)
        self.file = None


def _open_sink(opts: NcOptions, faults: OutputFaults | None) -> _Sink | None:
    return _Sink(opts.sink, faults or OutputFaults()) if opts.sink else None


def _capture(
    host: Host, path: str, dev: str, faults: OutputFaults | None
) -> contextlib.AbstractContextManager[object]:
    """``host.capture(path, dev)``; an I/O error of the file stops the capture only."""
    report = faults or OutputFaults()

    def stopped(tap: PcapTap) -> None:
        report.failed(f"capture stopped: {path}: {_strerror(tap.error)}")

    return host.capture(path, dev, on_error=stopped)


def _enter_capture(
    stack: contextlib.ExitStack | contextlib.AsyncExitStack,
    host: Host,
    path: str,
    dev: str,
    faults: OutputFaults | None,
) -> None:
    try:
        stack.enter_context(_capture(host, path, dev, faults))
    except OSError as exc:
        raise _file_error("--pcap", path, exc) from None


def _strerror(exc: BaseException | None) -> str:
    """What went wrong, without Python's ``[Errno N]`` (as ``perror`` prints it)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def _describe(exc: BaseException) -> str:
    """An error as one line for ``netsim nc: …``: ``strerror`` and, if it has one, the file
    it is about (``open``'s errors and the Unix link's carry it)."""
    if isinstance(exc, OSError) and exc.strerror:
        if exc.filename is not None:
            return f"{exc.filename}: {exc.strerror}"
        return exc.strerror
    if isinstance(exc, MemoryError):
        return "out of memory"
    return str(exc) or type(exc).__name__


def _file_error(option: str, path: str, exc: OSError) -> OSError:
    """A file an option names could not be opened: "--sink PATH: Permission denied"."""
    err = OSError(exc.errno, f"{option} {path}: {_strerror(exc)}")
    err.__cause__ = exc
    return err


def _context(what: str, exc: OSError) -> OSError:
    """``exc`` (same errno) with ``what`` in front: "connect to … failed: Connection
    refused", as netcat words it."""
    err = OSError(exc.errno, f"{what}: {_describe(exc)}")
    err.__cause__ = exc
    return err


# -- kTLS (--tls, --tls-offload) ------------------------------------------------------------

#: The fixed key material of ``--tls``: no handshake runs, both ends are given these, as
#: kTLS's selftests (tools/testing/selftests/net/tls.c) and a TLS library after its
#: handshake would.  A demo key, public, for a throughput run: never a secret.
TLS_DEMO_KEY: Final = bytes(range(16))
TLS_DEMO_IV: Final = bytes(range(16, 24))
TLS_DEMO_SALT: Final = bytes(range(24, 28))
TLS_VERSION_NAME: Final = "TLS 1.2"
TLS_CIPHER_NAME: Final = "AES-GCM-128"

#: netsim's kTLS counters (``host.stats()``), in report order; the kernel's /proc/net/tls_stat
TLS_COUNTERS: Final = TLS_COUNTER_NAMES
TLS_STAT: Final = TLS_STAT_NAMES
#: the counters reported per MiB of payload
_TLS_PER_MIB: Final = (
    "tls_records",
    "tls_record_frags",
    "tls_record_coalesce",
    "tls_dev_encrypt",
    "tls_sw_encrypt",
)


def tls_demo_crypto_info() -> bytes:
    """The ``SOL_TLS`` ``TLS_TX``/``TLS_RX`` value of ``--tls``: TLS 1.2, AES-GCM-128, the
    demo key, record sequence number 0."""
    return tls_crypto_info(TLS_DEMO_KEY, TLS_DEMO_IV, TLS_DEMO_SALT, 0)


@attrs.define
class TlsSummary:
    """What kTLS did in one flow: each end's mode and the counters.

    ``tx_conf``/``rx_conf``: ``"hw"`` (device offload) or ``"sw"`` (software kTLS), as
    ``tls_info()``'s ``txconf``/``rxconf``; None for an end in another process.
    ``counters``: netsim's ``tls_*`` counters over the flow, both hosts' summed (one sends,
    the other receives); ``tls_stat``: /proc/net/tls_stat of the client's host (the
    listener's, for a listener's report) — the ``TlsCurr*`` gauges once both ends were set
    up, the rest at the end — and ``peer_tls_stat`` the other host's, over an in-process
    link."""

    offload_requested: bool
    tx_conf: str | None = None
    rx_conf: str | None = None
    #: the device the client's route leaves by, and whether it advertises tls-hw-tx-offload
    tx_dev: str = ""
    tx_dev_offload: bool = False
    counters: dict[str, int] = attrs.Factory(dict)
    tls_stat: dict[str, int] = attrs.Factory(dict)
    peer_tls_stat: dict[str, int] | None = None

    def sender_mode(self) -> str:
        """How the client's socket encrypts, in words."""
        if self.tx_conf is None:
            return "in the client's process"
        if self.tx_conf == "hw":
            return f"device offload (tls-hw-tx-offload on {self.tx_dev}, emulated)"
        if self.tx_dev_offload:
            return f"software kTLS ({self.tx_dev} offers tls-hw-tx-offload, kTLS did not take it)"
        fixed = " [fixed], as on Linux" if self.tx_dev == "lo" else ""
        return f"software kTLS ({self.tx_dev}: tls-hw-tx-offload off{fixed})"

    def receiver_mode(self) -> str:
        if self.rx_conf is None:
            return "in the listener's process"
        if self.rx_conf == "hw":
            return "device offload"
        return "software kTLS (netsim's NICs do not decrypt: no tls-hw-rx-offload)"

    @property
    def frags_per_record(self) -> float:
        records = self.counters.get("tls_records", 0)
        return self.counters.get("tls_record_frags", 0) / records if records else 0.0

    def per_mib(self, name: str, nbytes: int) -> float:
        return self.counters.get(name, 0) / (nbytes / (1 << 20)) if nbytes else 0.0

    def as_json(self, nbytes: int) -> dict[str, Any]:
        """The ``"tls"`` object of ``--json``."""
        doc: dict[str, Any] = {
            "version": TLS_VERSION_NAME,
            "cipher": TLS_CIPHER_NAME,
            "key": "fixed demo key (no handshake)",
            "sender": {
                "conf": self.tx_conf,
                "mode": self.sender_mode(),
                "device": self.tx_dev or None,
                "tls_hw_tx_offload": self.tx_dev_offload if self.tx_conf is not None else None,
            },
            "receiver": {"conf": self.rx_conf, "mode": self.receiver_mode()},
            "counters": {name: self.counters.get(name, 0) for name in TLS_COUNTERS},
            "frags_per_record": round(self.frags_per_record, 3),
            "per_mib": {name: round(self.per_mib(name, nbytes), 3) for name in _TLS_PER_MIB},
            "tls_stat": self.tls_stat,
        }
        if self.peer_tls_stat is not None:
            doc["peer_tls_stat"] = self.peer_tls_stat
        return doc

    def format(self, nbytes: int) -> str:
        """The report's kTLS block, in the ``perf stat`` layout of the counters above it."""
        c = self.counters

        def mib(name: str) -> str:
            return f"{self.per_mib(name, nbytes):10.2f} /MiB"

        rows: list[tuple[int, str, str]] = []
        if self.tx_conf is not None:
            rows += self._tx_rows(mib)
        if self.rx_conf is not None:
            rows.append(
                (c.get("tls_rx_records", 0), "records received", "decrypted by the listener")
            )
        width = max(len(f"{value:,}") for value, _, _ in rows)
        lines = [
            f' kTLS (TCP_ULP "tls", {TLS_VERSION_NAME} {TLS_CIPHER_NAME}, fixed demo key: no '
            "handshake):",
            "",
            f"  client TX:   {self.sender_mode()}",
            f"  listener RX: {self.receiver_mode()}",
            "",
        ]
        for value, name, comment in rows:
            lines.append(f"  {value:>{width},}      {name:<32}#  {comment}".rstrip())
        lines.append("")
        lines.append(f"  /proc/net/tls_stat: {_tls_stat_line(self.tls_stat)}")
        if self.peer_tls_stat is not None:
            lines.append(f"  /proc/net/tls_stat (peer): {_tls_stat_line(self.peer_tls_stat)}")
        return "\n".join(lines)

    def _tx_rows(self, mib: Callable[[str], str]) -> list[tuple[int, str, str]]:
        c = self.counters
        rows: list[tuple[int, str, str]] = [
            (c.get("tls_records", 0), "TLS records", mib("tls_records")),
            (
                c.get("tls_record_frags", 0),
                "record frags",
                f"{mib('tls_record_frags')}, {self.frags_per_record:.2f} frags/record",
            ),
            (c.get("tls_record_coalesce", 0), "record coalesces", mib("tls_record_coalesce")),
            (c.get("tls_dev_encrypt", 0), "device record encryptions", mib("tls_dev_encrypt")),
            (c.get("tls_sw_encrypt", 0), "software record encryptions", mib("tls_sw_encrypt")),
            (c.get("tls_tx_ooo", 0), "out-of-order segments", "re-encrypted from the record"),
            (c.get("tls_tx_resync_bytes", 0), "resync bytes", "re-encrypted to reach them"),
        ]
        if c.get("tls_sw_fallback_segs", 0):
            rows.append((c["tls_sw_fallback_segs"], "sw fallback segments", "tls_sw_fallback"))
        if c.get("tls_tx_no_record", 0):
            rows.append((c["tls_tx_no_record"], "segments without a record", "dropped"))
        return rows


def _tls_stat_line(stat: dict[str, int]) -> str:
    return ", ".join(f"{name} {value}" for name, value in stat.items()) or "(all zero)"


def _tls_stat(end: StatsSnapshot, setup: StatsSnapshot) -> dict[str, int]:
    """The nonzero /proc/net/tls_stat counters: ``TlsCurr*`` gauges from ``setup`` (both
    ends configured, the flow running), the rest from ``end``."""
    stat = {name: (setup if name.startswith("TlsCurr") else end)[name] for name in TLS_STAT}
    return {name: value for name, value in stat.items() if value}


def _tls_counters(*deltas: StatsSnapshot) -> dict[str, int]:
    return {name: sum(d[name] for d in deltas) for name in TLS_COUNTERS}


def _tls_setup(sock: Socket, *, tx: bool, dest: str) -> str:
    """``setsockopt(SOL_TCP, TCP_ULP, "tls")`` and ``TLS_TX`` (or ``TLS_RX``) with the demo
    key; the direction's conf, ``"hw"`` or ``"sw"``.  A refusal is ``OSError``, worded as
    the other failures ("kTLS setup (TLS_TX) on … failed: …")."""
    option = TLS_TX if tx else TLS_RX
    try:
        sock.setsockopt(SOL_TCP, TCP_ULP, b"tls")
        sock.setsockopt(SOL_TLS, option, tls_demo_crypto_info())
    except OSError as exc:
        name = "TLS_TX" if tx else "TLS_RX"
        raise _context(f"kTLS setup ({name}) on {dest} failed", exc) from None
    info = tls_info(sock.tcp_sk)
    return str(info["txconf" if tx else "rxconf"])


def _route_device(sock: Socket) -> tuple[str, bool]:
    """The device the socket's route leaves by, and whether it offers tls-hw-tx-offload."""
    dev = getattr(sock.tcp_sk.sk_dst_cache, "dev", None)
    if not isinstance(dev, NetDevice):
        return "", False
    return dev.name, bool(dev.features & NETIF_F_HW_TLS_TX)


def _offload_tls(dev: NetDevice) -> None:
    """``ethtool -K DEV tls-hw-tx-offload on``, on an emulated device (the device path needs
    a checksum offload too, as Linux's ``netdev_fix_features`` does; loopback has one)."""
    dev.features |= NETIF_F_HW_TLS_TX


async def run_flow(
    opts: NcOptions,
    allocator: str,
    source: Source,
    *,
    on_tick: Callable[[FlowResult, float], None] | None = None,
    faults: OutputFaults | None = None,
) -> FlowResult:
    """Run one listener + client flow on a fresh host (or two, over a link).  A failing
    ``--pcap`` or ``--sink`` file stops that file only and is reported to ``faults``."""
    result = FlowResult(allocator, timestamp=time.time())
    async with contextlib.AsyncExitStack() as stack:
        name = "client" if opts.link_unix is not None else "netsim"
        # a process of its own gets its own seed, so two clients in a row of one listener
        # do not pick the same ephemeral port (the listener may still hold the last one)
        seed = os.getpid() if opts.link_unix is not None else 0
        a = await stack.enter_async_context(open_host(allocator=allocator, name=name, seed=seed))
        server_host: Host | None = a
        addr = opts.host
        wire: StreamLink | TapLink | None = None
        if opts.tap is not None:
            wire = await stack.enter_async_context(
                open_tap_link(a, opts.tap, netns=opts.tap_netns, mtu=opts.mtu)
            )
            server_host = None
            result.remote_receiver = True
        elif opts.link_unix is not None:
            try:
                wire = await stack.enter_async_context(
                    open_unix_link(
                        a, opts.link_unix, listen=False, mtu=opts.mtu, csum_offload=opts.tls_offload
                    )
                )
            except OSError as exc:
                raise _link_error(opts.link_unix, exc) from None
            if opts.tls_offload:
                _offload_tls(wire.dev)
            with trio.move_on_after(_BUSY_NOTICE):
                await wire.wait_carrier()
            if not wire.carrier:  # connected, but the listener is serving another client
                _say(
                    f"netsim nc: waiting for the listener on unix:{opts.link_unix} (it serves "
                    "one client at a time)"
                )
                await wire.wait_carrier()
            server_host = None
            addr = wire.peer_addrs[1 if opts.family == AF_INET6 else 0]
            result.remote_receiver = True
        elif opts.link:
            b = await stack.enter_async_context(open_host(allocator=allocator, name="peer"))
            wired = link(
                a,
                b,
                mtu=opts.mtu,
                rate=opts.rate,
                delay=opts.delay,
                faults=opts.faults,
                tls_offload=opts.tls_offload,
            )
            if opts.faults is not None:
                states = (wired.dev_a.faults, wired.dev_b.faults)
                stack.callback(_record_faults, result, states)
            server_host = b
            addr = "fd00::2" if opts.family == AF_INET6 else "10.0.0.2"
        elif opts.tls_offload:
            _offload_tls(a.devices["lo"])  # ethtool -K lo tls-hw-tx-offload on: emulated only
        if opts.pcap:
            dev = "eth0" if opts.link or opts.tap is not None else "lo"
            _enter_capture(stack, a, opts.pcap, dev, faults)
        await _flow(opts, a, server_host, addr, source, result, on_tick, wire, faults)
    return result


def _record_faults(result: FlowResult, states: tuple[FaultState | None, FaultState | None]) -> None:
    """What the faults did, client to listener and back."""
    for key, state in zip(("a->b", "b->a"), states, strict=True):
        if state is not None:
            result.faults[key] = state.counts()


def _link_error(path: str, exc: OSError) -> OSError:
    """An error of :func:`open_unix_link` about ``path``, worded for ``--link unix:PATH``."""
    if exc.filename != path:
        return exc
    err = OSError(exc.errno, f"--link unix:{path}: {exc.strerror}")
    err.__cause__ = exc
    return err


def _set_bufs(opts: NcOptions, sock: Socket) -> None:
    if opts.rcvbuf is not None:
        sock.setsockopt(SOL_SOCKET, SO_RCVBUF, opts.rcvbuf)
    if opts.sndbuf is not None:
        sock.setsockopt(SOL_SOCKET, SO_SNDBUF, opts.sndbuf)


async def _flow(
    opts: NcOptions,
    host: Host,
    server_host: Host | None,
    addr: str,
    source: Source,
    result: FlowResult,
    on_tick: Callable[[FlowResult, float], None] | None,
    wire: StreamLink | TapLink | None = None,
    faults: OutputFaults | None = None,
) -> None:
    """The client writes its source; the listener reads and discards — here, on
    ``server_host``, or (``server_host`` None) in the process at the other end of ``wire``.
    The client's socket errors come out worded as netcat words them ("connect to ADDR port
    N (tcp) failed: Connection refused")."""
    family = opts.family or AF_INET
    kind = SOCK_DGRAM if opts.udp else SOCK_STREAM
    listener: Socket | None = None
    if server_host is not None:
        listener = server_host.socket(family, kind)
        _set_bufs(opts, listener)
        await listener.bind((addr, opts.port))
        if not opts.udp:
            listener.listen(128)
    client = host.socket(family, kind)
    _set_bufs(opts, client)
    dest = f"{addr} port {opts.port} ({'udp' if opts.udp else 'tcp'})"
    try:
        await client.connect((addr, opts.port))
    except OSError as exc:
        raise _context(f"connect to {dest} failed", exc) from None
    result.local = client.getsockname()
    result.remote = (addr, opts.port)
    result.socket_id = client.fileno()
    result.sndbuf = client.getsockopt(SOL_SOCKET, SO_SNDBUF)
    result.rcvbuf = client.getsockopt(SOL_SOCKET, SO_RCVBUF)
    if not opts.udp:
        result.mss = client.tcp_sk.mss_cache
        result.congestion = client.tcp_sk.ca_name
    # --tls: both ends set up before any data, as a kTLS test harness does (connect, accept,
    # then the socket options on each); the listener's end is in another process with
    # --link unix:, and sets TLS_RX there
    conn: Socket | None = None
    peer_host = server_host if server_host is not None and server_host is not host else None
    tls_setup: StatsSnapshot | None = None  # the hosts once both ends are set up
    peer_setup: StatsSnapshot | None = None
    if opts.tls:
        tls = result.tls = TlsSummary(opts.tls_offload)
        tls.tx_dev, tls.tx_dev_offload = _route_device(client)
        if listener is not None:
            conn, _ = await listener.accept()
        tls.tx_conf = _tls_setup(client, tx=True, dest=dest)
        if conn is not None:
            tls.rx_conf = _tls_setup(conn, tx=False, dest=f"the listener's end of {dest}")
        tls_setup = host.stats()
        peer_setup = peer_host.stats() if peer_host is not None else None
    sender_done = trio.Event()
    client_open = [True]
    buf = bytearray(opts.read_size)
    view = memoryview(buf)
    # the sink is written synchronously, as `nc -l > FILE` writes: the emulated flow is the
    # measured work, and an async file would add a thread hop per read
    sink = _open_sink(opts, faults)
    before: StatsSnapshot = host.stats()
    peer_before = peer_host.stats() if peer_host is not None and opts.tls else None

    flow_done = [False]

    async def tcp_reader() -> None:
        assert listener is not None
        sock = conn
        if sock is None:
            sock, _ = await listener.accept()
        with sock:
            while n := await sock.recv_into(buf):
                result.received += n
                if sink is not None:
                    sink.write(view[:n])

    # the UDP listener reads until the sender is done, nothing is on its way any more
    # (loopback delivers inside the send; a link's frames arrive by the peer's timers, up to
    # its delay later) and nothing is left to read: udp_closer says when nothing is on its
    # way, and cancels a read still waiting then
    udp_reading = trio.CancelScope()
    udp_drained = [False]

    async def udp_reader() -> None:
        assert listener is not None
        with udp_reading:
            while not (udp_drained[0] and not listener.is_readable()):
                n = await listener.recv_into(buf)
                result.received += n
                result.datagrams_received += 1
                if sink is not None:
                    sink.write(view[:n])

    async def udp_closer() -> None:
        assert listener is not None
        await sender_done.wait()
        for dev in host.devices.values():
            while isinstance(dev, LinkDevice) and dev.inflight:
                # the last arrival (jitter and reordering may reorder them), by the peer's
                # timer task at its deadline
                await trio.sleep_until(max(timer.deadline for timer in dev.inflight))
                await trio.lowlevel.checkpoint()  # that task first
        udp_drained[0] = True
        if not listener.is_readable():
            udp_reading.cancel()

    async def writer() -> None:
        try:
            async with contextlib.aclosing(source()) as chunks:
                async for chunk in chunks:
                    try:
                        if opts.udp:
                            await client.send(chunk)
                            result.datagrams_sent += 1
                            result.sent += len(chunk)
                            continue
                        view, left = chunk, len(chunk)
                        while left:
                            n = await client.send(view)
                            result.sent += n
                            left -= n
                            view = view[n:]
                    except OSError as exc:
                        raise _context(f"write to {dest} failed", exc) from None
        finally:
            sender_done.set()
        if not opts.udp:
            result.info = client.tcp_sk.info()
            if opts.shutdown_on_eof or wire is not None:
                # -N: FIN, then the listener's EOF ends its side.  With the listener in another
                # process, nc's close() is a shutdown too: this process waits for the peer's
                # FIN (its kernel would keep the socket after exit; this emulated one cannot)
                client.shutdown(SHUT_WR)
            else:
                client_open[0] = False
                client.close()  # nc exits at EOF: close() sends the FIN all the same

    async def remote_reader() -> None:  # the listener is in the other process
        await sender_done.wait()
        if opts.udp:
            assert wire is not None
            await wire.drain()  # every datagram is on the wire before this host goes
        else:
            try:
                while await client.recv_into(buf):
                    pass  # a listener sends nothing; EOF is its FIN after reading ours
            except OSError as exc:
                raise _context(f"read from {dest} failed", exc) from None
            result.received = result.sent
            assert wire is not None
            await wire.drain()  # the ACK of the listener's FIN leaves before this host goes
        flow_done[0] = True

    async def watch_link() -> None:
        assert wire is not None
        await wire.finished.wait()
        if flow_done[0]:
            return
        if not opts.udp and sender_done.is_set() and client.is_readable():
            return  # the listener's FIN arrived before it left: remote_reader ends the flow
        raise kernel_error(
            errno.ECONNRESET, f"the link to the listener went down: {wire.peer_name} left"
        )

    mark = _Mark()

    def tick(now: float) -> None:
        start, sent_then, retr_then = mark.start, mark.sent, mark.retransmits
        sk = client.tcp_sk if not opts.udp and client_open[0] else None
        info = sk.info() if sk is not None else {}
        retr = info.get("total_retrans", retr_then)
        result.intervals.append(
            Interval(
                start,
                now - t0,
                result.sent - sent_then,
                retr - retr_then,
                info.get("snd_cwnd", 0) * info.get("snd_mss", 0),
                info.get("snd_wnd", 0),
                info.get("rtt_us", 0),
                info.get("rttvar_us", 0),
            )
        )
        mark.start, mark.sent, mark.retransmits = now - t0, result.sent, retr

    async def ticker() -> None:
        if opts.interval <= 0 and on_tick is None:
            return
        step = 0.1 if on_tick is not None else opts.interval
        next_interval = t0 + opts.interval if opts.interval > 0 else math.inf
        while True:
            await trio.sleep(step)
            now = time.perf_counter()
            if now >= next_interval:
                tick(now)
                next_interval += opts.interval
            if on_tick is not None:
                on_tick(result, now - t0)

    t0 = time.perf_counter()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            if wire is not None:
                nursery.start_soon(watch_link)
            async with trio.open_nursery() as flow:
                if listener is None:
                    flow.start_soon(remote_reader)
                elif opts.udp:
                    flow.start_soon(udp_reader)
                    flow.start_soon(udp_closer)
                else:
                    flow.start_soon(tcp_reader)
                flow.start_soon(writer)
            nursery.cancel_scope.cancel()
    finally:
        if sink is not None:
            sink.close()
    result.seconds = time.perf_counter() - t0
    if opts.interval > 0 and (not result.intervals or result.sent != mark.sent):
        tick(t0 + result.seconds)
    after = host.stats()
    result.report = FragReport.between(
        before,
        after,
        result.sent,
        result.seconds,
        allocator=result.allocator,
        build=BUILD,
    )
    if result.tls is not None and tls_setup is not None:
        deltas = [after - before]
        if peer_host is not None and peer_before is not None and peer_setup is not None:
            peer_after = peer_host.stats()
            deltas.append(peer_after - peer_before)
            result.tls.peer_tls_stat = _tls_stat(peer_after, peer_setup)
        result.tls.counters = _tls_counters(*deltas)
        result.tls.tls_stat = _tls_stat(after, tls_setup)
    client.close()
    if listener is not None:
        listener.close()


# -- the listener in its own process (-l --link unix:PATH) ------------------------------------


async def run_listener(
    opts: NcOptions,
    *,
    report: Callable[[FlowResult], None],
    announce: Callable[[str], None] | None = None,
    faults: OutputFaults | None = None,
) -> list[FlowResult]:
    """``nc -l [-k] PORT > /dev/null`` on a host of its own, joined to a ``netsim nc`` client
    in another process by ``--link unix:PATH``.  Each TCP connection (or, for UDP, each
    client process's stay on the link) gives one :class:`FlowResult`, passed to ``report`` as
    it ends.  Without ``-k`` the listener ends after the first; with it, it waits for the next
    client (a new process, for UDP) until cancelled.  A client process that leaves without
    opening a TCP connection (it named the wrong port, say) does not count: the listener
    keeps listening, as ``nc -l`` does.  A client refused at the link's hello (an MTU
    mismatch) ends a listener without ``-k`` with that error; with ``-k`` it is announced
    and the listener waits for the next.  The sink (``--sink``), like ``nc -l -k > FILE``,
    receives every connection's bytes, one after the other.  A failing ``--pcap`` or
    ``--sink`` file stops that file only and is reported to ``faults``."""
    assert opts.link_unix is not None or opts.tap is not None
    family = opts.family or AF_INET
    kind = SOCK_DGRAM if opts.udp else SOCK_STREAM
    results: list[FlowResult] = []
    sink = _open_sink(opts, faults)

    def refused(exc: OSError) -> None:
        if not opts.keep:
            raise exc
        if announce is not None:
            announce(f"netsim nc: refused a client: {_describe(exc)}")

    try:
        async with contextlib.AsyncExitStack() as stack:
            host = await stack.enter_async_context(
                open_host(allocator=opts.allocator, name="listener")
            )
            wire: StreamLink | TapLink
            if opts.tap is not None:  # the machine's kernel is the client's side
                wire = await stack.enter_async_context(
                    open_tap_link(host, opts.tap, netns=opts.tap_netns, mtu=opts.mtu)
                )
                over = (
                    f"TAP {opts.tap}, the kernel's side {wire.peer_addrs[0]} / {wire.peer_addrs[1]}"
                )
            else:
                # the link keeps listening in any case; this loop decides when it ends
                assert opts.link_unix is not None
                try:
                    wire = await stack.enter_async_context(
                        open_unix_link(host, opts.link_unix, listen=True, keep=True, mtu=opts.mtu)
                    )
                except OSError as exc:
                    raise _link_error(opts.link_unix, exc) from None
                over = f"an emulated link over unix:{opts.link_unix}"
            wire.on_refused = refused
            if opts.pcap:
                _enter_capture(stack, host, opts.pcap, "eth0", faults)
            sock = host.socket(family, kind)
            _set_bufs(opts, sock)
            await sock.bind((opts.host, opts.port))
            if not opts.udp:
                sock.listen(128)
            if announce is not None:
                local = wire.local_addrs[1 if family == AF_INET6 else 0]
                announce(
                    f"Listening on {opts.host} port {opts.port} ({'UDP' if opts.udp else 'TCP'}; "
                    f"this host is {local}, mtu {opts.mtu}, on {over})"
                )
            receive = _receive_udp if opts.udp else _receive_tcp
            while True:
                result = await receive(opts, host, sock, wire, sink)
                results.append(result)
                report(result)
                if not opts.keep:
                    break
            sock.close()
            # the client waits for our FIN: it leaves the wire before this host goes (so it
            # does not see the link drop first), within a bound should it not
            await wire.drain()
            with trio.move_on_after(_LAST_CLIENT_GRACE):
                await wire.wait_gone(results[-1].peer)
    finally:
        if sink is not None:
            sink.close()
    return results


async def _receive_tcp(
    opts: NcOptions, host: Host, sock: Socket, wire: StreamLink | TapLink, sink: _Sink | None
) -> FlowResult:
    conn, remote = await sock.accept()
    peer = wire.peers  # the client process this connection came from
    result = FlowResult(opts.allocator, timestamp=time.time(), listener=True, peer=peer)
    result.local, result.remote = conn.getsockname(), remote
    result.socket_id = conn.fileno()
    result.rcvbuf = conn.getsockopt(SOL_SOCKET, SO_RCVBUF)
    result.mss = conn.tcp_sk.mss_cache
    buf = bytearray(opts.read_size)
    view = memoryview(buf)

    def take(n: int) -> None:
        result.received += n
        if sink is not None:
            sink.write(view[:n])

    tls_setup: list[StatsSnapshot] = []
    if opts.tls:
        result.tls = TlsSummary(False)

    async def read() -> None:
        eof = False
        with conn:
            try:
                if result.tls is not None:  # before any read: kTLS parses what is queued
                    where = f"the connection from {remote[0]} port {remote[1]}"
                    result.tls.rx_conf = _tls_setup(conn, tx=False, dest=where)
                    tls_setup.append(host.stats())
                try:
                    async with trio.open_nursery() as nursery:

                        async def watch() -> None:
                            await wire.wait_gone(peer)
                            nursery.cancel_scope.cancel()

                        nursery.start_soon(watch)
                        while n := await conn.recv_into(buf):
                            take(n)
                        eof = True
                        nursery.cancel_scope.cancel()
                except BaseExceptionGroup as group:  # a read's error, in trio's group
                    leaves = exception_leaves(group)
                    if len(leaves) != 1 or not isinstance(leaves[0], OSError):
                        raise
                    raise leaves[0] from None
                # the client's process left: what its host sent before is still ours to read
                # (without waiting: a kTLS socket holding part of a record would wait for the
                # rest, which is not coming)
                while not eof:
                    try:
                        n = await conn.recv_into(buf, 0, MSG_DONTWAIT)
                    except BlockingIOError:
                        break
                    take(n)
                    eof = n == 0
            except OSError as exc:  # this connection failed; the listener goes on
                result.error = exc
                return
        if not eof:
            result.error = kernel_error(
                errno.ECONNRESET,
                f"the client's process ({wire.peer_name}) left mid-connection",
            )

    await _measured(opts, host, result, read)
    if result.tls is not None and result.report is not None:
        result.tls.counters = _tls_counters(result.report.delta)
        result.tls.tls_stat = _tls_stat(host.stats(), tls_setup[0] if tls_setup else host.stats())
    return result


async def _receive_udp(
    opts: NcOptions, host: Host, sock: Socket, wire: StreamLink | TapLink, sink: _Sink | None
) -> FlowResult:
    await wire.wait_carrier(True)
    peer = wire.peers  # the client process whose datagrams this report counts
    result = FlowResult(opts.allocator, timestamp=time.time(), listener=True, peer=peer)
    result.local = sock.getsockname()
    result.remote = (wire.peer_addrs[1 if opts.family == AF_INET6 else 0], 0)
    result.socket_id = sock.fileno()
    result.rcvbuf = sock.getsockopt(SOL_SOCKET, SO_RCVBUF)
    buf = bytearray(opts.read_size)
    view = memoryview(buf)

    def take(n: int) -> None:
        result.received += n
        result.datagrams_received += 1
        if sink is not None:
            sink.write(view[:n])

    async def read() -> None:
        async def receive_all() -> None:
            while True:
                take(await sock.recv_into(buf))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive_all)
            await wire.wait_gone(peer)
            nursery.cancel_scope.cancel()
        while sock.is_readable():  # what arrived before the client's process left
            take(await sock.recv_into(buf))

    return await _measured(opts, host, result, read)


async def _measured(
    opts: NcOptions, host: Host, result: FlowResult, work: Callable[[], Any]
) -> FlowResult:
    """Run the listener's ``work`` with an interval line (received bytes) every
    ``--interval`` seconds; fill in ``result``'s time and the host's counters over it."""
    before = host.stats()
    t0 = time.perf_counter()
    mark = _Mark()

    def tick(now: float) -> None:
        result.intervals.append(
            Interval(mark.start, now - t0, result.received - mark.sent, 0, 0, 0, 0, 0)
        )
        mark.start, mark.sent = now - t0, result.received

    async with trio.open_nursery() as nursery:
        if opts.interval > 0:

            async def ticker() -> None:
                while True:
                    await trio.sleep(opts.interval)
                    tick(time.perf_counter())

            nursery.start_soon(ticker)
        await work()
        nursery.cancel_scope.cancel()
    if opts.interval > 0 and (not result.intervals or result.received != mark.sent):
        tick(time.perf_counter())
    result.seconds = time.perf_counter() - t0
    result.report = FragReport.between(
        before,
        host.stats(),
        result.received,
        result.seconds,
        allocator=opts.allocator,
        build=BUILD,
    )
    return result


def format_listener(opts: NcOptions, r: FlowResult) -> str:
    """What the listener saw, in iperf3's server layout, and dd's line."""
    sid = r.socket_id
    lines = []
    if not opts.udp:
        lines.append(f"Accepted connection from {r.remote[0]}, port {r.remote[1]}")
        lines.append(
            f"[{sid:3d}] local {r.local[0]} port {r.local[1]} connected to {r.remote[0]} "
            f"port {r.remote[1]}"
        )
        if r.tls is not None:
            lines.append(f"[{sid:3d}] {_tls_header(r.tls)}")
    else:
        lines.append(
            f"[{sid:3d}] local {r.local[0]} port {r.local[1]}: datagrams from {r.remote[0]}"
        )
    cols = "[ ID] Interval           Transfer     Bitrate"
    if r.intervals:
        lines.append(cols)
        lines += [_interval_line(sid, iv, True) for iv in r.intervals]
    lines.append("- - - - - - - - - - - - - - - - - - - - - - - - -")
    lines.append(cols + ("         Datagrams" if opts.udp else ""))
    rate = iperf_bitrate(r.received * 8 / r.seconds if r.seconds else 0)
    extra = f"  {r.datagrams_received:>10}" if opts.udp else ""
    lines.append(
        f"[{sid:3d}] {0:6.2f}-{r.seconds:<6.2f} sec  {iperf_bytes(r.received):>12}  "
        f"{rate:>15}{extra}  receiver"
    )
    if opts.udp and r.report is not None:
        delta = r.report.delta
        full = delta["UdpRcvbufErrors"] + delta["Udp6RcvbufErrors"]
        reasm = delta["IpReasmFails"] + delta["Ip6ReasmFails"]
        lines.append(
            f"      {full} datagrams dropped by a full receive buffer (UdpRcvbufErrors), "
            f"{reasm} reassemblies failed (ReasmFails)"
        )
    if r.error is not None:
        lines.append(f"[{sid:3d}] connection failed after {r.received} bytes: {r.error}")
    lines.append("")
    lines.append(dd_line(r.received, r.seconds))
    return "\n".join(lines)


@attrs.define
class _Mark:
    """Where the current interval started."""

    start: float = 0.0
    sent: int = 0
    retransmits: int = 0


# -- output ----------------------------------------------------------------------------------


def describe_faults(plan: FaultPlan) -> str:
    """``loss 1% dup 0.1% seed 3``: the faults given, as netem words them."""
    parts = [
        f"{name} {value * 100:g}%"
        for name, value in (
            ("loss", plan.loss),
            ("dup", plan.duplicate),
            ("reorder", plan.reorder),
            ("corrupt", plan.corrupt),
        )
        if value
    ]
    if plan.jitter:
        parts.append(f"jitter {plan.jitter * 1000:g}ms")
    parts.append(f"seed {plan.seed}")
    return " ".join(parts)


def _human_header(opts: NcOptions, r: FlowResult) -> list[str]:
    proto = "UDP" if opts.udp else "TCP"
    path = f"link mtu {opts.mtu}" if opts.link else "loopback"
    if opts.tap is not None:
        path = f"TAP {opts.tap} to this machine's kernel, mtu {opts.mtu}"
    if opts.link_unix is not None:
        path += f" to another process, unix:{opts.link_unix}"
    if opts.faults is not None:
        path += f", faults {describe_faults(opts.faults)}"
    lid = f"[{r.socket_id:3d}]"
    lines = [
        f"Connecting to host {r.remote[0]}, port {r.remote[1]} ({proto} over "
        f"{'' if opts.tap is not None else 'emulated '}{path}, "
        f"allocator {r.allocator})",
        f"{lid} local {r.local[0]} port {r.local[1]} connected to {r.remote[0]} port {r.remote[1]}",
    ]
    if r.tls is not None:
        lines.append(f"{lid} {_tls_header(r.tls)}")
    return lines


def _tls_header(tls: TlsSummary) -> str:
    """The header line of a kTLS flow: the one mode this end is in."""
    mode = tls.sender_mode() if tls.tx_conf is not None else tls.receiver_mode()
    return f"TLS: {mode}; kTLS {TLS_VERSION_NAME} {TLS_CIPHER_NAME}, fixed demo key"


def _interval_line(sid: int, iv: Interval, udp: bool) -> str:
    seconds = iv.end - iv.start
    rate = iv.bytes * 8 / seconds if seconds > 0 else 0.0
    line = (
        f"[{sid:3d}] {iv.start:6.2f}-{iv.end:<6.2f} sec  {iperf_bytes(iv.bytes):>12}  "
        f"{iperf_bitrate(rate):>15}"
    )
    if not udp:
        line += f"  {iv.retransmits:4d}  {iperf_bytes(iv.snd_cwnd):>12}"
    return line


def format_human(opts: NcOptions, r: FlowResult, *, intervals: bool = True) -> str:
    lines = _human_header(opts, r)
    sid = r.socket_id
    udp = opts.udp
    cols = "[ ID] Interval           Transfer     Bitrate        "
    if intervals and r.intervals:
        lines.append(cols + ("" if udp else "  Retr  Cwnd"))
        lines += [_interval_line(sid, iv, udp) for iv in r.intervals]
    lines.append("- - - - - - - - - - - - - - - - - - - - - - - - -")
    total = r.seconds
    sent_rate = iperf_bitrate(r.sent * 8 / total if total else 0)
    recv_rate = iperf_bitrate(r.received * 8 / total if total else 0)
    span = f"{0:6.2f}-{total:<6.2f} sec"
    if udp:
        lines.append(cols + "  Lost/Total Datagrams")
        lost = r.datagrams_sent - r.datagrams_received
        pct = 100 * lost / r.datagrams_sent if r.datagrams_sent else 0.0
        loss = (
            f"?/{r.datagrams_sent}"
            if r.remote_receiver
            else f"{lost}/{r.datagrams_sent} ({pct:.2g}%)"
        )
        lines.append(
            f"[{sid:3d}] {span}  {iperf_bytes(r.sent):>12}  {sent_rate:>15}  {loss}  sender"
        )
        if r.remote_receiver:
            lines.append(f"[{sid:3d}] {span}  (the listener's process reports what arrived)")
        else:
            lines.append(
                f"[{sid:3d}] {span}  {iperf_bytes(r.received):>12}  {recv_rate:>15}  "
                f"{'':>20}receiver"
            )
    else:
        lines.append(cols + "  Retr")
        retr = r.report.retransmits if r.report else 0
        lines.append(
            f"[{sid:3d}] {span}  {iperf_bytes(r.sent):>12}  {sent_rate:>15}  {retr:4d}"
            f"             sender"
        )
        lines.append(
            f"[{sid:3d}] {span}  {iperf_bytes(r.received):>12}  {recv_rate:>15}"
            f"                   receiver"
        )
    for direction, counts in r.faults.items():
        done = ", ".join(f"{counts[k]} {k.replace('_', ' ')}" for k in counts if k != "sent")
        lines.append(f"faults {direction}: {counts['sent']} frames, {done}")
    lines.append("")
    lines.append(dd_line(r.sent if udp and r.remote_receiver else r.received, r.seconds))
    return "\n".join(lines)


def _interval_json(opts: NcOptions, r: FlowResult, iv: Interval) -> dict[str, Any]:
    seconds = iv.end - iv.start
    stream: dict[str, Any] = {
        "socket": r.socket_id,
        "start": round(iv.start, 6),
        "end": round(iv.end, 6),
        "seconds": round(seconds, 6),
        "bytes": iv.bytes,
        "bits_per_second": iv.bytes * 8 / seconds if seconds > 0 else 0.0,
        "omitted": False,
        "sender": not r.listener,  # the listener's intervals count what it received
    }
    if not opts.udp and not r.listener:
        stream.update(
            retransmits=iv.retransmits,
            snd_cwnd=iv.snd_cwnd,
            snd_wnd=iv.snd_wnd,
            rtt=iv.rtt,
            rttvar=iv.rttvar,
            pmtu=opts.mtu if opts.link else 65536,
        )
    return {"streams": [stream], "sum": {k: v for k, v in stream.items() if k != "socket"}}


def format_json(opts: NcOptions, r: FlowResult) -> dict[str, Any]:
    """iperf3's ``-J`` layout (``start``, ``intervals``, ``end``) plus ``frag_stats``.

    With ``--link unix:`` each process knows one end: what the other process alone knows
    (the UDP client: what arrived; the listener: the sender's counters, and for UDP what
    was sent) is ``null``, never a guess."""
    proto = "UDP" if opts.udp else "TCP"
    total = r.seconds
    report = r.report
    assert report is not None
    sent: dict[str, Any] = {
        "socket": r.socket_id,
        "start": 0,
        "end": total,
        "seconds": total,
        "bytes": r.sent,
        "bits_per_second": r.sent * 8 / total if total else 0.0,
        "sender": True,
    }
    received: dict[str, Any] = {
        "socket": r.socket_id,
        "start": 0,
        "end": total,
        "seconds": total,
        "bytes": r.received,
        "bits_per_second": r.received * 8 / total if total else 0.0,
        "sender": False,
    }
    if not opts.udp:
        sent.update(
            retransmits=report.retransmits,
            max_snd_cwnd=max((iv.snd_cwnd for iv in r.intervals), default=0),
            max_snd_wnd=max((iv.snd_wnd for iv in r.intervals), default=0),
            max_rtt=max((iv.rtt for iv in r.intervals), default=0),
            min_rtt=min((iv.rtt for iv in r.intervals), default=0),
            mean_rtt=(sum(iv.rtt for iv in r.intervals) // len(r.intervals) if r.intervals else 0),
        )
        if r.listener:  # TCP delivered what was sent, up to the client's FIN
            known = r.error is None
            sent.update(
                bytes=r.received if known else None,
                bits_per_second=received["bits_per_second"] if known else None,
                retransmits=None,
                max_snd_cwnd=None,
                max_snd_wnd=None,
                max_rtt=None,
                min_rtt=None,
                mean_rtt=None,
            )
    else:
        lost = r.datagrams_sent - r.datagrams_received
        sent.update(packets=r.datagrams_sent)
        received.update(
            packets=r.datagrams_received,
            lost_packets=lost,
            lost_percent=100 * lost / r.datagrams_sent if r.datagrams_sent else 0.0,
        )
        if r.remote_receiver:  # the client: what arrived is the listener's to say
            received.update(
                bytes=None, bits_per_second=None, packets=None, lost_packets=None, lost_percent=None
            )
        elif r.listener:  # the listener: what was sent is the client's to say
            sent.update(bytes=None, bits_per_second=None, packets=None)
            received.update(lost_packets=None, lost_percent=None)
    extra: dict[str, Any] = {}
    if r.listener:
        extra["accepted_connection"] = {"host": r.remote[0], "port": r.remote[1]}
        if opts.udp:
            delta = report.delta
            extra["udp_drops"] = {
                "rcvbuf_errors": delta["UdpRcvbufErrors"] + delta["Udp6RcvbufErrors"],
                "reasm_fails": delta["IpReasmFails"] + delta["Ip6ReasmFails"],
            }
    doc: dict[str, Any] = {
        "start": {
            "connected": [
                {
                    "socket": r.socket_id,
                    "local_host": r.local[0],
                    "local_port": r.local[1],
                    "remote_host": r.remote[0],
                    "remote_port": r.remote[1],
                }
            ],
            "version": f"netsim {__version__}",
            "system_info": f"netsim emulated {'link' if opts.link else 'loopback'} on "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
            "timestamp": {
                "time": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(r.timestamp)),
                "timesecs": int(r.timestamp),
            },
            "connecting_to": {"host": r.remote[0], "port": r.remote[1]},
            "tcp_mss_default": r.mss,
            "sock_bufsize": opts.sndbuf or 0,
            "sndbuf_actual": r.sndbuf,
            "rcvbuf_actual": r.rcvbuf,
            "test_start": {
                "protocol": proto,
                "num_streams": 1,
                "blksize": opts.write_size,
                "omit": 0,
                "duration": 0,
                "bytes": opts.nbytes or 0,
                "blocks": 0,
                "reverse": 0,
                "tos": 0,
                "allocator": r.allocator,
                "read_size": opts.read_size,
                "netsim_build": BUILD,
                **({"faults": attrs.asdict(opts.faults)} if opts.faults is not None else {}),
            },
        },
        "intervals": [_interval_json(opts, r, iv) for iv in r.intervals],
        "end": {
            "streams": [{"sender": sent, "receiver": received}],
            "sum_sent": {k: v for k, v in sent.items() if k != "socket"},
            "sum_received": {k: v for k, v in received.items() if k != "socket"},
            "cpu_utilization_percent": {},
            **({} if opts.udp or r.listener else {"sender_tcp_congestion": r.congestion}),
            **extra,
            **({"faults": r.faults} if r.faults else {}),
        },
        "frag_stats": report.as_json(),
    }
    if r.tls is not None:
        doc["tls"] = r.tls.as_json(r.received if r.listener else r.sent)
    if opts.explain:
        doc["explain"] = report.explain()
    if r.error is not None:
        doc["error"] = str(r.error)  # iperf3's key for a test that failed
    return doc


# -- progress --------------------------------------------------------------------------------


def _progress_printer(total: int | None, stream: IO[str]) -> Callable[[FlowResult, float], None]:
    def show(r: FlowResult, elapsed: float) -> None:
        rate = r.sent / elapsed / 1e6 if elapsed > 0 else 0.0
        if total:
            frac = min(r.sent / total, 1.0)
            bar = "=" * int(frac * 30)
            text = f"\r[{bar:<30}] {frac:4.0%} {r.sent / (1 << 20):9.1f} MiB {rate:8.1f} MB/s"
        else:
            text = f"\r{r.sent / (1 << 20):9.1f} MiB {rate:8.1f} MB/s"
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):
            pass  # stderr is gone: the bar is a courtesy, not an output

    return show


# -- entry point -----------------------------------------------------------------------------


class ReportError(Exception):
    """Writing the report to stdout failed: ``EPIPE`` (its reader left, ``netsim nc | head``)
    or another I/O error (``> /dev/full``).  Kept apart from the flow's own errors:
    :func:`main` exits quietly with 141 for the first, with a line and 1 for the others."""

    def __init__(self, error: OSError) -> None:
        super().__init__(f"stdout: {_strerror(error)}")
        self.error = error


class _Report:
    """The stream the report goes to; a write or flush that fails raises ReportError."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError as exc:
            raise ReportError(exc) from exc

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            raise ReportError(exc) from exc


def _say(text: str) -> None:
    """A line on stderr.  A stderr that is gone (closed, or a pipe nobody reads) loses it:
    the exit status still tells."""
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def run(
    opts: NcOptions,
    *,
    stdin: IO[bytes] | None = None,
    out: IO[str] | None = None,
    clock: trio.abc.Clock | None = None,
) -> int:
    """Run the flow(s) ``opts`` describes and print the report; the exit status: 0; 1 when
    the flow failed or a requested output (``--pcap``, ``--sink``) failed; 130 after Ctrl-C.
    A report that cannot be written raises :class:`ReportError`.  ``clock`` is the trio
    clock of each run (tests pass a ``MockClock``; the command line runs on the real one)."""
    if out is None:
        if sys.stdout is None:  # started with stdout closed (>&-)
            _say("netsim nc: stdout is closed: the report would have nowhere to go")
            return 1
        out = sys.stdout
    report = _Report(out)
    faults = OutputFaults(announce=lambda message: _say(f"netsim nc: {message}"))
    if opts.listen:
        return _run_listener(opts, report, faults, clock)
    if opts.no_stdin:
        source: Source = _empty_source
    elif opts.nbytes is not None:
        source = zero_source(opts.nbytes, opts.write_size)
    elif stdin is None and sys.stdin is None:  # started with stdin closed (<&-)
        _say("netsim nc: stdin is closed: nothing to send (give --bytes N, or -d to send nothing)")
        return 1
    else:
        source = stdin_source(opts.write_size, stdin)
    allocators = opts.compare or (opts.allocator,)
    show_progress = opts.progress if opts.progress is not None else _isatty(sys.stderr)
    show_progress = show_progress and not opts.json
    results: list[FlowResult] = []
    for allocator in allocators:
        on_tick = _progress_printer(opts.nbytes, sys.stderr) if show_progress else None
        flow = functools.partial(run_flow, opts, allocator, source, on_tick=on_tick, faults=faults)
        failure: BaseException | None = None
        try:
            result = trio.run(_interruptible, flow, clock=clock)
        except (KeyboardInterrupt, OSError, PageLeakError, MemoryError, BaseExceptionGroup) as exc:
            failure = exc
        if show_progress:
            _say("")  # the progress bar's line ends before anything else is said
        if failure is not None:
            return _failed(failure)
        results.append(result)
        if len(allocators) > 1 and opts.nbytes is None and not opts.no_stdin:
            break  # stdin can be read only once (parse_args refuses this; NcOptions may not)
    if opts.json:
        docs = [format_json(opts, r) for r in results]
        doc: dict[str, Any] = docs[0] if len(docs) == 1 else {"runs": docs}
        if len(docs) > 1:
            doc["compare"] = {
                r.allocator: {
                    "refcount_ops_per_mib": r.report.as_json()["refcount_ops_per_mib"]
                    if r.report
                    else {},
                    "pages_allocated_per_mib": r.report.per_mib("page_alloc") if r.report else 0.0,
                    "MB_per_second": r.received / r.seconds / 1e6 if r.seconds else 0.0,
                }
                for r in results
            }
            if opts.explain:
                doc["explain"] = explain_compare(
                    {r.allocator: r.report for r in results if r.report is not None}
                )
        json.dump(doc, report, indent=2)
        report.write("\n")
    else:
        title = "netsim nc" + (" -u" if opts.udp else "") + f" {opts.host} {opts.port}"
        for r in results:
            report.write(format_human(opts, r, intervals=len(results) == 1) + "\n\n")
            assert r.report is not None
            report.write(r.report.format(title, explain=opts.explain) + "\n\n")
            if r.tls is not None:
                report.write(r.tls.format(r.sent) + "\n\n")
        if len(results) > 1:
            reports = {r.allocator: r.report for r in results if r.report is not None}
            report.write("Before/after (per MiB of payload; MB/s is the emulator's speed):\n")
            report.write(format_compare(reports, explain=opts.explain) + "\n")
    report.flush()
    return 1 if faults.messages else 0


def _isatty(stream: IO[str] | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


def _run_listener(
    opts: NcOptions, out: _Report, faults: OutputFaults, clock: trio.abc.Clock | None = None
) -> int:
    title = "netsim nc -l" + (" -u" if opts.udp else "") + f" {opts.port}"

    def report(r: FlowResult) -> None:
        assert r.report is not None
        if opts.json:
            json.dump(format_json(opts, r), out, indent=2)
            out.write("\n")
        else:
            text = r.report.format(title, explain=opts.explain)
            out.write(format_listener(opts, r) + "\n\n" + text + "\n\n")
            if r.tls is not None:
                out.write(r.tls.format(r.received) + "\n\n")
        out.flush()
        if r.error is not None:
            _say(
                f"netsim nc: the connection from {r.remote[0]} port {r.remote[1]} failed: "
                f"{_describe(r.error)}"
            )

    try:
        results = trio.run(
            _interruptible,
            functools.partial(run_listener, opts, report=report, announce=_say, faults=faults),
            clock=clock,
        )
    except (KeyboardInterrupt, OSError, PageLeakError, MemoryError, BaseExceptionGroup) as exc:
        return _failed(exc)  # Ctrl-C ends `nc -l -k` (130), as it ends the real one
    if any(r.error is not None for r in results):
        return 1
    return 1 if faults.messages else 0


def _failed(exc: BaseException) -> int:
    """The exit status (and the one line on stderr) for a run that raised ``exc``: 130 for
    Ctrl-C, 1 for a flow's ``OSError``, a page leak or memory running out.  A report that
    could not be written goes on up as :class:`ReportError`; anything else is a bug, and
    goes on up with its traceback."""
    if _interrupted(exc):
        _say("netsim nc: interrupted")
        return 130
    leaves = exception_leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, ReportError):
            raise leaf
    error = _leaf_error(exc)
    if error is None:
        raise exc
    if isinstance(error, PageLeakError):
        _say(f"netsim nc: pages leaked: {error}")
    else:
        _say(f"netsim nc: {_describe(error)}")
    return 1


async def _interruptible(fn: Callable[[], Awaitable[T]]) -> T:
    """``await fn()`` with Ctrl-C turned into a cancellation.  trio on its own raises
    ``KeyboardInterrupt`` wherever the main thread happens to be — in the emulated kernel,
    between two halves of an update (a page taken, the cache not yet pointing at it) — and the
    hosts would then close over inconsistent state.  Here SIGINT cancels the run at its next
    checkpoint, the hosts close cleanly (pages all given back), and only then does
    ``KeyboardInterrupt`` go up, for the caller's exit status 130."""
    interrupted = False
    result: list[T] = []
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                nonlocal interrupted
                async for _ in signals:
                    interrupted = True
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(watch)
            result.append(await fn())
            nursery.cancel_scope.cancel()
    if interrupted or not result:
        raise KeyboardInterrupt
    return result[0]


def _interrupted(exc: BaseException) -> bool:
    """Is ``exc`` (or the exception group) a Ctrl-C?"""
    return any(isinstance(e, KeyboardInterrupt) for e in exception_leaves(exc))


def _leaf_error(exc: BaseException) -> BaseException | None:
    """The OSError, PageLeakError or MemoryError a flow failed with, out of trio's
    exception groups."""
    return next(
        (e for e in exception_leaves(exc) if isinstance(e, OSError | PageLeakError | MemoryError)),
        None,
    )


async def _empty_source() -> AsyncGenerator[memoryview, None]:
    return
    yield  # pragma: no cover


def _discard_stdout() -> None:
    """Point fd 1 at /dev/null: the report is lost anyway, and the interpreter's last flush
    of ``sys.stdout`` must not fail again ("Exception ignored … BrokenPipeError")."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """``netsim nc``; the exit status (docs/nc.md): 0 success; 1 a runtime failure (the
    flow, a page leak, a ``--pcap``/``--sink`` file or the report that could not be
    written, a closed stdin/stdout); 2 a usage error; 130 Ctrl-C; 141 stdout's reader left
    (as a process killed by ``SIGPIPE`` shows in a shell), quietly."""
    if sys.stderr is None:  # started with stderr closed (2>&-): messages go nowhere, quietly
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    try:
        try:
            opts = parse_args(list(sys.argv[2:] if argv is None else argv))
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 2
        return run(opts)
    except KeyboardInterrupt:
        _say("netsim nc: interrupted")
        return 130
    except (ReportError, BrokenPipeError) as exc:  # BrokenPipeError: --help into `| head`
        error = exc.error if isinstance(exc, ReportError) else exc
        _discard_stdout()
        if error.errno == errno.EPIPE:
            return 141
        _say(f"netsim nc: writing the report to stdout failed: {_strerror(error)}")
        return 1
    except MemoryError:
        _say("netsim nc: out of memory")
        return 1
