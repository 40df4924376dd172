"""Run a parsed packetdrill script against one netsim host, in virtual time.

The set-up is packetdrill's: the stack under test has one interface, ``tun0``, MTU 1500
(1520 for IPv6, as the kernel's ``ksft_runner.sh`` passes ``--mtu=1520``), with the *local*
address (``192.168.0.1``, or ``fd3d:a0b:17d6::1``) and the default route; the *remote* peer
(``192.0.2.1``, ``fd3d:fa7b:d17d::1``) is the script.  The device is a
:class:`~netsim.dev.remote.RemoteLinkDevice` — a NIC whose wire the runtime carries — with
carrier on: a sniffer task takes every frame off its TX ring, stamps it with the virtual time
and completes it (so the socket gets its memory back at once, a wire of infinite speed), and
an injected packet is handed to the device's receive (``rx_frame``) in the host's softirq.

The host runs under ``trio.testing.MockClock(autojump_threshold=0)``: time stands still while
anything can run and jumps to the next timer when everything waits, so timers (delayed ACK,
RTO, zero-window probe) fire at their exact virtual times.  Timing is checked within
packetdrill's tolerance anyway (``--tolerance_usecs``, 4000 by default).

Event semantics, as packetdrill's:

* times: absolute from the start, or relative to the previous event's *actual* time (an
  outbound packet's is when it was sent); ``*`` is any time.
* ``<``: at its time, built with :mod:`netsim.wire` (checksums computed): sequence numbers
  relative to the remote ISN (chosen here), ``ack`` and SACK blocks relative to the local ISN
  (learned from the stack's SYN or SYN-ACK); a ``TS ecr`` is moved by the difference between
  the stack's real TS val and the script's on the last outbound packet that named one.
* ``>``: the next packet the stack sent must match — flags, sequence range, ``ack`` if
  given, ``win`` (the raw field) if given, options in order unless ``<...>`` (a ``TS val``
  is not compared, its ``ecr`` is) — and must have been sent at the event's time, within
  the tolerance; if nothing is sent by then, the expectation fails.
* system calls: ``socket``/``accept`` results name the script's file descriptors (the real
  ones are netsim's); ``...`` addresses are the local address and port 8080 for ``bind``, the
  remote address and port 8080 for ``connect``; ``...`` buffers are zeros.  A call that
  blocks goes on in the background while the script continues; it must return within its
  range (``+0...0.5 read(...)``), or at once if it has none, with the expected result.
* shell commands: the sysctl settings (``sysctl -q net.ipv4.tcp_x=N``, ``./defaults.sh``,
  ``set_sysctls.py /proc/sys/...=N``, ``echo N > /proc/sys/...``) are applied to
  ``host.sysctl``; ``tc qdisc add dev tun0 root pfifo``, ``ethtool -K tun0 tso off gso off``,
  ``ip tcp_metrics flush`` and the sysctl-restore script are no-ops here; anything else is
  unsupported.
"""

from __future__ import annotations

import ast
import contextlib
import errno as errno_mod
import functools
import ipaddress
import os
import re
import shlex
import struct
import textwrap
from collections import deque
from collections.abc import Callable
from typing import Final, Literal

import attrs
import trio
import trio.testing

from ...dev.device import NETIF_F_GSO, NETIF_F_SG, NETIF_F_TSO, NETIF_F_TSO6
from ...dev.remote import RemoteLinkDevice
from ...runtime import Socket, open_host
from ...sock.sysctl import Sysctl
from ...tcp.options import tcp_info_fields
from ...wire.ipv4 import Ipv4Header
from ...wire.ipv6 import Ipv6Header
from ...wire.tcp import TcpHeader, tcp4_checksum, tcp6_checksum
from .script import (
    ANY,
    CONSTANTS,
    ERRNOS,
    Array,
    Event,
    PacketEvent,
    PythonEvent,
    Script,
    ScriptError,
    ShellEvent,
    Struct,
    SyscallEvent,
    TcpOpt,
    Value,
    describe_packet,
    parse_script,
)

__all__ = [
    "ADDRESSES",
    "DEFAULTS_SH",
    "Config",
    "Outcome",
    "run_file",
    "run_script",
]

#: packetdrill's default addresses (local: the stack under test; remote: the script), as the
#: kernel's ksft_runner.sh passes them
ADDRESSES: Final[dict[str, tuple[str, str]]] = {
    "ipv4": ("192.168.0.1/16", "192.0.2.1"),
    "ipv6": ("fd3d:a0b:17d6::1/48", "fd3d:fa7b:d17d::1"),
}
#: the port ``bind(fd, ..., ...)`` and ``connect(fd, ..., ...)`` use (packetdrill's 8080)
SCRIPT_PORT: Final = 8080
#: the remote peer's port for connections it opens
REMOTE_PORT: Final = 47_123
#: the remote peer's ISN; script sequence numbers of ``<`` packets are relative to it
REMOTE_ISN: Final = 0x1A2B3C4D

#: what the kernel selftests' ``defaults.sh`` sets (the settings, not the script), one
#: ``name=value`` a line; names netsim does not know are skipped, as ``sysctl -q`` in that
#: script goes on past them.  (Text, not a table of names: only code that acts on a sysctl
#: names it, tests/sock/test_sysctl.py checks.)
DEFAULTS_SH: Final = """\
net.ipv4.tcp_rmem=4096 540000 15728640
net.ipv4.tcp_wmem=4096 262144 4194304
net.ipv4.tcp_timestamps=1
net.ipv4.tcp_syn_retries=5
net.ipv4.tcp_synack_retries=5
net.ipv4.tcp_frto=2
net.ipv4.tcp_sack=1
net.ipv4.tcp_dsack=1
net.ipv4.tcp_fack=0
net.ipv4.tcp_reordering=3
net.ipv4.tcp_congestion_control=cubic
net.ipv4.tcp_slow_start_after_idle=0
net.ipv4.tcp_early_retrans=4
net.ipv4.tcp_recovery=1
net.ipv4.tcp_tso_win_divisor=3
net.ipv4.tcp_ecn=0
net.ipv4.tcp_pacing_ss_ratio=200
net.ipv4.tcp_pacing_ca_ratio=120
net.ipv4.tcp_notsent_lowat=4294967295
net.ipv4.tcp_fastopen=0x3
net.ipv4.tcp_syncookies=1
"""
#: sysctls netsim does not have, which a script may set to the value that means "off"
_ABSENT_OFF: Final[dict[str, str]] = {"net.ipv4.tcp_ecn": "0", "net.ipv4.tcp_fack": "0"}

#: ``ethtool -K`` short names and the features they switch
_ETHTOOL: Final[dict[str, tuple[str, ...]]] = {
    "tso": ("tx-tcp-segmentation", "tx-tcp6-segmentation"),
    "gso": ("tx-generic-segmentation",),
    "gro": ("rx-gro",),
    "sg": ("tx-scatter-gather",),
}
_FLAG_BITS: Final[dict[str, int]] = {
    "F": 0x01,
    "S": 0x02,
    "R": 0x04,
    "P": 0x08,
    ".": 0x10,
    "U": 0x20,
    "E": 0x40,
    "W": 0x80,
}
_MOD: Final = 1 << 32
_O_NONBLOCK: Final = CONSTANTS["O_NONBLOCK"]
_MSG_DONTWAIT: Final = CONSTANTS["MSG_DONTWAIT"]
#: how long a system call may take before it counts as blocking (virtual seconds)
_BLOCK_PROBE: Final = 1e-7
#: how far past its time a ``*`` expectation waits for a packet
_ANY_WAIT: Final = 600.0


@attrs.frozen
class Config:
    """How to run: ``ip_version`` ``ipv4`` or ``ipv6``, the timing tolerance, the MTU (None:
    packetdrill's, 1500, or 1520 for IPv6 as the kernel's runner sets), and ``log``, called
    with a line per event when given (``-v``)."""

    ip_version: str = "ipv4"
    tolerance_usecs: int = 4000
    mtu: int | None = None
    log: Callable[[str], None] | None = attrs.field(default=None, eq=False)


@attrs.frozen
class Outcome:
    """A script's result: ``PASS``, ``FAIL`` (an expectation not met, or a netsim error) or
    ``UNSUPPORTED`` (something in it this runner does not implement), with the line."""

    status: Literal["PASS", "FAIL", "UNSUPPORTED"]
    line: int = 0
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    def __str__(self) -> str:
        if self.status == "PASS":
            return "PASS"
        where = f"line {self.line}: " if self.line else ""
        return f"{self.status}: {where}{self.message}"


class _Stop(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(str(outcome))
        self.outcome = outcome


def _fail(line: int, message: str) -> _Stop:
    return _Stop(Outcome("FAIL", line, message))


def _unsupported(line: int, message: str) -> _Stop:
    return _Stop(Outcome("UNSUPPORTED", line, message))


def run_file(path: str, config: Config | None = None) -> Outcome:
    """Read, parse and run the script at ``path``."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        return Outcome("FAIL", 0, f"cannot read the script: {exc}")
    return run_script(text, path, config)


def run_script(text: str, path: str = "<script>", config: Config | None = None) -> Outcome:
    """Parse and run one script (its own host, its own ``trio.run`` on a mock clock)."""
    config = config or Config()
    try:
        script = parse_script(text, path)
    except ScriptError as exc:
        return Outcome("UNSUPPORTED" if exc.unsupported else "FAIL", exc.line, exc.message)
    ip_version = script.option("ip_version") or config.ip_version
    if ip_version not in ADDRESSES:
        return Outcome("UNSUPPORTED", 0, f"--ip_version={ip_version} (ipv4 and ipv6 only)")
    tolerance = config.tolerance_usecs
    given = script.option("tolerance_usecs")
    if given is not None:
        if not given.isdigit():
            return Outcome("FAIL", 0, f"--tolerance_usecs={given} is not a number")
        tolerance = int(given)
    ts_tick = 0
    given = script.option("tcp_ts_tick_usecs")
    if given is not None:
        if given != "1000":  # netsim's timestamp clock ticks in milliseconds, as Linux's
            return Outcome("UNSUPPORTED", 0, f"--tcp_ts_tick_usecs={given} (1000 only)")
        ts_tick = 1000
    mss = 0
    given = script.option("mss")
    if given is not None:
        if not given.isdigit() or not int(given):
            return Outcome("FAIL", 0, f"--mss={given} is not a positive number")
        mss = int(given)
    for name, _ in script.options:
        if name not in ("ip_version", "tolerance_usecs", "mss", "tcp_ts_tick_usecs"):
            return Outcome("UNSUPPORTED", 0, f"script option --{name}")
    mtu = config.mtu or (1520 if ip_version == "ipv6" else 1500)
    run = _Run(script, ip_version, tolerance / 1e6, mtu, config.log)
    run.mss = mss
    run.ts_tick = ts_tick
    try:
        return trio.run(run.main, clock=trio.testing.MockClock(autojump_threshold=0))
    except Exception as exc:
        stop = _find_stop(exc)
        if stop is not None:
            return stop.outcome
        # a netsim error (a page leak at exit, an internal failure)
        return Outcome("FAIL", run.line, f"netsim raised {exc!r}")


def _find_stop(exc: BaseException) -> _Stop | None:
    """The script's verdict, out of the exception groups trio wraps it in."""
    if isinstance(exc, _Stop):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find_stop(inner)
            if found is not None:
                return found
    return None


@attrs.define
class _Fd:
    sock: Socket
    nonblocking: bool = False


#: the control buffer a script's ``recvmsg`` gets (room for several ``int`` messages)
_CONTROL_ROOM: Final = 256
#: ``TCP_INFO``'s option number (include/uapi/linux/tcp.h)
_TCP_INFO: Final = 11
#: the names packetdrill's code events define beside ``tcpi_*`` (code.c ``write_symbols``)
_PYTHON_SYMBOLS: Final[dict[str, int]] = {
    "TCP_CA_Open": 0,
    "TCP_CA_Disorder": 1,
    "TCP_CA_CWR": 2,
    "TCP_CA_Recovery": 3,
    "TCP_CA_Loss": 4,
    "TCPI_OPT_TIMESTAMPS": 1,
    "TCPI_OPT_SACK": 2,
    "TCPI_OPT_WSCALE": 4,
    "TCPI_OPT_ECN": 8,
    "TCPI_OPT_ECN_SEEN": 16,
    "TCPI_OPT_SYN_DATA": 32,
    "TCPI_OPT_USEC_TS": 64,
    "TCPI_OPT_TFO_CHILD": 128,
}


@attrs.define
class _Pending:
    """A system call that blocked and goes on in the background."""

    event: SyscallEvent
    deadline: float
    done: trio.Event = attrs.field(factory=trio.Event)
    result: int | OSError | None = None
    finished_at: float = 0.0
    after: Callable[[int], None] | None = None


#: ``$((...))``: the shell's arithmetic expansion (``defaults.sh``'s ``$((15*1024*1024))``)
_ARITH_RE: Final = re.compile(r"\$\(\(([^()]*(?:\([^()]*\)[^()]*)*)\)\)")


def _shell_arith(line: int, expr: str) -> int:
    """Evaluate a shell arithmetic expression of integers, ``+ - * / %`` and parentheses
    (``/`` truncating, as the shell's); anything else is UNSUPPORTED."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise _unsupported(line, f"shell arithmetic $(({expr}))") from None

    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = value(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp):
            a, b = value(node.left), value(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, (ast.Div, ast.Mod)) and b:
                quotient = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
                return quotient if isinstance(node.op, ast.Div) else a - b * quotient
        raise _unsupported(line, f"shell arithmetic $(({expr}))")

    return value(tree.body)


class _Run:
    def __init__(
        self,
        script: Script,
        ip_version: str,
        tolerance: float,
        mtu: int,
        log: Callable[[str], None] | None,
    ) -> None:
        self.script = script
        self.v6 = ip_version == "ipv6"
        self.local_cidr, remote = ADDRESSES[ip_version]
        self.local = self.local_cidr.split("/")[0]
        self.remote = remote
        self.local_bytes = ipaddress.ip_address(self.local).packed
        self.remote_bytes = ipaddress.ip_address(remote).packed
        self.tol = tolerance
        self.mtu = mtu
        #: ``--mss``: inbound data larger than this goes in as one GSO packet of segments of
        #: this size (a TUN write with a ``virtio_net_hdr``), as packetdrill injects it
        self.mss = 0
        self.log = log
        self.line = 0
        self.fds: dict[int, _Fd] = {}
        self.under_test: Socket | None = None
        self.out: deque[tuple[float, bytes]] = deque()
        self.new_packet = trio.Event()
        self.pending: _Pending | None = None
        self.local_isn: int | None = None
        self.local_port: int | None = None
        self.remote_port = REMOTE_PORT
        #: connections the script has opened, and whether a listen() since the last one
        #: awaits a SYN that opens the next (packetdrill's SOCKET_PASSIVE_LISTENING)
        self.connections = 0
        self.fresh_listener = False
        self.ts_offset = 0
        #: ``--tcp_ts_tick_usecs``: compare outbound TS vals, the first one's offset kept
        self.ts_tick = 0
        self.ts_val_base: int | None = None
        #: the counters at the last ``nstat -n`` (nstat prints what changed since)
        self.nstat: dict[str, int] = {}
        self.t0 = 0.0

    # -- the run -------------------------------------------------------------------------------

    async def main(self) -> Outcome:
        async with open_host(name="packetdrill") as host:
            self.host = host
            # packetdrill's tun device takes TSO (TUNSETOFFLOAD): the stack hands it GSO
            # super-packets, and the script sees them whole
            dev = RemoteLinkDevice("tun0", mtu=self.mtu, csum_offload=True, orphan=True)
            dev.features |= NETIF_F_SG | NETIF_F_GSO | NETIF_F_TSO | NETIF_F_TSO6
            host.net.add_device(dev, (self.local_cidr,))
            host.net.set_default_route("tun0")
            dev.set_carrier(True)
            self.dev = dev
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                nursery.start_soon(self._sniff)
                try:
                    await self._events()
                finally:
                    nursery.cancel_scope.cancel()
            for fd in list(self.fds.values()):
                fd.sock.close()
        return Outcome("PASS")

    async def _sniff(self) -> None:
        dev = self.dev
        net = self.host.net
        while True:
            if not dev.txring:
                bell = trio.Event()
                dev.on_xmit = bell.set
                await bell.wait()
            frames = dev.tx_frames()
            now = trio.current_time()
            net.run_softirq(now, functools.partial(dev.tx_complete, len(frames)))
            for frame in frames:
                self.out.append((now, frame))
                if self.log is not None:
                    self.log(f"{now - self.t0:10.6f} sent {self._describe_live(frame)}")
            self.new_packet.set()
            await trio.lowlevel.checkpoint()

    async def _events(self) -> None:
        self.t0 = trio.current_time()
        last = self.t0
        for ev in self.script.events:
            self.line = ev.line
            when, until = self._times(ev, last)
            await self._settle_pending(when)
            if isinstance(ev, PacketEvent) and ev.direction == ">":
                last = await self._expect(ev, when, until)
                continue
            if when is not None:
                await trio.sleep_until(when)
            last = trio.current_time()
            if self.log is not None:
                self.log(f"{last - self.t0:10.6f} line {ev.line}: {_event_text(ev)}")
            if isinstance(ev, PacketEvent):
                self._inject(ev)
            elif isinstance(ev, ShellEvent):
                self._shell(ev)
            elif isinstance(ev, PythonEvent):
                self._python(ev)
            else:
                await self._syscall(ev, until)
        await self._settle_pending(None)

    def _times(self, ev: Event, last: float) -> tuple[float | None, float | None]:
        """The event's time and the end of its range (the time itself without one); a
        relative time counts from the previous event's, and so does the end of a range that
        starts at a relative time, written with ``+`` or not (packetdrill's
        ``adjust_relative_event_times``: ``+0...0.300`` returns 0.3 s after the previous
        event)."""
        t = ev.time
        if t.kind == "any":
            return None, None
        when = (self.t0 if t.kind == "abs" else last) + t.start
        if t.end is None:
            return when, when
        return when, (last if t.end_rel or t.kind == "rel" else self.t0) + t.end

    # -- outbound ------------------------------------------------------------------------------

    async def _expect(self, ev: PacketEvent, when: float | None, until: float | None) -> float:
        if when is None or until is None:
            latest = trio.current_time() + _ANY_WAIT
        else:
            latest = until + self.tol
        while not self.out:
            self.new_packet = trio.Event()
            with trio.move_on_at(latest):
                await self.new_packet.wait()
            if not self.out:
                raise _fail(
                    ev.line,
                    f"expected {ev.describe()} at {self._t(when)}, got no packet by "
                    f"{latest - self.t0:.6f}",
                )
        sent_at, frame = self.out.popleft()
        if self._stale(frame):
            # a packet of a connection the script has moved on from (an earlier one's
            # reset at close): packetdrill follows the socket under test only
            if self.log is not None:
                self.log(f"{sent_at - self.t0:10.6f} skipped {self._describe_live(frame)}")
            return await self._expect(ev, when, until)
        got = self._match(ev, frame)
        on_time = when is None or until is None or when - self.tol <= sent_at <= until + self.tol
        if not on_time:
            raise _fail(
                ev.line,
                f"expected {ev.describe()} at {self._t(when)}, got it at "
                f"{sent_at - self.t0:.6f} (tolerance {self.tol * 1e6:.0f} us)",
            )
        if self.log is not None:
            self.log(f"{sent_at - self.t0:10.6f} line {ev.line}: matched > {got}")
        return sent_at

    def _stale(self, frame: bytes) -> bool:
        """Is ``frame`` a TCP packet of another connection than the current one (its ports
        differ from the current connection's, and it is no SYN opening a new one)?"""
        live = self._parse_live(frame)
        if isinstance(live, str) or self.local_port is None or self.connections < 2:
            return False
        hdr = live[0]
        if hdr.flags & _FLAG_BITS["S"]:
            return False
        return (hdr.sport, hdr.dport) != (self.local_port, self.remote_port)

    def _t(self, when: float | None) -> str:
        return "any time" if when is None else f"{when - self.t0:.6f}"

    def _match(self, ev: PacketEvent, frame: bytes) -> str:
        live = self._parse_live(frame)
        if isinstance(live, str):
            raise _fail(ev.line, f"expected {ev.describe()}, got {live}")
        hdr, payload_len = live
        if hdr.flags & _FLAG_BITS["S"]:
            if not hdr.flags & _FLAG_BITS["."] and (
                self.local_isn is not None and hdr.sport != self.local_port
            ):
                self.connections += 1  # another active open
            self.local_isn = (hdr.seq - ev.start) % _MOD
            self.local_port = hdr.sport
            self.remote_port = hdr.dport
            self.connections = max(self.connections, 1)
        got = self._describe_tcp(hdr, payload_len)
        if self.local_isn is None:
            raise _fail(ev.line, f"expected {ev.describe()}, got {got} before any SYN")
        problems: list[str] = []
        want_flags = sum(_FLAG_BITS[c] for c in set(ev.flags))
        if hdr.flags & 0xFF != want_flags:
            problems.append("flags")
        if (hdr.seq - self.local_isn) % _MOD != ev.start:
            problems.append("sequence number")
        if payload_len != ev.length:
            problems.append("payload length")
        if ev.ack is not None and (
            not hdr.flags & _FLAG_BITS["."] or (hdr.ack_seq - REMOTE_ISN) % _MOD != ev.ack
        ):
            problems.append("ack")
        if ev.win is not None and hdr.window != ev.win:
            problems.append("window")
        live_opts = _parse_options(hdr.options)
        if live_opts is None:
            problems.append("options (malformed)")
        elif ev.options is not None and not self._options_match(ev.options, live_opts):
            problems.append("options")
        if problems:
            raise _fail(
                ev.line, f"expected {ev.describe()}, got {got} (differs in {', '.join(problems)})"
            )
        if ev.options is not None and live_opts is not None:
            for want, have in zip(ev.options, live_opts, strict=True):
                if want.kind == "TS":
                    self.ts_offset = (have.values[0] - want.values[0]) % _MOD
                    if self.ts_val_base is None:
                        self.ts_val_base = self.ts_offset
        return got

    def _options_match(self, want: tuple[TcpOpt, ...], have: list[TcpOpt]) -> bool:
        if len(want) != len(have):
            return False
        for w, h in zip(want, have, strict=True):
            if w.kind != h.kind:
                return False
            if w.kind == "TS":
                if w.values[1] != h.values[1]:
                    return False
                if self.ts_tick and self.ts_val_base is not None:
                    # --tcp_ts_tick_usecs: the TS val runs with the clock from the first one
                    # the stack sent, within the tolerance (in ticks)
                    drift = (h.values[0] - self.ts_val_base - w.values[0]) % _MOD
                    drift = min(drift, _MOD - drift)
                    if drift > max(1, round(self.tol * 1e6 / self.ts_tick)):
                        return False
            elif w.kind == "sack":
                rel = tuple((v - REMOTE_ISN) % _MOD for v in h.values)
                if rel != w.values:
                    return False
            elif w.values != h.values:
                return False
        return True

    def _parse_live(self, frame: bytes) -> tuple[TcpHeader, int] | str:
        try:
            if frame[0] >> 4 == 6:
                ip6 = Ipv6Header.parse(frame)
                if ip6.nexthdr != 6:
                    return f"an IPv6 packet with next header {ip6.nexthdr}, not TCP"
                off, total = 40, 40 + ip6.payload_len
            else:
                ip4 = Ipv4Header.parse(frame)
                if ip4.protocol != 6:
                    return f"an IPv4 packet of protocol {ip4.protocol}, not TCP"
                off, total = ip4.header_len, ip4.tot_len
            hdr = TcpHeader.parse(frame, off)
        except Exception as exc:
            return f"a packet netsim.wire cannot read ({exc})"
        return hdr, total - off - hdr.header_len

    def _describe_tcp(self, hdr: TcpHeader, payload_len: int) -> str:
        isn = self.local_isn or 0
        start = (hdr.seq - isn) % _MOD
        ack = (hdr.ack_seq - REMOTE_ISN) % _MOD if hdr.flags & _FLAG_BITS["."] else None
        opts = _parse_options(hdr.options)
        if opts is not None:
            opts = [
                TcpOpt("sack", tuple((v - REMOTE_ISN) % _MOD for v in o.values))
                if o.kind == "sack"
                else o
                for o in opts
            ]
        return describe_packet(
            _flag_text(hdr.flags),
            start,
            (start + payload_len) % _MOD,
            payload_len,
            ack,
            hdr.window,
            None if opts is None else tuple(opts),
        )

    def _describe_live(self, frame: bytes) -> str:
        live = self._parse_live(frame)
        if isinstance(live, str):
            return live
        if self.local_isn is None:
            return f"{_flag_text(live[0].flags)} (raw seq {live[0].seq}, {live[1]} bytes)"
        return self._describe_tcp(*live)

    # -- inbound -------------------------------------------------------------------------------

    def _inject(self, ev: PacketEvent) -> None:
        flags = sum(_FLAG_BITS[c] for c in set(ev.flags))
        if ev.ack is not None and self.local_isn is None:
            raise _fail(ev.line, "an inbound ack before the stack sent a SYN or SYN-ACK")
        if ev.options is None:
            raise _unsupported(ev.line, "<...> options on an injected packet")
        syn_only = flags & (_FLAG_BITS["S"] | _FLAG_BITS["."]) == _FLAG_BITS["S"]
        if syn_only and self.fresh_listener:
            # packetdrill's new child socket: a SYN to a listener the script made after its
            # last connection opens another, from a port of its own
            self.fresh_listener = False
            self.connections += 1
            if self.connections > 1:
                self.remote_port += 1
                self.local_isn = None
            self.local_port = SCRIPT_PORT
        if self.local_port is None:
            if syn_only:
                self.local_port = SCRIPT_PORT
                self.connections += 1
            else:
                raise _fail(ev.line, "an inbound packet before any connection exists")
        local_isn = self.local_isn or 0
        ack = 0 if ev.ack is None else (local_isn + ev.ack) % _MOD
        opts = bytearray()
        for o in ev.options:
            opts += self._emit_option(o, local_isn)
        while len(opts) % 4:
            opts.append(0)
        if len(opts) > 40:
            raise _fail(ev.line, f"{len(opts)} bytes of TCP options (at most 40)")
        tcp = TcpHeader(
            self.remote_port,
            self.local_port,
            (REMOTE_ISN + ev.start) % _MOD,
            ack,
            flags,
            65535 if ev.win is None else ev.win,
            options=bytes(opts),
        )
        segment = bytearray(tcp.header_len + ev.length)
        tcp.emit(segment)
        if self.v6:
            check = tcp6_checksum(self.remote_bytes, self.local_bytes, segment)
        else:
            check = tcp4_checksum(self.remote_bytes, self.local_bytes, segment)
        struct.pack_into("!H", segment, 16, check)
        if self.v6:
            frame = bytearray(40 + len(segment))
            Ipv6Header(
                tclass=0,
                flow_label=0,
                payload_len=len(segment),
                nexthdr=6,
                hop_limit=64,
                saddr=self.remote_bytes,
                daddr=self.local_bytes,
            ).emit(frame)
            frame[40:] = segment
        else:
            frame = bytearray(20 + len(segment))
            Ipv4Header(
                tos=0,
                tot_len=len(frame),
                id=0,
                frag_off=0x4000,
                ttl=64,
                protocol=6,
                saddr=self.remote_bytes,
                daddr=self.local_bytes,
            ).emit(frame)
            frame[20:] = segment
        now = trio.current_time()
        self.host.net.run_softirq(now, functools.partial(self.dev.rx_frame, bytes(frame), self.mss))

    def _emit_option(self, o: TcpOpt, local_isn: int) -> bytes:
        if o.kind == "nop":
            return b"\x01"
        if o.kind == "eol":
            return b"\x00"
        if o.kind == "mss":
            return struct.pack("!BBH", 2, 4, o.values[0])
        if o.kind == "wscale":
            return struct.pack("!BBB", 3, 3, o.values[0])
        if o.kind == "sackOK":
            return b"\x04\x02"
        if o.kind == "TS":
            ecr = (o.values[1] + self.ts_offset) % _MOD if o.values[1] else 0
            return struct.pack("!BBII", 8, 10, o.values[0] % _MOD, ecr)
        blocks = [(local_isn + v) % _MOD for v in o.values]  # sack
        return struct.pack(f"!BB{len(blocks)}I", 5, 2 + 4 * len(blocks), *blocks)

    # -- shell ---------------------------------------------------------------------------------

    def _shell(self, ev: ShellEvent) -> None:
        text = _ARITH_RE.sub(lambda m: str(_shell_arith(ev.line, m.group(1))), ev.command)
        for raw in re.split(r"\n|;|&&", text.replace("\\\n", " ")):
            cmd = re.sub(r"\s*(?:[12]?>\s*/dev/null|2>&1)", "", raw).strip()
            if cmd:
                self._shell_command(ev.line, cmd)

    def _shell_command(self, line: int, cmd: str) -> None:
        try:
            words = shlex.split(cmd)
        except ValueError:
            raise _unsupported(line, f"shell command {cmd!r}") from None
        prog = os.path.basename(words[0])
        if prog == "defaults.sh":
            for setting in DEFAULTS_SH.splitlines():
                name, _, value = setting.partition("=")
                if name in self.host.sysctl:
                    self._set_sysctl(line, name, value)
            return
        if prog == "sysctl":
            settings = [w for w in words[1:] if not w.startswith("-")]
            for setting in settings:
                name, eq, value = setting.partition("=")
                if not eq:
                    raise _unsupported(line, f"shell command {cmd!r} (a sysctl read)")
                self._set_sysctl(line, name.replace("/", "."), value)
            return
        if prog == "set_sysctls.py":
            for setting in words[1:]:
                path, eq, value = setting.partition("=")
                if not eq or not path.startswith("/proc/sys/"):
                    raise _unsupported(line, f"shell command {cmd!r}")
                self._set_sysctl(line, path[len("/proc/sys/") :].replace("/", "."), value)
            return
        m = re.fullmatch(r"echo\s+(\S+(?:\s+\S+)*)\s*>\s*/proc/sys/(\S+)", cmd)
        if m is not None:
            self._set_sysctl(line, m.group(2).replace("/", "."), m.group(1).strip("\"'"))
            return
        if re.fullmatch(r"tc qdisc (add|replace) dev tun0 root pfifo", cmd):
            return  # netsim has no qdisc: every packet goes straight to the device
        m = re.fullmatch(r"ethtool -K tun0((?: (?:tso|gso|gro|sg) (?:on|off))+)", cmd)
        if m is not None:
            words = m.group(1).split()
            for feature, state in zip(words[::2], words[1::2], strict=True):
                for name in _ETHTOOL[feature]:
                    self.dev.set_feature(name, state == "on")
            return
        if re.fullmatch(r"ip (tcp_metrics|tcpmetrics) flush( all)?", cmd):
            return  # a fresh host remembers nothing
        if re.fullmatch(r"/tmp/sysctl_restore_\S+\.sh", cmd):
            return  # each script runs on a fresh host
        if cmd == "nstat -n":
            self.nstat = dict(self.host.stats())  # nstat's history: what later runs subtract
            return
        m = re.fullmatch(r'nstat \| grep (\w+) \| grep -q ["\'] (\d+) ["\']', cmd)
        if m is not None:
            name, want = m.group(1), int(m.group(2))
            stats = dict(self.host.stats())
            if name not in stats:
                raise _unsupported(line, f"counter {name} (netsim does not count it)")
            got = stats[name] - self.nstat.get(name, 0)
            self.nstat = stats
            if got != want:
                raise _fail(line, f"nstat: {name} is {got}, the script greps for {want}")
            return
        raise _unsupported(line, f"shell command {cmd!r}")

    def _set_sysctl(self, line: int, name: str, text: str) -> None:
        sysctl: Sysctl = self.host.sysctl
        if name not in sysctl:
            if _ABSENT_OFF.get(name) == text.strip():
                return
            raise _unsupported(line, f"sysctl {name}={text} (netsim has no {name})")
        current = sysctl[name]
        value: int | str | tuple[int, ...]
        try:
            if isinstance(current, tuple):
                value = tuple(int(v, 0) for v in text.split())
            elif isinstance(current, str):
                value = text
            else:
                value = int(text, 0)
            sysctl[name] = value
        except (ValueError, OSError) as exc:
            raise _fail(line, f"sysctl {name}={text}: {exc}") from None

    # -- system calls --------------------------------------------------------------------------

    async def _settle_pending(self, when: float | None) -> None:
        """Check the blocked call once it has returned; before an event that is due after
        the call's deadline (or at the end, ``when`` None), wait for it until then."""
        p = self.pending
        if p is None:
            return
        if not p.done.is_set():  # let a call the last event woke return first
            with trio.move_on_after(_BLOCK_PROBE):
                await p.done.wait()
        if not p.done.is_set() and (when is None or when > p.deadline):
            with trio.move_on_at(p.deadline):
                await p.done.wait()
            if not p.done.is_set():
                raise _fail(
                    p.event.line,
                    f"{p.event.name}() still blocked at {p.deadline - self.t0:.6f}",
                )
        if p.done.is_set():
            self.pending = None
            self._check_result(p.event, p.result, p.after)
            self._check_return_time(p)

    async def _syscall(self, ev: SyscallEvent, until: float | None) -> None:
        if self.pending is not None:
            raise _unsupported(
                ev.line,
                f"{ev.name}() while the call at line {self.pending.event.line} is blocked "
                "(one thread only)",
            )
        deadline = (trio.current_time() if until is None else until) + self.tol
        handler = getattr(self, f"_sys_{ev.name}")
        p = _Pending(ev, deadline)

        async def call() -> None:
            try:
                p.result, p.after = await handler(ev)
            except OSError as exc:
                p.result = exc
            except trio.ClosedResourceError:  # the script closed the fd under the call
                p.result = OSError(errno_mod.EBADF, os.strerror(errno_mod.EBADF))
            p.finished_at = trio.current_time()
            p.done.set()

        self.nursery.start_soon(call)
        with trio.move_on_after(_BLOCK_PROBE):
            await p.done.wait()
        if p.done.is_set():
            self._check_result(ev, p.result, p.after)
            self._check_return_time(p)
        else:
            self.pending = p

    def _check_return_time(self, p: _Pending) -> None:
        """A call returns at its range's end, within the tolerance either way (packetdrill's
        ``verify_time`` of the "system call return"): not later, and not earlier either."""
        expected = p.deadline - self.tol
        if abs(p.finished_at - expected) > self.tol + 1e-9:
            raise _fail(
                p.event.line,
                f"{p.event.name}() returned at {p.finished_at - self.t0:.6f}, expected at "
                f"{expected - self.t0:.6f} (tolerance {round(self.tol * 1e6)} us)",
            )

    def _check_result(
        self, ev: SyscallEvent, result: int | OSError | None, after: Callable[[int], None] | None
    ) -> None:
        if isinstance(result, OSError):
            code = result.errno or 0
            name = errno_mod.errorcode.get(code, str(code))
            got = f"-1 {name} ({os.strerror(code)})"
            want_errno = ERRNOS.get(ev.errno or "", None)
            if ev.ret is None or (ev.ret == -1 and (want_errno is None or want_errno == code)):
                return
            raise _fail(ev.line, f"{ev.name}() expected {_ret_text(ev)}, got {got}")
        value = 0 if result is None else result
        names_fd = ev.name in ("socket", "accept") and value >= 0 and (ev.ret or 0) >= 0
        if ev.ret is not None and ev.ret != value and not names_fd:
            raise _fail(ev.line, f"{ev.name}() expected {_ret_text(ev)}, got {value}")
        if after is not None:
            after(value if ev.ret is None else ev.ret)

    def _fd(self, ev: SyscallEvent, index: int = 0) -> _Fd:
        value = ev.args[index] if len(ev.args) > index else None
        if not isinstance(value, int):
            raise _unsupported(ev.line, f"{ev.name}() with a file descriptor {value}")
        fd = self.fds.get(value)
        if fd is None:
            raise OSError(errno_mod.EBADF, os.strerror(errno_mod.EBADF))
        return fd

    def _int_arg(self, ev: SyscallEvent, index: int, what: str) -> int:
        value = ev.args[index] if len(ev.args) > index else None
        if isinstance(value, Array) and len(value.items) == 1:
            value = value.items[0]
        if not isinstance(value, int):
            raise _unsupported(ev.line, f"{ev.name}() with {what} {_value_text(value)}")
        return value

    def _new_fd(self, sock: Socket, nonblocking: bool = False) -> Callable[[int], None]:
        def register(fd: int) -> None:
            self.fds[fd] = _Fd(sock, nonblocking)
            self.under_test = sock  # packetdrill's socket_under_test: the newest socket

        return register

    def _python(self, ev: PythonEvent) -> None:
        """A ``%{ }%`` block: its Python runs with ``tcpi_*`` — the ``tcp_info`` of the socket
        under test now, as packetdrill records it at the block's time — the ``TCP_CA_*`` and
        ``TCPI_OPT_*`` names and ``SK_MEMINFO_*`` (the socket's memory); a failed ``assert``
        fails the script at the block's line, a name this runner does not provide is
        UNSUPPORTED."""
        sock = self.under_test
        if sock is None:
            raise _fail(ev.line, "no socket to use for the %{ }% block")
        names: dict[str, object] = dict(_PYTHON_SYMBOLS)
        names.update(tcp_info_fields(sock.getsockopt(CONSTANTS["IPPROTO_TCP"], _TCP_INFO, 280)))
        sk = sock.sk
        names.update(
            SK_MEMINFO_RMEM_ALLOC=sk.sk_rmem_alloc,
            SK_MEMINFO_RCVBUF=sk.sk_rcvbuf,
            SK_MEMINFO_WMEM_ALLOC=sk.sk_wmem_alloc,
            SK_MEMINFO_SNDBUF=sk.sk_sndbuf,
            SK_MEMINFO_FWD_ALLOC=sk.sk_forward_alloc,
            SK_MEMINFO_WMEM_QUEUED=sk.sk_wmem_queued,
        )
        code = textwrap.dedent(ev.code).strip() + "\n\n"  # as packetdrill writes it out
        try:
            exec(compile(code, f"{self.script.path}:{ev.line}", "exec"), names)
        except AssertionError as exc:
            detail = f": {exc}" if str(exc) else ""
            raise _fail(ev.line, f"%{{ }}% assertion failed{detail}") from None
        except NameError as exc:
            raise _unsupported(ev.line, f"{exc.name} in a %{{ }}% block") from None
        except Exception as exc:  # the script's own Python is wrong
            raise _fail(ev.line, f"%{{ }}% block raised {exc!r}") from None

    _Result = tuple[int, Callable[[int], None] | None]

    async def _sys_socket(self, ev: SyscallEvent) -> _Result:
        if len(ev.args) != 3:
            raise _fail(ev.line, "socket() takes 3 arguments")
        domain, kind, proto = ev.args
        family = 10 if self.v6 else 2
        if domain is not ANY and domain != family:
            raise _unsupported(ev.line, f"socket() of domain {domain} under {self._ipv()}")
        if not isinstance(kind, int) or kind & ~_O_NONBLOCK != CONSTANTS["SOCK_STREAM"]:
            raise _unsupported(ev.line, "socket() other than SOCK_STREAM (a TCP runner)")
        if proto not in (ANY, 0, CONSTANTS["IPPROTO_TCP"]):
            raise _unsupported(ev.line, f"socket() of protocol {_value_text(proto)}")
        sock = self.host.socket(family, CONSTANTS["SOCK_STREAM"], 0)
        return len(self.fds) + 3, self._new_fd(sock, bool(kind & _O_NONBLOCK))

    def _ipv(self) -> str:
        return "ipv6" if self.v6 else "ipv4"

    async def _sys_setsockopt(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        level = self._int_arg(ev, 1, "level")
        name = self._int_arg(ev, 2, "option")
        value = self._int_arg(ev, 3, "value")
        fd.sock.setsockopt(level, name, value)
        return 0, None

    async def _sys_getsockopt(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        level = self._int_arg(ev, 1, "level")
        name = self._int_arg(ev, 2, "option")
        got = fd.sock.getsockopt(level, name)
        self._check_out_value(ev, 3, got)
        return 0, None

    def _check_out_value(self, ev: SyscallEvent, index: int, got: object) -> None:
        """An output argument (``[N]``) the script states: compared with what the call
        returned through it."""
        want = ev.args[index] if len(ev.args) > index else ANY
        if isinstance(want, Array) and len(want.items) == 1:
            want = want.items[0]
        if want is ANY:
            return
        if not isinstance(want, int) or not isinstance(got, int):
            raise _unsupported(ev.line, f"{ev.name}() compared with {_value_text(want)}")
        if got != want:
            raise _fail(ev.line, f"{ev.name}() expected [{want}], got [{got}]")

    async def _sys_ioctl(self, ev: SyscallEvent) -> _Result:
        """``ioctl(fd, SIOCINQ, [N])``: the queue-size requests (:meth:`netsim.Socket.ioctl`),
        the number compared with the script's."""
        fd = self._fd(ev)
        request = self._int_arg(ev, 1, "request")
        self._check_out_value(ev, 2, fd.sock.ioctl(request))
        return 0, None

    def _check_address(self, ev: SyscallEvent) -> None:
        if len(ev.args) > 1 and ev.args[1] is not ANY:
            raise _unsupported(ev.line, f"{ev.name}() with an explicit address")

    async def _sys_bind(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        self._check_address(ev)
        await fd.sock.bind((self.local, SCRIPT_PORT))
        return 0, None

    async def _sys_listen(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        fd.sock.listen(self._int_arg(ev, 1, "backlog"))
        self.fresh_listener = True
        return 0, None

    async def _sys_accept(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        if fd.nonblocking:
            with trio.move_on_after(_BLOCK_PROBE):
                child, _ = await fd.sock.accept()
                return len(self.fds) + 3, self._new_fd(child)
            raise OSError(errno_mod.EAGAIN, os.strerror(errno_mod.EAGAIN))
        child, _ = await fd.sock.accept()
        return len(self.fds) + 3, self._new_fd(child)

    async def _sys_connect(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        self._check_address(ev)
        address = (self.remote, SCRIPT_PORT)
        if not fd.nonblocking:
            await fd.sock.connect(address)
            return 0, None
        started = trio.Event()

        async def connect() -> None:
            started.set()
            # an error reaches the script through SO_ERROR or its next call
            with contextlib.suppress(OSError, trio.ClosedResourceError):
                await fd.sock.connect(address)

        self.nursery.start_soon(connect)
        await started.wait()
        with trio.move_on_after(_BLOCK_PROBE):
            await trio.sleep_forever()
        raise OSError(errno_mod.EINPROGRESS, os.strerror(errno_mod.EINPROGRESS))

    def _flags(self, fd: _Fd, ev: SyscallEvent, index: int) -> int:
        flags = self._int_arg(ev, index, "flags") if len(ev.args) > index else 0
        return flags | (_MSG_DONTWAIT if fd.nonblocking else 0)

    async def _send(self, fd: _Fd, sizes: list[int], flags: int) -> int:
        if len(sizes) == 1:
            return await fd.sock.send(bytes(sizes[0]), flags)
        return await fd.sock.sendmsg([bytes(n) for n in sizes], [], flags)

    async def _sys_write(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        return await self._send(fd, [self._int_arg(ev, 2, "length")], self._flags(fd, ev, 99)), None

    async def _sys_send(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        size = self._int_arg(ev, 2, "length")
        return await self._send(fd, [size], self._flags(fd, ev, 3)), None

    async def _sys_sendto(self, ev: SyscallEvent) -> _Result:
        if any(a is not ANY for a in ev.args[4:]):
            raise _unsupported(ev.line, "sendto() with an address")
        return await self._sys_send(ev)

    def _iov_sizes(self, ev: SyscallEvent, iov: Value | None) -> list[int]:
        if not isinstance(iov, Array):
            raise _unsupported(ev.line, f"{ev.name}() with iov {_value_text(iov)}")
        sizes: list[int] = []
        for item in iov.items:
            size = item.fields[-1][1] if isinstance(item, Struct) and item.fields else None
            if not isinstance(size, int):
                raise _unsupported(ev.line, f"{ev.name}() with iovec {_value_text(item)}")
            sizes.append(size)
        return sizes

    async def _sys_writev(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        sizes = self._iov_sizes(ev, ev.args[1] if len(ev.args) > 1 else None)
        return await self._send(fd, sizes, self._flags(fd, ev, 99)), None

    async def _sys_sendmsg(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        msg = ev.args[1] if len(ev.args) > 1 else None
        if not isinstance(msg, Struct):
            raise _unsupported(ev.line, f"sendmsg() with msghdr {_value_text(msg)}")
        control = msg.get("msg_control")
        if control is not None and control is not ANY and control != Array(()):
            raise _unsupported(ev.line, "sendmsg() with control messages (msg_control)")
        sizes = self._iov_sizes(ev, msg.get("msg_iov"))
        return await self._send(fd, sizes, self._flags(fd, ev, 2)), None

    async def _sys_read(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        data = await fd.sock.recv(self._int_arg(ev, 2, "length"), self._flags(fd, ev, 99))
        return len(data), None

    async def _sys_recv(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        data = await fd.sock.recv(self._int_arg(ev, 2, "length"), self._flags(fd, ev, 3))
        return len(data), None

    async def _sys_recvmsg(self, ev: SyscallEvent) -> _Result:
        """``recvmsg(fd, {msg_iov(N)=[...], msg_flags=F, msg_control=[{cmsg_level=L,
        cmsg_type=T, cmsg_data=V}]}, flags)``: a read into the iovecs' total length; each
        control message the script lists must have come, its ``int`` data equal."""
        fd = self._fd(ev)
        msg = ev.args[1] if len(ev.args) > 1 else None
        if not isinstance(msg, Struct):
            raise _unsupported(ev.line, f"recvmsg() with msghdr {_value_text(msg)}")
        size = sum(self._iov_sizes(ev, msg.get("msg_iov")))
        data, cmsgs, msg_flags, _addr = await fd.sock.recvmsg(
            size, _CONTROL_ROOM, self._flags(fd, ev, 2)
        )
        want_flags = msg.get("msg_flags")
        if isinstance(want_flags, int) and want_flags != msg_flags:
            raise _fail(ev.line, f"recvmsg() msg_flags expected {want_flags}, got {msg_flags}")
        control = msg.get("msg_control")
        if isinstance(control, Array):
            got = {(level, kind): raw for level, kind, raw in cmsgs}
            for item in control.items:
                if not isinstance(item, Struct):
                    raise _unsupported(ev.line, f"control message {_value_text(item)}")
                level, kind, value = (
                    item.get("cmsg_level"),
                    item.get("cmsg_type"),
                    item.get("cmsg_data"),
                )
                if not isinstance(level, int) or not isinstance(kind, int):
                    raise _unsupported(ev.line, "control message without level and type")
                raw = got.get((level, kind))
                if raw is None:
                    raise _fail(ev.line, f"recvmsg() got no control message {level}/{kind}")
                if isinstance(value, int):
                    have = int.from_bytes(raw[:4], "little", signed=True)
                    if have != value:
                        raise _fail(ev.line, f"recvmsg() cmsg_data expected {value}, got {have}")
                elif value is not ANY and value is not None:
                    raise _unsupported(ev.line, f"cmsg_data {_value_text(value)}")
        return len(data), None

    async def _sys_close(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        fd.sock.close()
        self.fds = {k: v for k, v in self.fds.items() if v is not fd}
        return 0, None

    async def _sys_shutdown(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        fd.sock.shutdown(self._int_arg(ev, 1, "how"))
        return 0, None

    async def _sys_fcntl(self, ev: SyscallEvent) -> _Result:
        fd = self._fd(ev)
        cmd = self._int_arg(ev, 1, "command")
        if cmd == CONSTANTS["F_GETFL"]:
            return CONSTANTS["O_RDWR"] | (_O_NONBLOCK if fd.nonblocking else 0), None
        if cmd == CONSTANTS["F_SETFL"]:
            fd.nonblocking = bool(self._int_arg(ev, 2, "flags") & _O_NONBLOCK)
            return 0, None
        raise _unsupported(ev.line, f"fcntl() command {cmd}")


def _parse_options(raw: bytes) -> list[TcpOpt] | None:
    """The options of a live packet, in order (None if malformed)."""
    out: list[TcpOpt] = []
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind == 0:
            if any(raw[i:]):
                out.append(TcpOpt("eol"))
                i += 1
                continue
            break  # padding
        if kind == 1:
            out.append(TcpOpt("nop"))
            i += 1
            continue
        if i + 1 >= len(raw) or raw[i + 1] < 2 or i + raw[i + 1] > len(raw):
            return None
        size = raw[i + 1]
        body = raw[i + 2 : i + size]
        if kind == 2 and size == 4:
            out.append(TcpOpt("mss", struct.unpack("!H", body)))
        elif kind == 3 and size == 3:
            out.append(TcpOpt("wscale", (body[0],)))
        elif kind == 4 and size == 2:
            out.append(TcpOpt("sackOK"))
        elif kind == 8 and size == 10:
            out.append(TcpOpt("TS", struct.unpack("!II", body)))
        elif kind == 5 and (size - 2) % 8 == 0:
            out.append(TcpOpt("sack", struct.unpack(f"!{(size - 2) // 4}I", body)))
        else:
            out.append(TcpOpt(f"opt{kind}", tuple(body)))
        i += size
    return out


def _flag_text(flags: int) -> str:
    text = "".join(c for c in "SFRPUEW" if flags & _FLAG_BITS[c])
    return text + ("." if flags & _FLAG_BITS["."] else "")


def _ret_text(ev: SyscallEvent) -> str:
    if ev.ret is None:
        return "..."
    return f"{ev.ret} {ev.errno}" if ev.errno else str(ev.ret)


def _value_text(value: object) -> str:
    if value is None:
        return "(missing)"
    return "..." if value is ANY else repr(value)


def _event_text(ev: Event) -> str:
    if isinstance(ev, PacketEvent):
        return f"{ev.direction} {ev.describe()}"
    if isinstance(ev, ShellEvent):
        return f"`{ev.command}`"
    if isinstance(ev, PythonEvent):
        return "%{ ... }%"
    return f"{ev.name}(...) = {_ret_text(ev)}"
