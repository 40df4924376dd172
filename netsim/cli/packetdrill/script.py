"""packetdrill scripts, parsed: text in, a list of typed events out (sans-IO, no trio).

The format is packetdrill's (github.com/google/packetdrill; the kernel's copy of its tests is
``tools/testing/selftests/net/packetdrill/``).  A script is a sequence of *events*, one per
statement, each with a time:

* ``0``, ``0.100``: absolute seconds from the start; ``+.1``: relative to the previous event
  (the runner takes the previous event's *actual* time, as packetdrill does); ``*``: any time;
  ``A...B``: a range (a blocking system call starts at ``A`` and returns by ``B``).
* ``socket(..., SOCK_STREAM, IPPROTO_TCP) = 3``: a system call, its arguments (``...`` for
  "whatever packetdrill would pass": the script's addresses, a buffer), its expected return
  value and, for ``-1``, the errno name (``= -1 EINPROGRESS (Operation now in progress)``).
* ``< S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>``: a packet packetdrill
  injects (from the remote peer to the stack under test); ``> P. 1:1001(1000) ack 1``: a
  packet the stack must send.  Flags (``S F R P . E W U``; ``.`` is ACK), the sequence range
  ``start:end(len)`` relative to the sender's ISN, ``ack N`` relative to the other side's
  ISN, ``win N`` (the raw header field), and the options in order (``mss N``, ``wscale N``,
  ``sackOK``, ``nop``, ``eol``, ``TS val N ecr N``, ``sack L:R ...``), or ``<...>`` for any.
* ```shell command```: a shell command; :mod:`~netsim.cli.packetdrill.runner` understands the
  sysctl settings (``sysctl -q net.ipv4.tcp_...=N``, ``./defaults.sh``, ``set_sysctls.py``)
  and a few no-ops, and calls anything else unsupported.
* ``--tolerance_usecs=N``, ``--ip_version=ipv4``: packetdrill command-line options written
  in the script.

``// comments`` and ``/* comments */`` are dropped.  A statement continues over lines while
its brackets are open (a ``sendmsg`` struct), and a shell command to its closing backtick.

* ``%{ assert tcpi_snd_cwnd == 10 }%``: a Python block, run by the runner with the
  ``tcp_info`` of the socket under test.

What this parser cannot represent it refuses with :class:`ScriptError` naming the line and
the construct (``unsupported: udp packets (only TCP)``): UDP and ICMP packets,
IP-level annotations (``[ect0]``, ``(tos …)``), TCP Fast Open and MD5 options, system calls
outside the TX-path set (:data:`SYSCALLS`), symbolic constants it does not know.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final, Literal

import attrs

__all__ = [
    "ANY",
    "CONSTANTS",
    "ERRNOS",
    "SYSCALLS",
    "AnyValue",
    "Array",
    "Event",
    "EventTime",
    "PacketEvent",
    "PythonEvent",
    "Script",
    "ScriptError",
    "ShellEvent",
    "Struct",
    "SyscallEvent",
    "TcpOpt",
    "Value",
    "parse_script",
]


class ScriptError(Exception):
    """A script this implementation cannot run: a syntax error, or something it does not
    support (``unsupported`` is then true).  ``str()`` is ``PATH:LINE: what``."""

    def __init__(self, path: str, line: int, message: str, *, unsupported: bool = False) -> None:
        self.path = path
        self.line = line
        self.message = message
        self.unsupported = unsupported
        kind = "unsupported: " if unsupported else ""
        super().__init__(f"{path}:{line}: {kind}{message}")


# -- values ------------------------------------------------------------------------------------


@attrs.frozen
class AnyValue:
    """``...``: any value (an argument packetdrill fills in, or a result not checked)."""

    def __str__(self) -> str:
        return "..."


#: the one ``...``
ANY: Final = AnyValue()


@attrs.frozen
class Array:
    """``[1]``, ``[{..., 100}, {..., 200}]``: a C array (an ``int *`` option value, an iovec)."""

    items: tuple[Value, ...]


@attrs.frozen
class Struct:
    """``{msg_iov(1)=[...], msg_flags=0}`` or ``{..., 100}``: a C struct; fields by name
    (``name`` may carry a count, ``msg_iov(1)``) or by position (``name`` None)."""

    fields: tuple[tuple[str | None, Value], ...]

    def get(self, name: str) -> Value | None:
        """The field called ``name`` (ignoring a ``(count)`` suffix), or None."""
        for key, value in self.fields:
            if key is not None and key.split("(")[0] == name:
                return value
        return None


#: a system call argument: an integer (a symbolic constant already resolved), ``...``, a
#: string literal (``str``), an array or a struct
Value = int | str | AnyValue | Array | Struct


# -- events ------------------------------------------------------------------------------------


@attrs.frozen
class EventTime:
    """When an event happens: ``kind`` ``abs`` (seconds from the start), ``rel`` (after the
    previous event) or ``any`` (``*``); ``end`` is a range's end (``A...B``, ``A~B``),
    itself relative (``end_rel``: to the range's start) or absolute."""

    kind: Literal["abs", "rel", "any"]
    start: float = 0.0
    end: float | None = None
    end_rel: bool = False
    #: ``A~B`` rather than ``A...B``: an outbound packet expected anywhere in the window
    window: bool = False


@attrs.frozen
class TcpOpt:
    """One TCP option as a script writes it: ``kind`` is ``mss``, ``wscale``, ``sackOK``,
    ``nop``, ``eol``, ``TS`` (``values`` = val, ecr) or ``sack`` (``values`` = L, R, L, R…)."""

    kind: str
    values: tuple[int, ...] = ()

    def __str__(self) -> str:
        if self.kind == "TS":
            return f"TS val {self.values[0]} ecr {self.values[1]}"
        if self.kind == "sack":
            pairs = zip(self.values[::2], self.values[1::2], strict=True)
            return "sack " + " ".join(f"{a}:{b}" for a, b in pairs)
        if self.values:
            return f"{self.kind} {self.values[0]}"
        return self.kind


@attrs.frozen
class PacketEvent:
    """A TCP packet: ``direction`` ``<`` (injected) or ``>`` (expected).  ``flags`` in
    packetdrill's letters; ``ack``/``win`` None when the script leaves them out; ``options``
    None for ``<...>`` (not checked), else the options in order (empty: none)."""

    line: int
    time: EventTime
    direction: Literal["<", ">"]
    flags: str
    start: int
    end: int
    length: int
    ack: int | None = None
    win: int | None = None
    options: tuple[TcpOpt, ...] | None = ()

    def describe(self) -> str:
        """The packet as a script line would write it (without time and direction)."""
        return describe_packet(
            self.flags, self.start, self.end, self.length, self.ack, self.win, self.options
        )


@attrs.frozen
class SyscallEvent:
    """A system call with its arguments and what it must return: ``ret`` (None for ``...``)
    and, with ``-1``, the errno name (``EINPROGRESS``) or None when not given."""

    line: int
    time: EventTime
    name: str
    args: tuple[Value, ...]
    ret: int | None
    errno: str | None = None


@attrs.frozen
class ShellEvent:
    """A ```shell command``` (its text, backticks removed)."""

    line: int
    time: EventTime
    command: str


@attrs.frozen
class PythonEvent:
    """A ``%{ python }%`` block: Python run with the ``tcp_info`` of the socket under test
    (``tcpi_*``), as packetdrill runs it."""

    line: int
    time: EventTime
    code: str


Event = PacketEvent | SyscallEvent | ShellEvent | PythonEvent


@attrs.frozen
class Script:
    """A parsed script: its events in order and the packetdrill options it sets
    (``--name=value``, without the dashes, as written)."""

    path: str
    events: tuple[Event, ...]
    options: tuple[tuple[str, str], ...] = ()

    def option(self, name: str) -> str | None:
        """The last value the script gives the option ``name`` (``tolerance_usecs``)."""
        found = None
        for key, value in self.options:
            if key == name:
                found = value
        return found


def describe_packet(
    flags: str,
    start: int,
    end: int,
    length: int,
    ack: int | None,
    win: int | None,
    options: tuple[TcpOpt, ...] | None,
) -> str:
    """``P. 1:1001(1000) ack 1 win 257 <nop,nop,TS val 1 ecr 2>``."""
    text = f"{flags} {start}:{end}({length})"
    if ack is not None:
        text += f" ack {ack}"
    if win is not None:
        text += f" win {win}"
    if options is None:
        text += " <...>"
    elif options:
        text += " <" + ",".join(str(o) for o in options) + ">"
    return text


# -- constants ---------------------------------------------------------------------------------

#: the system calls a script may make (the TX path's, and what sets it up)
SYSCALLS: Final = frozenset(
    {
        "socket",
        "setsockopt",
        "getsockopt",
        "bind",
        "listen",
        "accept",
        "connect",
        "write",
        "writev",
        "send",
        "sendto",
        "sendmsg",
        "read",
        "recv",
        "close",
        "shutdown",
        "fcntl",
        "ioctl",
        "recvmsg",
    }
)

#: symbolic constants (Linux's values) a system call argument may name
CONSTANTS: Final[dict[str, int]] = {
    "AF_INET": 2,
    "AF_INET6": 10,
    "PF_INET": 2,
    "PF_INET6": 10,
    "SOCK_STREAM": 1,
    "SOCK_DGRAM": 2,
    "SOCK_NONBLOCK": 0o4000,
    "IPPROTO_IP": 0,
    "IPPROTO_TCP": 6,
    "IPPROTO_UDP": 17,
    "IPPROTO_IPV6": 41,
    "SOL_SOCKET": 1,
    "SOL_IP": 0,
    "SOL_TCP": 6,
    "SOL_IPV6": 41,
    "SO_REUSEADDR": 2,
    "SO_KEEPALIVE": 9,
    "SO_SNDBUF": 7,
    "SO_RCVBUF": 8,
    "SO_REUSEPORT": 15,
    "SO_RCVLOWAT": 18,
    "SO_SNDBUFFORCE": 32,
    "SO_RCVBUFFORCE": 33,
    "SO_ERROR": 4,
    "TCP_NODELAY": 1,
    "TCP_MAXSEG": 2,
    "TCP_CORK": 3,
    "TCP_KEEPIDLE": 4,
    "TCP_KEEPINTVL": 5,
    "TCP_KEEPCNT": 6,
    "TCP_SYNCNT": 7,
    "TCP_LINGER2": 8,
    "TCP_DEFER_ACCEPT": 9,
    "TCP_WINDOW_CLAMP": 10,
    "TCP_QUICKACK": 12,
    "TCP_USER_TIMEOUT": 18,
    "TCP_NOTSENT_LOWAT": 25,
    "TCP_INQ": 36,
    "TCP_CM_INQ": 36,
    "IP_TOS": 1,
    "IP_TTL": 2,
    "IP_MTU_DISCOVER": 10,
    "IP_PMTUDISC_DONT": 0,
    "IP_PMTUDISC_WANT": 1,
    "IP_PMTUDISC_DO": 2,
    "IP_PMTUDISC_PROBE": 3,
    "IPV6_MTU_DISCOVER": 23,
    "IPV6_UNICAST_HOPS": 16,
    "IPV6_TCLASS": 67,
    "SIOCINQ": 0x541B,
    "FIONREAD": 0x541B,
    "SIOCOUTQ": 0x5411,
    "TIOCOUTQ": 0x5411,
    "SIOCOUTQNSD": 0x894B,
    "SIOCATMARK": 0x8905,
    "MSG_OOB": 0x1,
    "MSG_PEEK": 0x2,
    "MSG_DONTWAIT": 0x40,
    "MSG_EOR": 0x80,
    "MSG_WAITALL": 0x100,
    "MSG_MORE": 0x8000,
    "SHUT_RD": 0,
    "SHUT_WR": 1,
    "SHUT_RDWR": 2,
    "F_GETFL": 3,
    "F_SETFL": 4,
    "O_RDONLY": 0,
    "O_WRONLY": 1,
    "O_RDWR": 2,
    "O_NONBLOCK": 0o4000,
}

#: errno names a script may expect (Linux numbers)
ERRNOS: Final[dict[str, int]] = {
    "EPERM": 1,
    "ENOENT": 2,
    "EINTR": 4,
    "EBADF": 9,
    "EAGAIN": 11,
    "EWOULDBLOCK": 11,
    "ENOMEM": 12,
    "EFAULT": 14,
    "EINVAL": 22,
    "EPIPE": 32,
    "ENOPROTOOPT": 92,
    "EOPNOTSUPP": 95,
    "EADDRINUSE": 98,
    "ENETUNREACH": 101,
    "ECONNABORTED": 103,
    "ECONNRESET": 104,
    "EISCONN": 106,
    "ENOTCONN": 107,
    "ETIMEDOUT": 110,
    "ECONNREFUSED": 111,
    "EALREADY": 114,
    "EINPROGRESS": 115,
}

_FLAG_LETTERS: Final = "SFRP.EWU"

# -- statements --------------------------------------------------------------------------------

_TIME_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)"
_TIME_RE: Final = re.compile(rf"^(\*|{_TIME_NUM})(?:\s*(\.\.\.|~)\s*({_TIME_NUM}))?(?=\s|$|`|%)\s*")
_OPTION_RE: Final = re.compile(r"^--([A-Za-z0-9_]+)(?:=(\S*))?$")


def _strip_comments(text: str) -> str:
    """Drop ``/* */`` comments (keeping their newlines) and ``//`` to the end of a line,
    outside backticks and string literals."""
    out: list[str] = []
    i = 0
    n = len(text)
    quote: str | None = None
    while i < n:
        c = text[i]
        if quote is not None:
            out.append(c)
            if c == quote:
                quote = None
            i += 1
        elif c in '`"':
            quote = c
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            end = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, end))
            i = end
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _statements(path: str, text: str) -> Iterator[tuple[int, str]]:
    """The statements of a script with their first line numbers: a line, continued while a
    backtick, a ``%{`` block or a bracket is open."""
    lines = _strip_comments(text).split("\n")
    i = 0
    while i < len(lines):
        first = i
        stmt = lines[i].strip()
        i += 1
        if not stmt:
            continue
        while _open(stmt):
            if i >= len(lines):
                raise ScriptError(path, first + 1, "statement not closed before end of file")
            stmt += "\n" + lines[i].strip()
            i += 1
        yield first + 1, stmt


def _open(stmt: str) -> bool:
    """Does the statement go on over the next line (an open ``%{``, backtick or bracket)?"""
    if "%{" in stmt and "}%" not in stmt.split("%{", 1)[1]:
        return True
    return stmt.count("`") % 2 == 1 or _depth(stmt) > 0


def _depth(text: str) -> int:
    depth = 0
    quote = False
    for c in text:
        if c == '"':
            quote = not quote
        elif not quote and c in "([{":
            depth += 1
        elif not quote and c in ")]}":
            depth -= 1
    return depth


def parse_script(text: str, path: str = "<script>") -> Script:
    """Parse a whole script.  Raises :class:`ScriptError` at the first statement it cannot
    read (``unsupported`` set when the syntax is packetdrill's but not implemented here)."""
    events: list[Event] = []
    options: list[tuple[str, str]] = []
    for line, stmt in _statements(path, text):
        if stmt.startswith("--"):
            m = _OPTION_RE.match(stmt)
            if m is None:
                raise ScriptError(path, line, f"cannot read option line {stmt!r}")
            options.append((m.group(1), m.group(2) or ""))
            continue
        events.append(parse_event(stmt, path, line))
    return Script(path, tuple(events), tuple(options))


def parse_event(stmt: str, path: str = "<script>", line: int = 1) -> Event:
    """Parse one statement (time and event)."""
    m = _TIME_RE.match(stmt)
    if m is None:
        if stmt.startswith(("`", "%{")):
            time = EventTime("rel", 0.0)  # a command before the first event: at the start
            rest = stmt
        else:
            raise ScriptError(path, line, f"expected a time at the start of {_short(stmt)!r}")
    else:
        time = _event_time(m.group(1), m.group(3), m.group(2) == "~")
        rest = stmt[m.end() :]
    if not rest:
        raise ScriptError(path, line, "a time with no event")
    if rest.startswith("`"):
        if not rest.endswith("`"):
            raise ScriptError(path, line, "text after a shell command's closing backtick")
        return ShellEvent(line, time, rest[1:-1].strip())
    if rest.startswith("%{"):
        if not rest.endswith("}%"):
            raise ScriptError(path, line, "text after a %{ python }% block's closing }%")
        return PythonEvent(line, time, rest[2:-2])
    if rest[0] in "<>":
        return _parse_packet(rest, time, path, line)
    return _parse_syscall(rest, time, path, line)


def _event_time(start: str, end: str | None, window: bool = False) -> EventTime:
    if start == "*":
        return EventTime("any")
    kind: Literal["abs", "rel"] = "rel" if start[0] in "+-" else "abs"
    end_value = None if end is None else float(end)
    end_rel = end is not None and end[0] in "+-"
    return EventTime(kind, float(start), end_value, end_rel, window)


def _short(text: str) -> str:
    first = text.split("\n", 1)[0]
    return first if len(first) <= 60 else first[:57] + "..."


# -- packets -----------------------------------------------------------------------------------

_SEQ_RE: Final = re.compile(r"^(\d+):(\d+)\((\d+)\)$")


def _parse_packet(text: str, time: EventTime, path: str, line: int) -> PacketEvent:
    direction: Literal["<", ">"] = "<" if text[0] == "<" else ">"
    body = text[1:].strip()
    opts_text: str | None = None
    if "<" in body:
        at = body.index("<")
        if not body.endswith(">"):
            raise ScriptError(path, line, "TCP options not closed with '>'")
        opts_text = body[at + 1 : -1].strip()
        body = body[:at].strip()
    words = body.split()
    if not words:
        raise ScriptError(path, line, "a packet with no flags")
    head = words[0]
    if head.startswith("[") or head.startswith("("):
        raise ScriptError(path, line, f"IP-level packet annotation {head!r}", unsupported=True)
    if head in ("udp", "icmp", "ipv4", "ipv6", "gre", "mpls"):
        raise ScriptError(path, line, f"{head} packets (only TCP)", unsupported=True)
    if head == "-":  # no flags at all
        head = ""
    for c in head:
        if c not in _FLAG_LETTERS:
            raise ScriptError(path, line, f"unknown TCP flag {c!r} in {head!r}")
    if len(words) < 2:
        raise ScriptError(path, line, "a packet with no sequence range (start:end(len))")
    m = _SEQ_RE.match(words[1])
    if m is None:
        raise ScriptError(path, line, f"cannot read sequence range {words[1]!r}")
    start, end, length = (int(g) for g in m.groups())
    if (end - start) % 2**32 != length:
        raise ScriptError(path, line, f"sequence range {words[1]} is not {length} bytes long")
    ack: int | None = None
    win: int | None = None
    rest = words[2:]
    while rest:
        key = rest.pop(0)
        if key in ("ack", "win") and rest:
            value = rest.pop(0)
            if not value.isdigit():
                raise ScriptError(path, line, f"{key} wants a number, not {value!r}")
            if key == "ack":
                ack = int(value)
            else:
                win = int(value)
        elif key in ("urg", "ecr", "val", "flowlabel", "tos", "ttl"):
            raise ScriptError(path, line, f"packet field {key!r}", unsupported=True)
        else:
            raise ScriptError(path, line, f"cannot read {key!r} in a packet line")
    options: tuple[TcpOpt, ...] | None = ()
    if opts_text is not None:
        options = None if opts_text == "..." else _parse_options(opts_text, path, line)
    return PacketEvent(line, time, direction, head, start, end, length, ack, win, options)


def _parse_options(text: str, path: str, line: int) -> tuple[TcpOpt, ...]:
    out: list[TcpOpt] = []
    for item in (s.strip() for s in text.split(",")):
        words = item.split()
        if not words:
            raise ScriptError(path, line, "an empty TCP option")
        kind = words[0]
        try:
            if kind in ("nop", "eol", "sackOK") and len(words) == 1:
                out.append(TcpOpt(kind))
            elif kind in ("mss", "wscale") and len(words) == 2:
                out.append(TcpOpt(kind, (int(words[1], 0),)))
            elif kind == "TS" and len(words) == 5 and words[1] == "val" and words[3] == "ecr":
                out.append(TcpOpt("TS", (int(words[2], 0), int(words[4], 0))))
            elif kind == "sack" and len(words) >= 2:
                values: list[int] = []
                for block in words[1:]:
                    left, _, right = block.partition(":")
                    values += [int(left), int(right)]
                out.append(TcpOpt("sack", tuple(values)))
            elif kind in ("FO", "FOEXP", "md5", "mpcapable", "dss", "mp_join", "exp", "tfo"):
                raise ScriptError(path, line, f"TCP option {item!r}", unsupported=True)
            else:
                raise ScriptError(path, line, f"cannot read TCP option {item!r}")
        except ValueError:
            raise ScriptError(path, line, f"cannot read TCP option {item!r}") from None
    return tuple(out)


# -- system calls ------------------------------------------------------------------------------

_TOKEN_RE: Final = re.compile(
    r"\s*(?:(\.\.\.)|(-?0[xX][0-9a-fA-F]+|-?\d+)|([A-Za-z_][A-Za-z0-9_]*)|(\"(?:[^\"\\]|\\.)*\")"
    r"|([\[\]{}(),|=&]))"
)
_RET_RE: Final = re.compile(
    r"^(-?0[xX][0-9a-fA-F]+|-?\d+|\.\.\.)(?:\s+([A-Z][A-Z0-9]*))?(?:\s*\(.*\))?\s*$", re.S
)


def _parse_syscall(text: str, time: EventTime, path: str, line: int) -> SyscallEvent:
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", text)
    if m is None:
        raise ScriptError(path, line, f"cannot read event {_short(text)!r}")
    name = m.group(1)
    if name not in SYSCALLS:
        raise ScriptError(path, line, f"system call {name}()", unsupported=True)
    # the argument list runs to the ')' that closes the one after the name
    depth = 0
    close = -1
    quote = False
    for i in range(m.end() - 1, len(text)):
        c = text[i]
        if c == '"':
            quote = not quote
        elif quote:
            continue
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                close = i
                break
    if close < 0:
        raise ScriptError(path, line, f"{name}(: argument list not closed")
    args = _Args(text[m.end() : close], path, line).parse_list(None)
    tail = text[close + 1 :].strip()
    if not tail.startswith("="):
        raise ScriptError(path, line, f"{name}() without '= result'")
    rm = _RET_RE.match(tail[1:].strip())
    if rm is None:
        raise ScriptError(path, line, f"cannot read the result {tail!r}")
    ret = None if rm.group(1) == "..." else int(rm.group(1), 0)
    err = rm.group(2)
    if err is not None and err not in ERRNOS:
        raise ScriptError(path, line, f"errno {err}", unsupported=True)
    return SyscallEvent(line, time, name, tuple(args), ret, err)


class _Args:
    """A recursive-descent reader of a system call's argument list."""

    def __init__(self, text: str, path: str, line: int) -> None:
        self.path = path
        self.line = line
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m is None or m.end() == pos:
                raise ScriptError(path, line, f"cannot read the arguments at {text[pos:]!r}")
            pos = m.end()
            kinds = ("any", "int", "name", "str", "punct")
            for kind, group in zip(kinds, m.groups(), strict=True):
                if group is not None:
                    self.tokens.append((kind, group))
                    break
        self.pos = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        tok = self._peek()
        if tok is None:
            raise ScriptError(self.path, self.line, "arguments end too early")
        self.pos += 1
        return tok

    def _expect(self, punct: str) -> None:
        tok = self._take()
        if tok != ("punct", punct):
            raise ScriptError(self.path, self.line, f"expected {punct!r}, found {tok[1]!r}")

    def parse_list(self, closer: str | None) -> list[Value]:
        items: list[Value] = []
        if closer is None and self._peek() is None:
            return items
        if closer is not None and self._peek() == ("punct", closer):
            self._take()
            return items
        while True:
            items.append(self.parse_value())
            tok = self._peek()
            if tok is None and closer is None:
                return items
            tok = self._take()
            if closer is not None and tok == ("punct", closer):
                return items
            if tok != ("punct", ","):
                raise ScriptError(self.path, self.line, f"unexpected {tok[1]!r} in arguments")

    def parse_value(self) -> Value:
        kind, text = self._take()
        if kind == "any":
            return ANY
        if kind == "str":
            return text[1:-1]
        if kind == "punct" and text == "[":
            return Array(tuple(self.parse_list("]")))
        if kind == "punct" and text == "{":
            return self._struct()
        if kind == "punct" and text == "&":
            raise ScriptError(self.path, self.line, "'&' address arguments", unsupported=True)
        if kind in ("int", "name"):
            value = self._atom(kind, text)
            while self._peek() == ("punct", "|"):
                self._take()
                value |= self._atom(*self._take())
            return value
        raise ScriptError(self.path, self.line, f"unexpected {text!r} in arguments")

    def _atom(self, kind: str, text: str) -> int:
        if kind == "int":
            return int(text, 0)
        if kind == "name":
            if text in CONSTANTS:
                return CONSTANTS[text]
            if self._peek() == ("punct", "("):
                raise ScriptError(self.path, self.line, f"expression {text}(...)", unsupported=True)
            raise ScriptError(self.path, self.line, f"symbol {text}", unsupported=True)
        raise ScriptError(self.path, self.line, f"expected a number, found {text!r}")

    def _struct(self) -> Struct:
        fields: list[tuple[str | None, Value]] = []
        if self._peek() == ("punct", "}"):
            self._take()
            return Struct(())
        while True:
            key: str | None = None
            tok = self._peek()
            nxt = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
            if tok is not None and tok[0] == "name" and nxt is not None and nxt[1] in ("=", "("):
                self._take()
                key = tok[1]
                if nxt[1] == "(":  # msg_iov(1)=...: a count, kept in the name
                    self._take()
                    count = self._take()
                    self._expect(")")
                    key += f"({count[1]})"
                self._expect("=")
            fields.append((key, self.parse_value()))
            end = self._take()
            if end == ("punct", "}"):
                return Struct(tuple(fields))
            if end != ("punct", ","):
                raise ScriptError(self.path, self.line, f"unexpected {end[1]!r} in a struct")
