"""The differential harness: one case function runs on a real kernel socket and on a netsim
socket, and each observable step is recorded in a form that compares across runs.

A case is ``async def case(env: Env) -> None``.  It makes sockets with ``env.socket()`` (a
``trio.socket.SocketType`` either way: a blocking kernel socket behind trio's socket API —
:class:`blocking.BlockingSocket`, the reference netsim models — or :class:`netsim.Socket`) and
passes every call whose answer matters through ``await env.step(label, call)``, which records

* ``ok <value>`` — the call returned (the value rendered by :func:`render`);
* ``errno <NAME>`` — an ``OSError`` with Linux's errno (``gaierror <EAI_...>`` from the
  resolver);
* ``raises <Type>`` — another exception (``TypeError`` from Python's argument checks …);
* ``blocks`` — the call was still waiting after :data:`STEP_TIMEOUT` seconds: on the kernel
  its own ``SO_RCVTIMEO``/``SO_SNDTIMEO`` ended it (or it returned only then: a
  ``MSG_WAITALL`` read cut short); on netsim (virtual time) it was cancelled, or returned only
  once the time was up.  A case that needs other tasks asleep in their calls before its next
  step awaits :meth:`Env.settle`.

Ports the case chose are rendered by name (``P1``, ``P2``, ``P3``: :attr:`Env.p1` …), ports
from the ephemeral range as ``EPHEMERAL``; addresses are strings, bytes are ``repr``\\ ed.

The two sides never mix: :func:`run_linux` runs each case under a plain ``trio.run`` (real
clock, real sockets — ideally in a private network namespace holding only ``lo``, as a netsim
host does: :func:`enter_private_netns`); :func:`run_netsim` runs it on a fresh
``netsim.open_host()`` under ``MockClock(autojump_threshold=0)``, whose exit is netsim's page
leak check.

The expected table (``expected.json``, written by ``record.py``) holds each case's steps as
recorded on a live kernel, with that kernel's release; :func:`render_docs` turns it into the
generated part of ``docs/misuse.md``.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import inspect
import json
import os
import platform
import random
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
import trio.testing
from blocking import STEP, Blocked, BlockingSocket, InFlight, threads_asleep

import netsim

__all__ = [
    "AREAS",
    "CASES",
    "DOCS",
    "EXPECTED",
    "HERE",
    "ROOT",
    "STEP_TIMEOUT",
    "Case",
    "Env",
    "LinuxEnv",
    "NetsimEnv",
    "Steps",
    "case",
    "dump_table",
    "enter_private_netns",
    "iter_cases",
    "kernel_release",
    "load_table",
    "render",
    "render_docs",
    "run_linux",
    "run_netsim",
    "table_steps",
]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXPECTED = HERE / "expected.json"
DOCS = ROOT / "docs" / "misuse.md"

#: How long a step may wait before it counts as ``blocks``: on the kernel the socket's own
#: ``SO_RCVTIMEO``/``SO_SNDTIMEO`` (real seconds), on netsim a cancellation (virtual seconds).
#: Only the few cases that show "this blocks" wait this long.
STEP_TIMEOUT = 0.2
#: On the kernel, a step still running this long after the kernel's timeout should have ended
#: it is cancelled and recorded as ``blocks`` too (a safety net: it should not happen).
SAFETY_TIMEOUT = 2.0
#: A whole case, as a safety net: a case that hangs is recorded as ``timeout``.
CASE_TIMEOUT = 10.0

Steps = list[tuple[str, str]]

# -- the case registry ------------------------------------------------------------------------

#: The areas of docs/misuse.md, in order: key -> heading.
AREAS = {
    "bind": "Addresses and bind()",
    "connect": "connect()",
    "listen": "listen() and accept()",
    "io": "send() and recv(), and their flags",
    "close": "shutdown() and close()",
    "sol_socket": "Options at SOL_SOCKET",
    "sol_ip": "Options at SOL_IP and SOL_IPV6",
    "sol_tcp": "Options at SOL_TCP and SOL_UDP",
    "udp": "UDP datagrams",
    "dualstack": "IPv6 dual stack",
}


@dataclass(frozen=True)
class Case:
    """One differential case: ``fn`` runs on either side; ``doc`` says what it does, ``note``
    what surprises people about Linux's answer (both go into docs/misuse.md)."""

    name: str
    area: str
    doc: str
    note: str
    fn: Callable[[Env], Awaitable[None]]


CASES: dict[str, Case] = {}


def case(
    area: str, note: str = "", *, name: str = "", doc: str = ""
) -> Callable[[Callable[[Env], Awaitable[None]]], Callable[[Env], Awaitable[None]]]:
    """Register ``async def name(env)`` as a case in ``area`` (a key of :data:`AREAS`); its
    docstring (or ``doc``) says what it does.  ``name`` overrides the function's name (for
    cases made in a loop)."""
    if area not in AREAS:
        raise ValueError(f"unknown area {area!r}")

    def register(fn: Callable[[Env], Awaitable[None]]) -> Callable[[Env], Awaitable[None]]:
        key = name or fn.__name__
        if key in CASES:
            raise ValueError(f"case {key} defined twice")
        text = " ".join((doc or fn.__doc__ or "").split())
        CASES[key] = Case(key, area, text, " ".join(note.split()), fn)
        return fn

    return register


# -- rendering --------------------------------------------------------------------------------


#: Linux's own names where Python's errno module prefers an alias.
_ERRNO_NAMES = {errno.EOPNOTSUPP: "EOPNOTSUPP", errno.EAGAIN: "EAGAIN", errno.EDEADLK: "EDEADLK"}


def errno_name(code: int) -> str:
    """``EOPNOTSUPP`` for 95 (Python says ``ENOTSUP``), and so on."""
    return _ERRNO_NAMES.get(code) or errno.errorcode.get(code, str(code))


def outcome_of(exc: BaseException) -> str:
    """The recorded form of an exception a step raised."""
    if isinstance(exc, Blocked):
        return "blocks"
    if isinstance(exc, socket.gaierror):
        names = {
            getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_")
        }  # fmt: skip
        return f"gaierror {names.get(exc.errno or 0, exc.errno)}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"errno {errno_name(exc.errno)}"
    return f"raises {type(exc).__name__}"


class Renderer:
    """Turns a call's value into text that compares across runs and machines."""

    def __init__(self, ports: Sequence[int], port_range: tuple[int, int]) -> None:
        self.names = {port: f"P{i}" for i, port in enumerate(ports, 1)}
        self.port_range = port_range

    def port(self, port: int) -> str:
        if port in self.names:
            return self.names[port]
        low, high = self.port_range
        if low <= port <= high:
            return "EPHEMERAL"
        return str(port)

    def __call__(self, value: Any) -> str:
        if isinstance(value, trio.socket.SocketType):
            return "<socket>"
        if isinstance(value, tuple) and _is_address(value):
            parts = [repr(value[0]), self.port(value[1]), *(str(v) for v in value[2:])]
            return "(" + ", ".join(parts) + ")"
        if isinstance(value, tuple | list):
            inner = ", ".join(self(v) for v in value)
            if isinstance(value, tuple) and len(value) == 1:
                inner += ","
            return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
        if isinstance(value, bytes | bytearray | memoryview):
            return repr(bytes(value))
        if value is None or isinstance(value, bool | str):
            return repr(value)
        if isinstance(value, int):  # IntFlag / IntEnum values as plain numbers
            return str(int(value))
        return type(value).__name__


def _is_address(value: tuple[Any, ...]) -> bool:
    return (
        len(value) in (2, 4)
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def render(value: Any, ports: Sequence[int] = (), port_range: tuple[int, int] = (0, -1)) -> str:
    """A value as a step records it (ports named as in ``ports``)."""
    return Renderer(ports, port_range)(value)


# -- environments -----------------------------------------------------------------------------


class Env:
    """What a case sees: sockets, its three ports, and :meth:`step`."""

    #: "linux" or "netsim"
    kind = ""

    def __init__(self, ports: Sequence[int], port_range: tuple[int, int]) -> None:
        self.ports = list(ports)
        self.results: Steps = []
        self.render = Renderer(ports, port_range)
        self._sockets: list[trio.socket.SocketType] = []

    @property
    def p1(self) -> int:
        return self.ports[0]

    @property
    def p2(self) -> int:
        return self.ports[1]

    @property
    def p3(self) -> int:
        return self.ports[2]

    def _new_socket(self, family: int, type_: int, proto: int) -> trio.socket.SocketType:
        raise NotImplementedError

    def socket(
        self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM, proto: int = 0
    ) -> trio.socket.SocketType:
        """A new socket of this side, closed when the case ends."""
        sock = self._new_socket(family, type, proto)
        self._sockets.append(sock)
        return sock

    async def step(
        self,
        label: str,
        op: Callable[..., Any] | Awaitable[Any],
        *args: Any,
        show: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Run ``op`` — an awaitable, or a callable (given ``args``) returning a value or an
        awaitable — record its outcome under ``label`` (the value passed through ``show``
        first, if given) and return its value: ``None`` when it raised or blocked."""
        value: Any = None
        outcome = ""
        try:
            result = op(*args) if callable(op) else op
            if inspect.isawaitable(result):
                value, blocked = await self._await(result)
                if blocked:
                    outcome = "blocks"
            else:
                value = result
        except Exception as exc:
            outcome = outcome_of(exc)
        if not outcome:
            self._track(value)
            shown = show(value) if show is not None else value
            outcome = f"ok {self.render(shown)}"
        else:
            value = None
        self.results.append((label, outcome))
        return value

    async def _await(self, awaitable: Awaitable[Any]) -> tuple[Any, bool]:
        """Await a call: ``(value, blocked)``.  A call blocks if it was still waiting after
        :data:`STEP_TIMEOUT` — even if it then returned something (a ``MSG_WAITALL`` read cut
        short)."""
        raise NotImplementedError

    async def settle(self) -> None:
        """Wait until every other task of the case is asleep in its call (so the next step
        deterministically finds them waiting)."""
        raise NotImplementedError

    def note(self, label: str, value: Any) -> None:
        """Record a value the case computed (no call of its own)."""
        self.results.append((label, f"ok {self.render(value)}"))

    def adopt(self, sock: trio.socket.SocketType) -> trio.socket.SocketType:
        """Close ``sock`` (a socket ``accept()`` made outside a step) when the case ends."""
        self._sockets.append(sock)
        return sock

    def _track(self, value: Any) -> None:
        if isinstance(value, tuple) and value and isinstance(value[0], trio.socket.SocketType):
            self._sockets.append(value[0])

    def close_all(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()


class LinuxEnv(Env):
    """Real sockets of the machine's kernel: blocking ones, behind trio's socket API
    (:class:`blocking.BlockingSocket`), each step bounded by the kernel's own
    ``SO_RCVTIMEO``/``SO_SNDTIMEO`` of :data:`STEP_TIMEOUT`."""

    kind = "linux"

    def __init__(self, ports: Sequence[int], port_range: tuple[int, int]) -> None:
        super().__init__(ports, port_range)
        self.in_flight: InFlight = set()

    def _new_socket(self, family: int, type_: int, proto: int) -> trio.socket.SocketType:
        return BlockingSocket.new(family, type_, proto, STEP_TIMEOUT, self.in_flight)

    async def _await(self, awaitable: Awaitable[Any]) -> tuple[Any, bool]:
        # the kernel's timeouts end a blocked call (Blocked); this deadline is only a safety
        # net for one they do not bound
        token = STEP.set(True)
        try:
            with trio.move_on_after(SAFETY_TIMEOUT):
                try:
                    return await awaitable, False
                except Blocked:
                    return None, True
            return None, True
        finally:
            STEP.reset(token)

    async def settle(self) -> None:
        await trio.testing.wait_all_tasks_blocked()
        deadline = time.monotonic() + SAFETY_TIMEOUT
        # nothing signals "this thread is asleep in the kernel": poll /proc
        while not threads_asleep(self.in_flight) and time.monotonic() < deadline:  # noqa: ASYNC110
            await trio.sleep(0.001)


class NetsimEnv(Env):
    """Emulated sockets on a netsim host."""

    kind = "netsim"

    def __init__(self, host: netsim.Host, ports: Sequence[int]) -> None:
        low, high = host.net.sysctl_vec("net.ipv4.ip_local_port_range")
        super().__init__(ports, (low, high))
        self.host = host

    async def _await(self, awaitable: Awaitable[Any]) -> tuple[Any, bool]:
        # virtual time: the step timeout is a cancellation
        with trio.move_on_after(STEP_TIMEOUT) as scope:
            value = await awaitable
            return value, scope.cancel_called  # returned, but only once the time was up
        return None, True

    async def settle(self) -> None:
        await trio.testing.wait_all_tasks_blocked()

    def _new_socket(self, family: int, type_: int, proto: int) -> trio.socket.SocketType:
        return self.host.socket(family, type_, proto)


async def _run_case(env: Env, the_case: Case) -> None:
    with trio.move_on_after(CASE_TIMEOUT) as scope:
        try:
            await the_case.fn(env)
        except Exception as exc:  # a case that stops half-way: a difference in itself
            env.results.append(("<case aborted>", outcome_of(exc)))
    if scope.cancelled_caught:
        env.results.append(("<case aborted>", "timeout"))
    env.close_all()


#: The ports netsim cases use (any free ones do: an emulated host is empty).
NETSIM_PORTS = (20001, 20002, 20003)


def run_netsim(the_case: Case, allocator: str = "page_frag_cache") -> Steps:
    """Run a case on a fresh emulated host (virtual time); leaving the host is netsim's page
    leak check, which raises if anything was left referenced."""

    async def main() -> Steps:
        async with netsim.open_host(allocator=allocator) as host:
            env = NetsimEnv(host, NETSIM_PORTS)
            await _run_case(env, the_case)
        return env.results

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# -- the live kernel --------------------------------------------------------------------------


def _port_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except OSError:
        return (32768, 60999)
    return int(low), int(high)


def _port_free(port: int) -> bool:
    """Can both TCP and UDP bind ``port`` on every address (IPv4 and, where present, IPv6)?"""
    for type_ in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            try:
                with socket.socket(family, type_) as s:
                    if family == socket.AF_INET6:
                        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    s.bind((host, port))
            except OSError as exc:
                if family == socket.AF_INET6 and exc.errno in (
                    errno.EAFNOSUPPORT,
                    errno.EADDRNOTAVAIL,
                ):
                    continue
                return False
    return True


def _free_ports(rng: random.Random, count: int = 3) -> list[int]:
    """Ports below the ephemeral range that nothing uses now."""
    low, _ = _port_range()
    ports: list[int] = []
    while len(ports) < count:
        port = rng.randrange(20000, min(low, 32768))
        if port not in ports and _port_free(port):
            ports.append(port)
    return ports


def run_linux(cases: Sequence[Case], seed: int | None = None) -> dict[str, Steps]:
    """Run each case on the live kernel's blocking sockets (real time, one ``trio.run`` each)."""
    rng = random.Random(seed)
    out: dict[str, Steps] = {}
    port_range = _port_range()
    for the_case in cases:
        ports = _free_ports(rng)

        async def main(c: Case = the_case, ports: list[int] = ports) -> Steps:
            env = LinuxEnv(ports, port_range)
            await _run_case(env, c)
            return env.results

        out[the_case.name] = trio.run(main)
    return out


CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def enter_private_netns() -> str:
    """Move this (single-threaded) process into a new network namespace with only ``lo``,
    up — what a netsim host has.  Returns a description of where the cases will run."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        return f"the current network namespace (unshare(CLONE_NEWNET): {os.strerror(err)})"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, ifr)[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))
    return "a private network namespace with only lo"


def kernel_release() -> str:
    return platform.release()


# -- the table --------------------------------------------------------------------------------


def load_table(path: Path = EXPECTED) -> dict[str, dict[str, Any]]:
    """``{case: {"kernel": release, "steps": [[label, outcome], ...]}}``."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    cases: dict[str, dict[str, Any]] = data["cases"]
    return cases


def table_steps(entry: dict[str, Any]) -> Steps:
    return [(label, outcome) for label, outcome in entry["steps"]]


def dump_table(table: dict[str, dict[str, Any]], path: Path = EXPECTED) -> None:
    """Write the table, cases in registry order, one step per line (diff-friendly)."""
    lines = ["{", '  "format": 1,', '  "cases": {']
    names = [n for n in CASES if n in table] + sorted(n for n in table if n not in CASES)
    for i, name in enumerate(names):
        entry = table[name]
        lines.append(f"    {json.dumps(name)}: {{")
        lines.append(f'      "kernel": {json.dumps(entry["kernel"])},')
        lines.append('      "steps": [')
        steps = entry["steps"]
        for j, (label, outcome) in enumerate(steps):
            comma = "," if j < len(steps) - 1 else ""
            lines.append(f"        [{json.dumps(label)}, {json.dumps(outcome)}]{comma}")
        lines.append("      ]")
        lines.append("    }" + ("," if i < len(names) - 1 else ""))
    lines += ["  }", "}", ""]
    path.write_text("\n".join(lines))


# -- docs/misuse.md ---------------------------------------------------------------------------

BEGIN = "<!-- BEGIN GENERATED by tests/differential/record.py: do not edit below -->"
END = "<!-- END GENERATED -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _answer(outcome: str) -> str:
    kind, _, rest = outcome.partition(" ")
    if kind == "ok":
        return "ok" if rest == "None" else f"`{rest}`"
    if kind in ("errno", "gaierror"):
        return f"**{rest}**"
    if kind == "raises":
        return f"*{rest}*"
    return f"*{outcome}*"


def _steps_cell(steps: Steps) -> str:
    return "<br>".join(f"`{_cell(label)}` → {_cell(_answer(outcome))}" for label, outcome in steps)


def render_docs(
    table: dict[str, dict[str, Any]],
    divergences: dict[str, str],
    deliberate: Mapping[str, tuple[str, Steps]],
    text: str | None = None,
) -> str:
    """docs/misuse.md with its generated part rebuilt from ``table``, the known divergences
    and the deliberate ones (``{case: (reason, netsim's steps)}``)."""
    if text is None:
        text = DOCS.read_text()
    head, sep, rest = text.partition(BEGIN)
    if not sep:
        raise ValueError(f"{DOCS} has no {BEGIN!r} marker")
    _, sep, tail = rest.partition(END)
    if not sep:
        raise ValueError(f"{DOCS} has no {END!r} marker")
    kernels = sorted({entry["kernel"] for entry in table.values()})
    same = len(table) - len(divergences) - len(deliberate)
    out = [BEGIN, ""]
    out.append(
        f"{len(table)} cases, recorded on Linux {', '.join(kernels)} (blocking sockets); "
        f"netsim answers {same} of them as Linux does, {len(deliberate)} differently on "
        f"purpose, and {len(divergences)} differently today (**netsim today:** below)."
    )
    for area, heading in AREAS.items():
        names = [n for n, c in CASES.items() if c.area == area and n in table]
        if not names:
            continue
        out += ["", f"### {heading}", "", "| case | calls → what Linux answers | notes |"]
        out.append("|---|---|---|")
        for name in names:
            c = CASES[name]
            notes = [_cell(c.note)] if c.note else []
            if name in divergences:
                notes.append(f"**netsim today:** {_cell(divergences[name])}")
            if name in deliberate:
                reason, steps = deliberate[name]
                changed = [
                    s for s, t in zip(steps, table_steps(table[name]), strict=False) if s != t
                ]
                notes.append(f"**netsim, on purpose:** {_steps_cell(changed)} — {_cell(reason)}")
            out.append(
                f"| `{name}`<br>{_cell(c.doc)} | {_steps_cell(table_steps(table[name]))} "
                f"| {' '.join(notes)} |"
            )
    out += ["", END]
    return head + "\n".join(out) + tail


def iter_cases(names: Sequence[str] = ()) -> Iterator[Case]:
    """The registered cases (all, or those named)."""
    if not names:
        yield from CASES.values()
        return
    for name in names:
        if name not in CASES:
            raise KeyError(f"no case named {name!r}")
        yield CASES[name]
