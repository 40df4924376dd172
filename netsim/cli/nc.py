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
``frag_stats`` object (docs/nc.md documents the schema).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import platform
import re
import signal
import sys
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import IO, Any, TypeVar

import attrs
import trio

from .. import __version__
from ..errors import PageLeakError, errno, exception_leaves, kernel_error
from ..mm import available_frag_allocators
from ..runtime import Host, Socket, StreamLink, link, open_host, open_unix_link
from ..sock.constants import (
    AF_INET,
    AF_INET6,
    SHUT_WR,
    SO_RCVBUF,
    SO_SNDBUF,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_SOCKET,
)
from ..stats import StatsSnapshot
from ..stats.report import FragReport, dd_line, format_compare, iperf_bitrate, iperf_bytes

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
    pcap: str | None = None
    sink: str | None = None
    json: bool = False
    compare: tuple[str, ...] = ()
    interval: float = 1.0
    progress: bool | None = None
    keep: bool = False
    listen: bool = False
    link_unix: str | None = None


_SIZE = re.compile(r"^(\d+)\s*([a-zA-Z]*)$")
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


def parse_size(text: str) -> int:
    """A byte count as ``head -c`` takes it: ``20G`` (GiB), ``512M``, ``1000KB``, ``4096``."""
    match = _SIZE.match(text.strip())
    if match is None or match.group(2).lower() not in _MULTIPLIERS:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r} (a number with an optional K, M, G, T, KB, MB, GB, TB suffix)"
        )
    return int(match.group(1)) * _MULTIPLIERS[match.group(2).lower()]


def _buffer_size(text: str) -> int:
    value = int(text) if text.isdigit() else -1
    if not 1 <= value <= MAX_BUF:
        raise argparse.ArgumentTypeError(f"buffer size must be 1..{MAX_BUF}, not {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return value


def _rate(text: str) -> float:
    """Bits per second: ``10G``, ``100M``, ``1.5e9``."""
    match = re.fullmatch(r"([\d.eE+]+)\s*([kKmMgGtT]?)(?:bit|bps|b)?(?:/s)?", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"invalid rate {text!r} (bits/s, e.g. 10G, 100M)")
    scale = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[match.group(2).lower()]
    try:
        value = float(match.group(1)) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid rate {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"rate must be > 0, not {text!r}")
    return value


def _delay(text: str) -> float:
    """Seconds, or with a unit: ``0.5ms``, ``2ms``, ``100us``, ``0.01``."""
    match = re.fullmatch(r"([\d.eE+-]+)\s*(s|ms|us|µs)?", text.strip())
    try:
        value = float(match.group(1)) if match else math.nan
    except ValueError:
        value = math.nan
    if match is None or not value >= 0:
        raise argparse.ArgumentTypeError(f"invalid delay {text!r} (e.g. 0.5ms, 10ms, 0.01)")
    return value * {None: 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}[match.group(2)]


def _port(text: str) -> int:
    value = int(text) if text.isdigit() else -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port number invalid: {text}")
    return value


def _allocator_list(text: str) -> tuple[str, ...]:
    names = tuple(n for n in text.split(",") if n)
    known = available_frag_allocators()
    unknown = [n for n in names if n not in known]
    if unknown or len(names) < 2:
        raise argparse.ArgumentTypeError(
            f"--compare wants two or more of {', '.join(sorted(known))}, not {text!r}"
        )
    return names


def _allocator(text: str) -> str:
    known = available_frag_allocators()
    if text not in known:
        raise argparse.ArgumentTypeError(
            f"unknown allocator {text!r}; registered: {', '.join(sorted(known))}"
        )
    return text


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
        "two processes, each a host, over an emulated link carried by a Unix socket:\n"
        "           netsim nc -l -k 1234 --link unix:/tmp/netsim.sock\n"
        "           netsim nc -N 10.0.0.2 1234 --link unix:/tmp/netsim.sock --bytes 1G",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    nc = p.add_argument_group("netcat options")
    nc.add_argument("-4", dest="family", action="store_const", const=AF_INET, help="IPv4 only")
    nc.add_argument("-6", dest="family", action="store_const", const=AF_INET6, help="IPv6 only")
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
        type=_allocator,
        default="page_frag_cache",
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
        "--read-size", type=_positive_int, default=BUFSIZE, help="bytes per recv (default 16384)"
    )
    ns.add_argument(
        "--write-size", type=_positive_int, default=BUFSIZE, help="bytes per send (default 16384)"
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
        "--mtu", type=_positive_int, default=None, help="link MTU (implies --link; default 1500)"
    )
    ns.add_argument("--rate", type=_rate, default=None, help="link rate in bits/s (implies --link)")
    ns.add_argument(
        "--delay", type=_delay, default=None, help="link one-way delay (implies --link)"
    )
    ns.add_argument("--tls", action="store_true", help="kTLS device offload (not available yet)")
    ns.add_argument("--pcap", metavar="FILE", help="capture the client's device to FILE")
    ns.add_argument(
        "--sink",
        metavar="FILE",
        help="write what the listener receives to FILE (default: discard, like > /dev/null)",
    )
    ns.add_argument("--json", action="store_true", help="iperf3-style JSON on stdout")
    ns.add_argument(
        "--interval", type=float, default=1.0, help="seconds between interval lines (0: none)"
    )
    ns.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    return p


def parse_args(argv: list[str]) -> NcOptions:
    """Parse ``netsim nc`` arguments; bad ones exit with the usage message and status 2."""
    parser = build_parser()
    argv = list(argv)
    for i, arg in enumerate(argv):  # a bare --link must not swallow the host that follows it
        if arg == "--link" and (i + 1 == len(argv) or not _link_value(argv[i + 1])):
            argv[i] = "--link="
    args = parser.parse_args(argv)
    link_unix: str | None = None
    if args.link:
        if not args.link.startswith("unix:") or len(args.link) == len("unix:"):
            parser.error(f"--link takes unix:PATH (or nothing), not {args.link!r}")
        link_unix = args.link[len("unix:") :]
        if args.rate is not None or args.delay is not None:
            parser.error("--rate and --delay apply to an in-process link, not --link unix:")
        if args.compare:
            parser.error("--compare runs both ends in one process; it cannot use --link unix:")
    if args.listen:
        if link_unix is None:
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
    if args.tls:
        parser.error(
            "--tls: TLS device sockets are not available yet (they land with the TLS issue)"
        )
    try:
        port = _port(args.port)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.nbytes is not None and args.no_stdin:
        parser.error("-d and --bytes contradict each other")
    if args.interval < 0 or not math.isfinite(args.interval):
        parser.error("--interval must be >= 0")
    host = args.host
    family = args.family
    if host is None:  # a listener on every address
        host = "::" if family == AF_INET6 else "0.0.0.0"
    if host == "localhost":
        host = "::1" if family == AF_INET6 else "127.0.0.1"
    detected = AF_INET6 if ":" in host else AF_INET
    if not _numeric(host, detected):
        parser.error(f"{args.host}: not a numeric address (netsim's hosts resolve no names)")
    if family is not None and family != detected:
        parser.error(f"{args.host} is not an IPv{'6' if family == AF_INET6 else '4'} address")
    link_wanted = args.link is not None or args.mtu is not None or args.rate is not None
    link_wanted = link_wanted or args.delay is not None
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
        allocator=args.allocator,
        read_size=args.read_size,
        write_size=args.write_size,
        link=link_wanted,
        mtu=args.mtu or 1500,
        rate=args.rate,
        delay=args.delay or 0.0,
        pcap=args.pcap,
        sink=args.sink,
        json=args.json,
        compare=args.compare,
        interval=args.interval,
        progress=args.progress,
        keep=args.keep,
        listen=args.listen,
        link_unix=link_unix,
    )


def _link_value(arg: str) -> bool:
    """Is ``arg``, after ``--link``, its value (``unix:PATH``, or a mistyped ``SCHEME:…``)
    rather than the destination host?"""
    if arg.startswith("-") or ":" not in arg:
        return False
    return not (_numeric(arg, AF_INET6) or _numeric(arg.strip("[]"), AF_INET6))


def _numeric(host: str, family: int) -> bool:
    import ipaddress

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
    info: dict[str, int] = attrs.Factory(dict)
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
    left alone, so a shell sharing it is unaffected), handed out in ``chunk``-byte pieces."""
    fd = (stream or sys.stdin.buffer).fileno()

    async def gen() -> AsyncGenerator[memoryview, None]:
        while True:
            data = await trio.to_thread.run_sync(os.read, fd, STDIN_CHUNK, abandon_on_cancel=True)
            if not data:
                return
            view = memoryview(data)
            for off in range(0, len(view), chunk):
                yield view[off : off + chunk]

    return gen


async def run_flow(
    opts: NcOptions,
    allocator: str,
    source: Source,
    *,
    on_tick: Callable[[FlowResult, float], None] | None = None,
) -> FlowResult:
    """Run one listener + client flow on a fresh host (or two, over a link)."""
    result = FlowResult(allocator, timestamp=time.time())
    async with contextlib.AsyncExitStack() as stack:
        name = "client" if opts.link_unix is not None else "netsim"
        # a process of its own gets its own seed, so two clients in a row of one listener
        # do not pick the same ephemeral port (the listener may still hold the last one)
        seed = os.getpid() if opts.link_unix is not None else 0
        a = await stack.enter_async_context(open_host(allocator=allocator, name=name, seed=seed))
        server_host: Host | None = a
        addr = opts.host
        wire: StreamLink | None = None
        if opts.link_unix is not None:
            wire = await stack.enter_async_context(
                open_unix_link(a, opts.link_unix, listen=False, mtu=opts.mtu)
            )
            with trio.move_on_after(_BUSY_NOTICE):
                await wire.wait_carrier()
            if not wire.carrier:  # connected, but the listener is serving another client
                print(
                    f"netsim nc: waiting for the listener on unix:{opts.link_unix} (it serves "
                    "one client at a time)",
                    file=sys.stderr,
                    flush=True,
                )
                await wire.wait_carrier()
            server_host = None
            addr = wire.peer_addrs[1 if opts.family == AF_INET6 else 0]
            result.remote_receiver = True
        elif opts.link:
            b = await stack.enter_async_context(open_host(allocator=allocator, name="peer"))
            link(a, b, mtu=opts.mtu, rate=opts.rate, delay=opts.delay)
            server_host = b
            addr = "fd00::2" if opts.family == AF_INET6 else "10.0.0.2"
        if opts.pcap:
            stack.enter_context(a.capture(opts.pcap, "eth0" if opts.link else "lo"))
        await _flow(opts, a, server_host, addr, source, result, on_tick, wire)
    return result


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
    wire: StreamLink | None = None,
) -> None:
    """The client writes its source; the listener reads and discards — here, on
    ``server_host``, or (``server_host`` None) in the process at the other end of ``wire``."""
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
    await client.connect((addr, opts.port))
    result.local = client.getsockname()
    result.remote = (addr, opts.port)
    result.socket_id = client.fileno()
    result.sndbuf = client.getsockopt(SOL_SOCKET, SO_SNDBUF)
    result.rcvbuf = client.getsockopt(SOL_SOCKET, SO_RCVBUF)
    if not opts.udp:
        result.mss = client.tcp_sk.mss_cache
    sender_done = trio.Event()
    client_open = [True]
    buf = bytearray(opts.read_size)
    view = memoryview(buf)
    # the sink is written synchronously, as `nc -l > FILE` writes: the emulated flow is the
    # measured work, and an async file would add a thread hop per read
    sink = open(opts.sink, "wb") if opts.sink else None  # noqa: SIM115, ASYNC230
    before: StatsSnapshot = host.stats()

    flow_done = [False]

    async def tcp_reader() -> None:
        assert listener is not None
        conn, _ = await listener.accept()
        with conn:
            while n := await conn.recv_into(buf):
                result.received += n
                if sink is not None:
                    sink.write(view[:n])

    async def udp_reader() -> None:
        assert listener is not None
        while True:
            if sender_done.is_set() and not listener.is_readable():
                return
            with trio.move_on_after(0.05):
                n = await listener.recv_into(buf)
                result.received += n
                result.datagrams_received += 1
                if sink is not None:
                    sink.write(view[:n])

    async def writer() -> None:
        try:
            async with contextlib.aclosing(source()) as chunks:
                async for chunk in chunks:
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
            while await client.recv_into(buf):
                pass  # a listener sends nothing; EOF is its FIN after reading ours
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
            errno.ECONNRESET, f"the link to the listener went down ({wire.peer_name} left)"
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
                else:
                    flow.start_soon(udp_reader if opts.udp else tcp_reader)
                flow.start_soon(writer)
            nursery.cancel_scope.cancel()
    finally:
        if sink is not None:
            sink.close()
    result.seconds = time.perf_counter() - t0
    if opts.interval > 0 and (not result.intervals or result.sent != mark.sent):
        tick(t0 + result.seconds)
    result.report = FragReport.between(
        before, host.stats(), result.sent, result.seconds, allocator=result.allocator
    )
    client.close()
    if listener is not None:
        listener.close()


# -- the listener in its own process (-l --link unix:PATH) ------------------------------------


async def run_listener(
    opts: NcOptions,
    *,
    report: Callable[[FlowResult], None],
    announce: Callable[[str], None] | None = None,
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
    receives every connection's bytes, one after the other."""
    assert opts.link_unix is not None
    family = opts.family or AF_INET
    kind = SOCK_DGRAM if opts.udp else SOCK_STREAM
    results: list[FlowResult] = []
    sink = open(opts.sink, "wb") if opts.sink else None  # noqa: SIM115, ASYNC230

    def refused(exc: OSError) -> None:
        if not opts.keep:
            raise exc
        if announce is not None:
            announce(f"netsim nc: refused a client: {exc}")

    try:
        async with contextlib.AsyncExitStack() as stack:
            host = await stack.enter_async_context(
                open_host(allocator=opts.allocator, name="listener")
            )
            # the link keeps listening in any case; this loop decides when the listener ends
            wire = await stack.enter_async_context(
                open_unix_link(host, opts.link_unix, listen=True, keep=True, mtu=opts.mtu)
            )
            wire.on_refused = refused
            if opts.pcap:
                stack.enter_context(host.capture(opts.pcap, "eth0"))
            sock = host.socket(family, kind)
            _set_bufs(opts, sock)
            await sock.bind((opts.host, opts.port))
            if not opts.udp:
                sock.listen(128)
            if announce is not None:
                local = wire.local_addrs[1 if family == AF_INET6 else 0]
                announce(
                    f"Listening on {opts.host} port {opts.port} ({'UDP' if opts.udp else 'TCP'}; "
                    f"this host is {local} on an emulated link, mtu {opts.mtu}, over "
                    f"unix:{opts.link_unix})"
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
    opts: NcOptions, host: Host, sock: Socket, wire: StreamLink, sink: IO[bytes] | None
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

    async def read() -> None:
        eof = False
        with conn:
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
                # the client's process left: what its host sent before is still ours to read
                while not eof and conn.is_readable():
                    n = await conn.recv_into(buf)
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

    return await _measured(opts, host, result, read)


async def _receive_udp(
    opts: NcOptions, host: Host, sock: Socket, wire: StreamLink, sink: IO[bytes] | None
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
        before, host.stats(), result.received, result.seconds, allocator=opts.allocator
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


def _human_header(opts: NcOptions, r: FlowResult) -> list[str]:
    proto = "UDP" if opts.udp else "TCP"
    path = f"link mtu {opts.mtu}" if opts.link else "loopback"
    if opts.link_unix is not None:
        path += f" to another process, unix:{opts.link_unix}"
    lid = f"[{r.socket_id:3d}]"
    return [
        f"Connecting to host {r.remote[0]}, port {r.remote[1]} ({proto} over emulated {path}, "
        f"allocator {r.allocator})",
        f"{lid} local {r.local[0]} port {r.local[1]} connected to {r.remote[0]} port {r.remote[1]}",
    ]


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
            },
        },
        "intervals": [_interval_json(opts, r, iv) for iv in r.intervals],
        "end": {
            "streams": [{"sender": sent, "receiver": received}],
            "sum_sent": {k: v for k, v in sent.items() if k != "socket"},
            "sum_received": {k: v for k, v in received.items() if k != "socket"},
            "cpu_utilization_percent": {},
            **({} if opts.udp or r.listener else {"sender_tcp_congestion": "reno"}),
            **extra,
        },
        "frag_stats": report.as_json(),
    }
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
        stream.write(text)
        stream.flush()

    return show


# -- entry point -----------------------------------------------------------------------------


def run(opts: NcOptions, *, stdin: IO[bytes] | None = None, out: IO[str] | None = None) -> int:
    """Run the flow(s) ``opts`` describes and print the report; the exit status."""
    out = out or sys.stdout
    if opts.listen:
        return _run_listener(opts, out)
    if opts.no_stdin:
        source: Source = _empty_source
    elif opts.nbytes is not None:
        source = zero_source(opts.nbytes, opts.write_size)
    else:
        source = stdin_source(opts.write_size, stdin)
    allocators = opts.compare or (opts.allocator,)
    show_progress = opts.progress if opts.progress is not None else sys.stderr.isatty()
    show_progress = show_progress and not opts.json
    results: list[FlowResult] = []
    for allocator in allocators:
        on_tick = _progress_printer(opts.nbytes, sys.stderr) if show_progress else None
        try:
            result = trio.run(
                _interruptible,
                functools.partial(run_flow, opts, allocator, source, on_tick=on_tick),
            )
        except (KeyboardInterrupt, OSError, PageLeakError, BaseExceptionGroup) as exc:
            if _interrupted(exc):
                return 130  # Ctrl-C, as it ends the real nc
            error = _leaf_error(exc)
            if error is None:
                raise
            if isinstance(error, PageLeakError):
                print(f"netsim nc: pages leaked: {error}", file=sys.stderr)
            else:
                print(f"netsim nc: {error}", file=sys.stderr)
            return 1
        finally:
            if show_progress:
                sys.stderr.write("\n")
        results.append(result)
        if len(allocators) > 1 and opts.nbytes is None and not opts.no_stdin:
            break  # stdin can be read only once
    if opts.json:
        docs = [format_json(opts, r) for r in results]
        doc: dict[str, Any] = docs[0] if len(docs) == 1 else {"runs": docs}
        if len(docs) > 1:
            doc["compare"] = {
                r.allocator: {
                    "refcount_ops_per_mib": r.report.as_json()["refcount_ops_per_mib"]
                    if r.report
                    else {},
                    "MB_per_second": r.received / r.seconds / 1e6 if r.seconds else 0.0,
                }
                for r in results
            }
        json.dump(doc, out, indent=2)
        out.write("\n")
        return 0
    title = "netsim nc" + (" -u" if opts.udp else "") + f" {opts.host} {opts.port}"
    for r in results:
        out.write(format_human(opts, r, intervals=len(results) == 1) + "\n\n")
        assert r.report is not None
        out.write(r.report.format(title) + "\n\n")
    if len(results) > 1:
        reports = {r.allocator: r.report for r in results if r.report is not None}
        out.write("Before/after (per MiB of payload; MB/s is the emulator's speed):\n")
        out.write(format_compare(reports) + "\n")
    return 0


def _run_listener(opts: NcOptions, out: IO[str]) -> int:
    title = "netsim nc -l" + (" -u" if opts.udp else "") + f" {opts.port}"

    def report(r: FlowResult) -> None:
        assert r.report is not None
        if opts.json:
            json.dump(format_json(opts, r), out, indent=2)
            out.write("\n")
        else:
            out.write(format_listener(opts, r) + "\n\n" + r.report.format(title) + "\n\n")
        out.flush()
        if r.error is not None:
            print(
                f"netsim nc: the connection from {r.remote[0]} port {r.remote[1]} failed: "
                f"{r.error}",
                file=sys.stderr,
                flush=True,
            )

    def announce(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        results = trio.run(
            _interruptible,
            functools.partial(run_listener, opts, report=report, announce=announce),
        )
    except (KeyboardInterrupt, OSError, PageLeakError, BaseExceptionGroup) as exc:
        if _interrupted(exc):
            return 130  # Ctrl-C ends `nc -l -k`, as it ends the real one
        error = _leaf_error(exc)
        if error is None:
            raise
        print(f"netsim nc: {error}", file=sys.stderr)
        return 1
    return 1 if any(r.error is not None for r in results) else 0


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
    """The OSError or PageLeakError a flow failed with, out of trio's exception groups."""
    return next((e for e in exception_leaves(exc) if isinstance(e, OSError | PageLeakError)), None)


async def _empty_source() -> AsyncGenerator[memoryview, None]:
    return
    yield  # pragma: no cover


def main(argv: list[str] | None = None) -> int:
    try:
        opts = parse_args(list(sys.argv[2:] if argv is None else argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    return run(opts)
