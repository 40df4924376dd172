"""Links that leave the process: a host's :class:`~netsim.dev.remote.RemoteLinkDevice` whose
wire is a trio byte stream — a Unix socket between two netsim processes
(:func:`open_unix_link`, what ``netsim nc --link unix:PATH`` uses) or any ``trio.abc.Stream``
(:func:`open_stream_link`; tests join two hosts of one run with ``memory_stream_pair``).

Wire protocol
-------------
Each end first sends one line, ``netsim-link/1 mtu=<MTU> name=<host>\\n``; the ends must agree
on the version and the MTU, or the link is refused with ``EPROTO`` / ``EINVAL``.  A listener
serves one peer at a time, so the connecting end waits for the listener's hello as long as it
takes (a second client queues while the first one's transfer runs, as a second ``nc`` waits
in a busy ``nc -l -k``'s backlog); the listening end gives a peer ``_HELLO_TIMEOUT`` seconds.
Then each frame is a 4-byte big-endian length and the frame's bytes: an IPv4 or IPv6 packet
with complete checksums, as a NIC puts it on the wire.  The end that listens takes the ``.2``
addresses (``10.0.0.2/24``, ``fd00::2/64``), the end that connects the ``.1`` ones, like
:func:`netsim.link`'s ``b`` and ``a``; each makes the link its default route.

Two pump tasks move frames: one takes frames from the device's TX ring, writes them (a batch
per ``send_all``) and then reports TX completion — the skbs are freed only once their bytes
are in the stream, so a slow peer pushes back on the sender's sockets as a slow NIC does; the
other reads frames and hands them to the device's receive path, in softirq context, 64 at a
time (a NAPI poll's budget) with a checkpoint between, so receiving tasks drain their sockets
as they would on another CPU.  When the
peer goes away the carrier drops: transmits are dropped (``tx_carrier_errors``) and TCP's
timers see a dead link, as with a pulled cable.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import math
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from ..dev.remote import RemoteLinkDevice
from ..errors import exception_leaves, kernel_error

if TYPE_CHECKING:
    from .host import Host

__all__ = ["StreamLink", "open_stream_link", "open_unix_link"]

VERSION = b"netsim-link/1"
_HELLO_TIMEOUT = 10.0
_MAX_HELLO = 256
_BATCH = 64  # frames per send_all
_NAPI_WEIGHT = 64  # frames per softirq run (a NAPI poll's budget), then the readers run
_READ = 1 << 18  # bytes per receive_some
_MAX_FRAME = 1 << 17  # larger length prefixes are a protocol error, not a frame
_BACKLOG = 64  # clients queued on the Unix socket while a listener serves one


class StreamLink:
    """A host's end of a link whose wire is a byte stream.

    Attributes:
        dev: the host's :class:`~netsim.dev.remote.RemoteLinkDevice`.
        peer_name: the peer host's name, once a peer has said hello.
        peers: how many peers have connected so far.
        finished: a ``trio.Event`` set once the last peer has gone.
        frames_sent, frames_received: frames written to and read from the stream.
    """

    def __init__(
        self,
        host: Host,
        *,
        listen_side: bool,
        mtu: int = 1500,
        csum_offload: bool = False,
        devname: str = "eth0",
    ) -> None:
        self.host = host
        self.listen_side = listen_side
        self.dev = RemoteLinkDevice(devname, mtu=mtu, csum_offload=csum_offload)
        n = 2 if listen_side else 1
        addrs = [f"10.0.0.{n}/24"] + ([f"fd00::{n}/64"] if mtu >= 1280 else [])  # IPv6 min MTU
        host.net.add_device(self.dev, addrs)
        host.net.set_default_route(devname)
        self.local_addrs = (f"10.0.0.{n}", f"fd00::{n}")
        self.peer_addrs = (f"10.0.0.{3 - n}", f"fd00::{3 - n}")
        self.peer_name: str | None = None
        self.peers = 0
        self.frames_sent = 0
        self.frames_received = 0
        #: peers refused (a bad hello) by a listener that keeps listening
        self.refused: list[OSError] = []
        #: called with each refused peer's error by a listener that keeps listening (after
        #: it is added to :attr:`refused`); an exception it raises ends the listening and
        #: leaves :func:`open_unix_link`
        self.on_refused: Callable[[OSError], None] | None = None
        #: set when no further peer will come (the peer left, and no ``keep``)
        self.finished = trio.Event()
        self._doorbell = trio.Event()
        self._changed = trio.Event()
        self._drained = trio.Event()
        self.dev.on_xmit = self._ring

    @property
    def mtu(self) -> int:
        """The link's MTU."""
        return self.dev.mtu

    @property
    def carrier(self) -> bool:
        """Is a peer connected?"""
        return self.dev.carrier

    async def wait_carrier(self, on: bool = True) -> None:
        """Wait until a peer is connected (``on``) or gone (``not on``)."""
        while self.dev.carrier != on:
            if on and self.finished.is_set():
                raise kernel_error(errno.ENOTCONN, "the link has no peer and expects none")
            await self._changed.wait()

    async def wait_gone(self, peer: int) -> None:
        """Wait until peer number ``peer`` (the value of :attr:`peers` while it was
        connected) has gone — even if another peer has connected since."""
        while self.peers == peer and self.dev.carrier:
            await self._changed.wait()

    def _finish(self) -> None:
        self.finished.set()
        self._changed.set()
        self._changed = trio.Event()

    async def drain(self) -> None:
        """Wait until every frame posted on the device's TX ring is in the stream (or was
        dropped with the carrier): what a sender awaits before it exits."""
        while self.dev.txring:
            self._drained = trio.Event()
            await self._drained.wait()

    def _ring(self) -> None:
        self._doorbell.set()

    def _set_carrier(self, on: bool) -> None:
        net = self.host.net
        net.run_softirq(trio.current_time(), lambda: self.dev.set_carrier(on))
        self._changed.set()
        self._drained.set()
        self._changed = trio.Event()

    async def run_peer(self, stream: trio.abc.Stream) -> None:
        """Carry the wire over ``stream`` until the peer goes away (EOF or a broken stream);
        raises ``OSError`` if the peer's hello does not match (the stream is closed).  The
        connecting end waits for the peer's hello without a time limit (a busy listener
        takes it when its current peer leaves); the listening end allows ``_HELLO_TIMEOUT``."""
        try:
            inbox = bytearray()
            with trio.fail_after(_HELLO_TIMEOUT if self.listen_side else math.inf):
                await self._exchange_hellos(stream, inbox)
        except trio.TooSlowError:
            await trio.aclose_forcefully(stream)
            raise kernel_error(errno.ETIMEDOUT, "the link peer sent no hello") from None
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        self.peers += 1
        self._set_carrier(True)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pump_out, stream)
                await self._pump_in(stream, inbox)
                nursery.cancel_scope.cancel()
        finally:
            if not self.host.closed:
                self._set_carrier(False)
            await trio.aclose_forcefully(stream)

    async def _exchange_hellos(self, stream: trio.abc.Stream, inbox: bytearray) -> None:
        """Send ours and read theirs at once (a stream need not buffer).  A peer that
        refuses ours may close before reading it: its own hello, read here, says why."""

        async def send() -> None:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(self._hello())

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send)
                line = await self._read_hello(stream, inbox)
        except BaseExceptionGroup as group:
            _raise_leaf(group)
            raise
        self._check_hello(line)  # only now: ours is out, so a refused peer learns why

    def _hello(self) -> bytes:
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.host.name)
        return VERSION + f" mtu={self.dev.mtu} name={name}\n".encode()

    async def _read_hello(self, stream: trio.abc.Stream, inbox: bytearray) -> bytes:
        while b"\n" not in inbox:
            if len(inbox) > _MAX_HELLO:
                raise kernel_error(errno.EPROTO, "the link peer is not a netsim link")
            try:
                chunk = await stream.receive_some(_MAX_HELLO)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                chunk = b""
            if not chunk:
                detail = "the link peer closed before its hello"
                if not inbox:
                    raise _SilentPeer(
                        errno.ECONNRESET, f"{os.strerror(errno.ECONNRESET)} ({detail})"
                    )
                raise kernel_error(errno.ECONNRESET, detail)
            inbox += chunk
        line, _, rest = bytes(inbox).partition(b"\n")
        inbox[:] = rest
        return line

    def _check_hello(self, line: bytes) -> None:
        words = line.split()
        if not words or words[0] != VERSION:
            raise kernel_error(
                errno.EPROTO, f"the link peer speaks {line[:40]!r}, not {VERSION.decode()}"
            )
        fields = dict(w.decode(errors="replace").partition("=")[::2] for w in words[1:])
        if fields.get("mtu") != str(self.dev.mtu):
            raise kernel_error(
                errno.EINVAL,
                f"link MTU mismatch: this end {self.dev.mtu}, the peer {fields.get('mtu')}",
            )
        self.peer_name = fields.get("name") or "peer"
        self.host.hosts[self.peer_name] = list(self.peer_addrs)

    async def _pump_out(self, stream: trio.abc.Stream) -> None:
        dev = self.dev
        net = self.host.net
        try:
            while True:
                if not dev.txring:
                    self._doorbell = trio.Event()
                    await self._doorbell.wait()
                frames = dev.tx_frames(_BATCH)
                out = bytearray()
                for frame in frames:
                    out += len(frame).to_bytes(4, "big")
                    out += frame
                await stream.send_all(out)
                count = len(frames)
                self.frames_sent += count
                net.run_softirq(trio.current_time(), functools.partial(dev.tx_complete, count))
                if not dev.txring:
                    self._drained.set()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return  # the peer went away; the reader sees it too

    async def _pump_in(self, stream: trio.abc.Stream, inbox: bytearray) -> None:
        net = self.host.net
        while True:
            frames: list[bytes] = []
            off = 0
            end = len(inbox)
            while end - off >= 4:
                size = int.from_bytes(inbox[off : off + 4], "big")
                if size > _MAX_FRAME:
                    raise kernel_error(errno.EPROTO, f"link frame of {size} bytes: corrupt stream")
                if end - off - 4 < size:
                    break
                frames.append(bytes(inbox[off + 4 : off + 4 + size]))
                off += 4 + size
            if off:
                del inbox[:off]
            for at in range(0, len(frames), _NAPI_WEIGHT):
                batch = frames[at : at + _NAPI_WEIGHT]
                self.frames_received += len(batch)
                net.run_softirq(trio.current_time(), functools.partial(self._deliver, batch))
                if at + _NAPI_WEIGHT < len(frames):
                    await trio.lowlevel.checkpoint()  # the readers get to drain, as on SMP
            try:
                chunk = await stream.receive_some(_READ)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not chunk:
                return
            inbox += chunk

    def _deliver(self, frames: list[bytes]) -> None:
        dev = self.dev
        for frame in frames:
            if len(frame) > dev.mtu or not frame:
                dev.rx_dropped += 1  # rx_length_errors: the NIC drops an oversized frame
                continue
            dev.rx_frame(frame)

    def __repr__(self) -> str:
        state = f"peer {self.peer_name}" if self.carrier else "no carrier"
        return f"<StreamLink {self.host.name}:{self.dev.name} mtu={self.dev.mtu} {state}>"


@asynccontextmanager
async def open_stream_link(
    host: Host,
    stream: trio.abc.Stream,
    *,
    listen_side: bool,
    mtu: int = 1500,
    csum_offload: bool = False,
    devname: str = "eth0",
) -> AsyncIterator[StreamLink]:
    """Give ``host`` a link device whose wire is ``stream`` (its peer: another host, at the
    other end, with ``listen_side`` opposite).  Leaving the block drops the carrier and
    closes the stream."""
    wire = StreamLink(
        host, listen_side=listen_side, mtu=mtu, csum_offload=csum_offload, devname=devname
    )

    async def carry() -> None:
        try:
            await wire.run_peer(stream)
        finally:
            wire._finish()

    async with _carried(wire, carry) as carried:
        yield carried


@asynccontextmanager
async def open_unix_link(
    host: Host,
    path: str,
    *,
    listen: bool,
    keep: bool = False,
    mtu: int = 1500,
    csum_offload: bool = False,
    connect_timeout: float = 5.0,
    devname: str = "eth0",
) -> AsyncIterator[StreamLink]:
    """Join ``host`` to a host in another netsim process over the Unix socket ``path``.

    ``listen``: create the socket and wait for the peer (``nc -l``), taking the ``.2``
    addresses; one peer at a time, and with ``keep`` a new one after each leaves (``-k``).
    Otherwise connect, retrying for up to ``connect_timeout`` seconds while the socket does
    not exist yet or refuses (the listener is still starting), then ``ECONNREFUSED``/
    ``ENOENT`` (at once if the socket's directory does not exist).  A stale socket file
    (nobody accepting) is replaced; a live one is ``EADDRINUSE``, and so is any other file
    at ``path``.  These errors name the path (``OSError.filename``), as ``open()``'s do.
    The block's end drops the carrier; the listener removes its socket."""
    if listen:
        server = await _unix_server(path)
        wire = StreamLink(
            host, listen_side=True, mtu=mtu, csum_offload=csum_offload, devname=devname
        )
        try:
            async with _carried(wire, functools.partial(_accept_loop, wire, server, keep)):
                yield wire
        finally:
            server.close()
            with contextlib.suppress(OSError):
                os.unlink(path)
        return
    stream = await _unix_connect(path, connect_timeout)
    async with open_stream_link(
        host, stream, listen_side=False, mtu=mtu, csum_offload=csum_offload, devname=devname
    ) as wire:
        yield wire


@asynccontextmanager
async def _carried(
    wire: StreamLink, carrier: Callable[[], Awaitable[None]]
) -> AsyncIterator[StreamLink]:
    """Run ``carrier`` (the task that carries the wire) for the duration of the block; a
    link error comes out as the ``OSError`` it is, not wrapped in the nursery's group."""
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(carrier)
            try:
                yield wire
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        _raise_oserror(group)
        raise


def _raise_leaf(group: BaseExceptionGroup[BaseException]) -> None:
    """Raise the one exception (cancellations aside) a nursery wrapped, if there is one."""
    errors = [e for e in exception_leaves(group) if not isinstance(e, trio.Cancelled)]
    if len(errors) == 1:
        raise errors[0] from None


def _raise_oserror(group: BaseExceptionGroup[BaseException]) -> None:
    """If what failed is a link error (``OSError``s, and cancellations), raise the first
    plainly: the caller asked for a link, not for a nursery."""
    errors = [e for e in exception_leaves(group) if not isinstance(e, trio.Cancelled)]
    if errors and all(isinstance(e, OSError) for e in errors):
        raise errors[0] from None


def _path_error(code: int | None, path: str, detail: str | None = None) -> OSError:
    """``OSError(code, strerror, path)`` — what a failed ``bind``/``connect`` on a Unix
    socket path says, naming the path (a socket's own errors do not), with ``detail``."""
    message = os.strerror(code) if code else "invalid Unix socket path"
    return OSError(code, f"{message} ({detail})" if detail else message, path)


async def _unix_server(path: str) -> trio.socket.SocketType:
    """The listening Unix socket at ``path``: a stale socket file (nobody accepting) is
    replaced; a live one is ``EADDRINUSE``, and so is any other file in the way (``bind``
    never replaces a file).  Every error names ``path``."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = 0
    except OSError as exc:
        raise _path_error(exc.errno, path) from None
    if stat.S_ISSOCK(mode):
        try:
            probe = await trio.open_unix_socket(path)
        except ConnectionRefusedError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # stale: its listener is gone
        except OSError as exc:
            raise _path_error(exc.errno, path) from None
        else:
            await probe.aclose()
            raise _path_error(errno.EADDRINUSE, path, "another netsim is listening")
    elif mode:
        kind = "a directory" if stat.S_ISDIR(mode) else "a file that is not a socket"
        raise _path_error(errno.EADDRINUSE, path, f"{kind} is in the way")
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    try:
        await sock.bind(path)
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        raise _path_error(exc.errno, path) from None
    except BaseException:
        sock.close()
        raise
    return sock


class _SilentPeer(ConnectionResetError):
    """A peer that closed without a byte of hello: another listener checking whether the
    socket is live (:func:`_unix_server`), or a client that gave up while it queued.  Not a
    peer at all: the listener takes the next, with or without ``keep``."""


async def _accept_loop(wire: StreamLink, server: trio.socket.SocketType, keep: bool) -> None:
    try:
        while True:
            conn, _ = await server.accept()
            try:
                await wire.run_peer(trio.SocketStream(conn))
            except _SilentPeer:
                continue
            except OSError as exc:
                if not keep:
                    raise
                wire.refused.append(exc)  # a peer that failed its hello; wait for the next one
                if wire.on_refused is not None:
                    wire.on_refused(exc)
                continue
            if not keep:
                return
    finally:
        wire._finish()  # however the listening ends, no further peer will come


async def _unix_connect(path: str, retry_for: float) -> trio.SocketStream:
    folder = os.path.dirname(path) or "."
    if not await trio.Path(folder).is_dir():  # a listener creates its socket, not a directory
        raise _path_error(errno.ENOENT, path, f"no directory {folder}")
    deadline = trio.current_time() + retry_for
    while True:
        try:
            return await trio.open_unix_socket(path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            if trio.current_time() >= deadline:
                code = errno.ENOENT if isinstance(exc, FileNotFoundError) else errno.ECONNREFUSED
                raise _path_error(
                    code, path, "no netsim listening there: netsim nc -l PORT --link unix:PATH"
                ) from None
        except OSError as exc:  # EACCES, ENOTDIR, ...: waiting will not help
            raise _path_error(exc.errno, path) from None
        await trio.sleep(0.05)
