"""The live side's socket: a *blocking* Linux socket behind trio's socket API.

netsim's :class:`netsim.Socket` models a blocking Linux socket driven by trio: each call is the
blocking system call, and where the kernel would sleep (``sk_wait_data``,
``sk_stream_wait_memory``, the wait for a connect) netsim parks the task and resumes the same
call.  trio's own real sockets are not that: they are non-blocking kernel sockets that trio
retries on ``EAGAIN``, which changes several answers (``MSG_WAITALL``, ``MSG_DONTWAIT``, a
second ``connect()``, what a refused ``connect()`` leaves behind).  So the reference the
differential table is recorded from is :class:`BlockingSocket`:

* the kernel socket is blocking (``settimeout(None)``: no ``O_NONBLOCK``; a Python timeout
  would be ``O_NONBLOCK`` plus ``poll()``), and each step is bounded by the kernel's own
  ``SO_RCVTIMEO``/``SO_SNDTIMEO`` (``SO_SNDTIMEO`` bounds ``connect()`` too), set here and never
  part of what a case sees;
* a call that ends with ``EAGAIN``/``EINPROGRESS`` after waiting about that long, or that
  returns only after waiting it (a ``MSG_WAITALL`` read cut short), raised :class:`Blocked`
  — the table's ``blocks``;
* each blocking call runs in a worker thread (``trio.to_thread.run_sync``), so two tasks'
  calls overlap as they would in two threads of a C program;
* what trio does at the *Python* level — which netsim follows, being a
  ``trio.socket.SocketType`` too — is kept, by handing those calls to trio's own socket class
  wrapped around the same descriptor: address resolution (``ValueError`` for a bad tuple,
  ``getaddrinfo()`` with ``AI_PASSIVE``/``AI_V4MAPPED`` for names and wrong-family literals,
  ``""`` and ``"<broadcast>"``), the option calls, ``listen``, ``shutdown``, the names; and
  trio's rules for tasks: a ``connect()`` that is cancelled (here also: one the step timeout
  ends) closes the socket; ``close()`` wakes a task waiting in a call on the socket with
  ``trio.ClosedResourceError``; only one task at a time may wait to read, or to write
  (``trio.BusyResourceError`` for a second one that would have to wait).
"""

from __future__ import annotations

import errno
import select
import socket as _stdlib_socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from trio._socket import _SocketType

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["STEP", "BlockingSocket", "Blocked", "InFlight", "threads_asleep"]

#: What a blocking call the timeout cut short answers (``EALREADY``: a ``connect()`` that waited
#: for another call's handshake).
_TIMED_OUT = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINPROGRESS, errno.EALREADY)
#: ... "after about the timeout": at least this share of it, measured around the system call.
_WAITED = 0.6

_READ = "reading from"
_WRITE = "writing to"


class Blocked(Exception):
    """The system call slept until the step's kernel timeout (``SO_RCVTIMEO``/
    ``SO_SNDTIMEO``) ended it: the step *blocks*.  ``value`` is what it returned, if it
    returned (a ``MSG_WAITALL`` read cut short returns what it had)."""

    def __init__(self, value: Any = None) -> None:
        super().__init__("the call waited for the whole step timeout")
        self.value = value


#: Set while a step runs its call: the kernel's timeout is the step's.
STEP: ContextVar[bool] = ContextVar("STEP", default=False)


class _Call:
    """One blocking system call in a worker thread: its thread (once it runs) and the cancel
    scope ``close()`` uses to wake the task waiting for it."""

    __slots__ = ("done", "scope", "tid")

    def __init__(self) -> None:
        self.tid: int | None = None
        self.scope = trio.CancelScope()
        #: its task has stopped waiting for it (a thread left behind ends at its timeout)
        self.done = False


#: The calls of one environment that are in a worker thread now (for :func:`threads_asleep`).
InFlight = set[_Call]


def _thread_asleep(tid: int) -> bool:
    """Is thread ``tid`` of this process asleep in the kernel, and not on a futex (the GIL,
    a lock) — that is, inside its socket system call?"""
    task = Path(f"/proc/self/task/{tid}")
    try:
        stat = (task / "stat").read_text()
        wchan = (task / "wchan").read_text().strip()
        syscall = (task / "syscall").read_text().split()
    except OSError:  # the thread is gone: it finished its call
        return True
    state = stat.rpartition(")")[2].split()[0]
    if state not in ("S", "D") or not syscall or syscall[0] == "running":
        return False
    if wchan and wchan != "0":
        return "futex" not in wchan
    return True  # no wchan to read: asleep in a system call is the best we can say


def threads_asleep(calls: InFlight) -> bool:
    """Has every call in ``calls`` reached its system call and gone to sleep there?"""
    return all(call.tid is not None and _thread_asleep(call.tid) for call in calls)


class BlockingSocket(trio.socket.SocketType):
    """A blocking kernel socket with trio's socket API (see the module docstring).  Each
    system call that may sleep is bounded by ``timeout`` seconds of the kernel's own
    ``SO_RCVTIMEO``/``SO_SNDTIMEO``; ``in_flight`` is the environment's set of calls now in a
    worker thread."""

    def __init__(self, sock: _stdlib_socket.socket, timeout: float, in_flight: InFlight) -> None:
        super().__init__()
        # trio's own socket class, on the same descriptor, for everything trio does in Python;
        # it makes the descriptor non-blocking, so blocking mode is set again after it
        self._trio = _SocketType(sock)
        self._trio_any: Any = self._trio
        self._sock = sock
        sock.settimeout(None)
        sec = int(timeout)
        timeval = struct.pack("@ll", sec, round((timeout - sec) * 1_000_000))
        sock.setsockopt(_stdlib_socket.SOL_SOCKET, _stdlib_socket.SO_RCVTIMEO, timeval)
        sock.setsockopt(_stdlib_socket.SOL_SOCKET, _stdlib_socket.SO_SNDTIMEO, timeval)
        self._timeout = timeout
        self._in_flight = in_flight
        self._calls: set[_Call] = set()
        self._waiting = {_READ: 0, _WRITE: 0}

    @classmethod
    def new(
        cls, family: int, type_: int, proto: int, timeout: float, in_flight: InFlight
    ) -> BlockingSocket:
        return cls(_stdlib_socket.socket(family, type_, proto), timeout, in_flight)

    # -- the blocking machinery -----------------------------------------------------------------

    def _syscall(
        self, call: _Call, fn: Callable[..., Any], args: tuple[Any, ...], bounded: bool
    ) -> Any:
        """In the worker thread: the system call, timed.  In a step (``bounded``), a call
        that slept for the whole timeout raised :class:`Blocked`, whatever it then answered.
        Outside one (a case's setup, a background task), the timeout is not the end of the
        wait: a call it cut short with nothing to show is made again — for ``connect()`` that
        is the ``EALREADY`` path, which waits for the same handshake — until it finishes or
        its task is cancelled."""
        call.tid = threading.get_native_id()
        while True:
            start = time.monotonic()
            try:
                value = fn(*args)
            except OSError as exc:
                if not self._waited(start):
                    raise
                if bounded or call.done:
                    raise Blocked() from exc
                if exc.errno in _TIMED_OUT:
                    continue
                raise
            if bounded and self._waited(start):
                raise Blocked(value)
            return value

    def _waited(self, start: float) -> bool:
        return time.monotonic() - start >= _WAITED * self._timeout

    def _ready(self, direction: str) -> bool:
        poll = select.poll()
        poll.register(self._sock, select.POLLIN if direction == _READ else select.POLLOUT)
        return bool(poll.poll(0))

    async def _io(self, direction: str | None, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)``, a blocking system call, in a worker thread.  trio's rules: one
        task at a time may wait in each direction (a second one that would have to wait gets
        ``BusyResourceError``); a task whose call ``close()`` interrupts gets
        ``ClosedResourceError`` (the thread is left to finish on its own: the kernel timeout
        ends its call)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if (
            direction is not None
            and self._waiting[direction]
            and self._sock.fileno() != -1
            and not self._ready(direction)
        ):
            raise trio.BusyResourceError(f"another task is already {direction} this socket")
        call = _Call()
        self._calls.add(call)
        self._in_flight.add(call)
        if direction is not None:
            self._waiting[direction] += 1
        try:
            with call.scope:
                return await trio.to_thread.run_sync(
                    self._syscall, call, fn, args, STEP.get(), abandon_on_cancel=True
                )
            raise trio.ClosedResourceError("another task closed this socket")
        finally:
            call.done = True
            self._calls.discard(call)
            self._in_flight.discard(call)
            if direction is not None:
                self._waiting[direction] -= 1

    async def _resolve(self, address: Any, *, local: bool) -> Any:
        return await self._trio._resolve_address_nocp(address, local=local)

    # -- the calls that may sleep ----------------------------------------------------------------

    async def connect(self, address: Any) -> None:
        """Resolve as trio does, then the blocking ``connect(2)``.  As with trio's sockets, a
        connect that is cancelled closes the socket — and so does one the step's timeout ended
        (netsim's step timeout is a cancellation)."""
        try:
            resolved = await self._resolve(address, local=False)
            await self._io(None, self._sock.connect, resolved)
        except (trio.Cancelled, Blocked):
            self.close()
            raise

    async def accept(self) -> tuple[BlockingSocket, Any]:
        sock, addr = await self._io(_READ, self._sock.accept)
        return BlockingSocket(sock, self._timeout, self._in_flight), addr

    async def send(self, data: Buffer, flags: int = 0) -> int:
        n: int = await self._io(_WRITE, self._sock.send, data, flags)
        return n

    async def sendto(self, data: Buffer, *args: Any) -> int:
        # as trio: the last argument is the address, resolved; the stdlib checks the rest
        if args:
            args = (*args[:-1], await self._resolve(args[-1], local=False))
        n: int = await self._io(_WRITE, self._sock.sendto, data, *args)
        return n

    async def sendmsg(
        self,
        buffers: Iterable[Buffer],
        ancdata: Iterable[tuple[int, int, Buffer]] = (),
        flags: int = 0,
        address: Any | None = None,
    ) -> int:
        if address is not None:
            address = await self._resolve(address, local=False)
        n: int = await self._io(_WRITE, self._sock.sendmsg, buffers, ancdata, flags, address)
        return n

    async def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data: bytes = await self._io(_READ, self._sock.recv, bufsize, flags)
        return data

    async def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: int = 0) -> int:
        n: int = await self._io(_READ, self._sock.recv_into, buffer, nbytes, flags)
        return n

    async def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        got: tuple[bytes, Any] = await self._io(_READ, self._sock.recvfrom, bufsize, flags)
        return got

    async def recvfrom_into(
        self, buffer: Buffer, nbytes: int = 0, flags: int = 0
    ) -> tuple[int, Any]:
        got: tuple[int, Any] = await self._io(
            _READ, self._sock.recvfrom_into, buffer, nbytes, flags
        )
        return got

    async def recvmsg(
        self, bufsize: int, ancbufsize: int = 0, flags: int = 0
    ) -> tuple[bytes, list[tuple[int, int, bytes]], int, Any]:
        got: tuple[bytes, list[tuple[int, int, bytes]], int, Any] = await self._io(
            _READ, self._sock.recvmsg, bufsize, ancbufsize, flags
        )
        return got

    # -- the rest: trio's own socket class ----------------------------------------------------

    def close(self) -> None:
        """trio's ``close()`` — after waking each task waiting in a call on this socket with
        ``ClosedResourceError``, as trio's ``notify_closing`` does."""
        for call in list(self._calls):
            call.scope.cancel()
        self._trio.close()

    async def bind(self, address: Any) -> None:
        await self._trio.bind(address)

    def listen(self, backlog: int = 128) -> None:
        self._trio.listen(backlog)

    def shutdown(self, flag: int) -> None:
        self._trio.shutdown(flag)

    def setsockopt(
        self, level: int, optname: int, value: int | Buffer | None, optlen: int | None = None
    ) -> None:
        # trio's own checks of value/optlen (its overloads would have mypy do them here)
        self._trio_any.setsockopt(level, optname, value, optlen)

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> Any:
        return self._trio_any.getsockopt(level, optname, buflen)

    def getsockname(self) -> Any:
        return self._trio.getsockname()

    def getpeername(self) -> Any:
        return self._trio.getpeername()

    def fileno(self) -> int:
        return self._trio.fileno()

    def detach(self) -> int:
        return self._trio.detach()

    def get_inheritable(self) -> bool:
        return self._trio.get_inheritable()

    def set_inheritable(self, inheritable: bool) -> None:
        self._trio.set_inheritable(inheritable)

    def is_readable(self) -> bool:
        return self._trio.is_readable()

    async def wait_writable(self) -> None:
        await self._trio.wait_writable()

    @property
    def family(self) -> _stdlib_socket.AddressFamily:
        return self._trio.family

    @property
    def type(self) -> _stdlib_socket.SocketKind:
        return self._trio.type

    @property
    def proto(self) -> int:
        return self._trio.proto

    @property
    def did_shutdown_SHUT_WR(self) -> bool:
        return self._trio.did_shutdown_SHUT_WR

    def __enter__(self) -> BlockingSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._trio).replace("trio.socket.socket", "BlockingSocket")
