"""The trio face of an emulated socket: :class:`Socket`, a ``trio.socket.SocketType``.

Everything trio itself calls is here — async ``bind``/``connect``/``accept``/``send``/
``sendto``/``sendmsg``/``recv``/``recvfrom``/``recv_into``/``recvfrom_into``/``recvmsg``/
``wait_writable``; sync ``listen``/``shutdown``/``setsockopt``/``getsockopt``/``close``/
``getsockname``/``getpeername``/``is_readable``/``fileno``/``did_shutdown_SHUT_WR`` — so
``trio.SocketStream`` and trio's own helpers work on it unchanged.

How a call runs (trio's ``_nonblocking_helper`` shape): a cancellation check, then the sans-IO
core; if the core raises :class:`~netsim.sock.SockWait` the task parks on the socket's wait
queue until a wake-up (data, buffer space, an error, a close) and tries again; a call that
succeeds without sleeping ends with a cancel-shielded checkpoint, so every call is a checkpoint
(one that slept has had it, as with trio's own sockets).  ``MSG_DONTWAIT`` turns the wait into
``EAGAIN``.  Errors are ``OSError`` with Linux's errno; a call on a closed socket is ``EBADF``;
a task blocked when another task closes the socket gets ``trio.ClosedResourceError``, as with
trio's real sockets.
"""

from __future__ import annotations

import socket as _stdlib_socket
import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

import trio

from ..errors import errno, kernel_error
from ..sock.addr import format_sockaddr, parse_sockaddr, scope_id
from ..sock.constants import (
    AF_INET,
    AF_INET6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    MSG_CTRUNC,
    MSG_DONTWAIT,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
    SO_LINGER,
    SOCK_CLOEXEC,
    SOCK_DGRAM,
    SOCK_NONBLOCK,
    SOCK_STREAM,
    SOL_TCP,
    TCP_CM_INQ,
)
from ..sock.iov import MsgIter
from ..sock.options import OptValue, sock_getsockopt, sock_setsockopt
from ..sock.sock import (
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
    TCP_CLOSE,
    TCP_CLOSING,
    TCP_FIN_WAIT1,
    TCP_LAST_ACK,
    TCP_SYN_SENT,
    Sock,
    SockWait,
    WaitQueue,
    sock_writeable,
)
from ..sock.sysctl import HZ
from ..tcp import TcpSock, tcp_bind, tcp_ioctl, tcp_listen
from ..tcp.recvmsg import tcp_inq_hint
from ..tcp.sendmsg import tcp_sendmsg_cmsgs
from ..udp import (
    UdpSock,
    udp_bind,
    udp_connect,
    udp_disconnect,
    udp_ioctl,
    udp_recv_would_wait,
    udp_recvmsg,
    udp_sendmsg,
)
from .tcp import tcp_accept_async, tcp_connect_async, tcp_recvmsg_async, tcp_sendmsg_async
from .tls import tls_recvmsg_async, tls_rx_ctx, tls_rx_poll, tls_sendmsg_async, tls_tx_ctx

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from .host import Host

__all__ = ["Socket"]

T = TypeVar("T")


class TrioWaitQueue(WaitQueue):
    """``sk->sk_wq`` for trio: a ``ParkingLot`` every wake-up unparks.  :meth:`park` keeps
    ``sleepers`` (what the core's callbacks test before they wake anyone)."""

    __slots__ = ("lot",)

    def __init__(self) -> None:
        super().__init__()
        self.lot = trio.lowlevel.ParkingLot()

    async def park(self) -> None:
        """Sleep until the next wake-up (or a cancellation)."""
        self.sleepers += 1
        try:
            await self.lot.park()
        finally:
            self.sleepers -= 1

    def wake(self) -> None:
        self.lot.unpark_all()


def _new_sock(host: Host, family: int, type_: int, proto: int) -> Sock:
    if family not in (AF_INET, AF_INET6):
        raise kernel_error(errno.EAFNOSUPPORT)
    base = type_ & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)
    if base == SOCK_DGRAM:
        if proto not in (0, IPPROTO_UDP):
            raise kernel_error(errno.EPROTONOSUPPORT)
        return UdpSock(host.net, family, SOCK_DGRAM, IPPROTO_UDP)
    if base == SOCK_STREAM:
        if proto not in (0, IPPROTO_TCP):
            raise kernel_error(errno.EPROTONOSUPPORT)
        return TcpSock(host.net, family, SOCK_STREAM, IPPROTO_TCP)
    raise kernel_error(errno.ESOCKTNOSUPPORT)


#: ``sizeof(struct cmsghdr)``: a control buffer smaller than this takes no message at all
_CMSGHDR: Final = 16


class Socket(trio.socket.SocketType):
    """An emulated socket on a :class:`~netsim.runtime.Host`.  ``sock.sk`` is the kernel side.

    ``sock.sk`` is the kernel's ``struct sock`` (:class:`netsim.sock.Sock`): its queues,
    buffers and counters, for inspection.  Where a send's payload bytes go is decided there,
    by ``sk_page_frag()`` (include/net/sock.h, net/core/sock.c):

    * ``sock.sk.sk_use_task_frag`` — ``True`` by default (``sock_init_data``): every send
      copies into the **calling trio task's** fragment allocator, ``current->task_frag``, one
      per task per host, shared by every socket the task writes to and drained when the task
      exits (as ``do_exit`` does).  ``False``: the socket uses its own ``sk_frag``.  The
      kernel clears it on sockets memory reclaim can use (NFS's sunrpc, NBD, iSCSI, NVMe/TCP),
      since reclaim can nest inside a socket operation and re-enter ``sk_page_frag()`` while
      the task frag is in use.  No socket option sets it; assign it before the first send
      (``sock.sk.sk_use_task_frag = False``).
    * ``sock.sk.sk_frag`` — the socket's own allocator (``sk->sk_frag``): ``None`` until a send
      needs it with ``sk_use_task_frag`` false, then of the host's kind (``page_frag`` or
      ``page_frag_cache``), drained when the socket is destroyed (``__sk_destruct``).

    Uncorked UDP always uses the task frag, whatever ``sk_use_task_frag`` says:
    ``ip_make_skb()`` passes ``&current->task_frag`` (net/ipv4/ip_output.c; IPv6:
    ``ip6_make_skb()``); only a corked datagram (``MSG_MORE``, ``UDP_CORK``) goes through
    ``sk_page_frag()``.  ``host.render_pages()`` shows each allocator's page and cursor.
    """

    def __init__(self, host: Host, family: int, type_: int, proto: int) -> None:
        super().__init__()
        self._host = host
        self._sk = _new_sock(host, family, type_, proto)
        host.net.sockets.add(self._sk)
        self._wq = TrioWaitQueue()
        self._sk.sk_wq = self._wq
        self._family = family
        self._type = type_ & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)
        self._proto = self._sk.sk_protocol
        #: the kernel socket when it is TCP's (the send/recv fast paths test it)
        self._tcp_sk: TcpSock | None = self._sk if isinstance(self._sk, TcpSock) else None
        self._fd = host._next_fd
        host._next_fd += 1
        self._closed = False
        self._did_shutdown_wr = False
        self._waiting: set[str] = set()

    @classmethod
    def _from_sk(cls, host: Host, sk: Sock, family: int) -> Socket:
        """Wrap a kernel socket that already exists (an accepted connection)."""
        sock = cls.__new__(cls)
        trio.socket.SocketType.__init__(sock)
        sock._host = host
        sock._sk = sk
        sock._wq = TrioWaitQueue()
        sk.sk_wq = sock._wq
        sock._family = family
        sock._type = SOCK_STREAM
        sock._proto = sk.sk_protocol
        sock._tcp_sk = sk if isinstance(sk, TcpSock) else None
        sock._fd = host._next_fd
        host._next_fd += 1
        sock._closed = False
        sock._did_shutdown_wr = False
        sock._waiting = set()
        host._sockets.add(sock)
        return sock

    def _tcp(self) -> TcpSock:
        sk = self._sk
        assert isinstance(sk, TcpSock)
        return sk

    # -- identity -------------------------------------------------------------------------------

    @property
    def sk(self) -> Sock:
        """The kernel-side socket (``struct sock``), for inspection: ``help(sock.sk)``.
        ``sk.sk_use_task_frag`` and ``sk.sk_frag`` choose the fragment allocator sends copy
        into (the class docstring tells how)."""
        return self._sk

    @property
    def tcp_sk(self) -> TcpSock:
        """The kernel-side TCP socket (``tcp_sk(sk)``): write and retransmit queues,
        sequence numbers, congestion state.  ``TypeError`` for a non-TCP socket."""
        sk = self._sk
        if not isinstance(sk, TcpSock):
            raise TypeError(f"{self!r} is not a TCP socket")
        return sk

    @property
    def host(self) -> Host:
        """The host this socket lives on."""
        return self._host

    @property
    def family(self) -> _stdlib_socket.AddressFamily:
        return _stdlib_socket.AddressFamily(self._family)

    @property
    def type(self) -> _stdlib_socket.SocketKind:
        return _stdlib_socket.SocketKind(self._type)

    @property
    def proto(self) -> int:
        return self._proto

    @property
    def did_shutdown_SHUT_WR(self) -> bool:
        return self._did_shutdown_wr

    def fileno(self) -> int:
        """A per-host descriptor number; -1 once closed (trio's ``SocketStream`` checks it)."""
        return -1 if self._closed else self._fd

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._fd}"
        return f"<netsim.Socket {self._host.name} {state} {self._sk!r}>"

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the blocking machinery -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise kernel_error(errno.EBADF)

    async def _park(self, direction: str) -> None:
        """Sleep on the socket's wait queue until a wake-up.  Like trio's ``wait_readable`` /
        ``wait_writable``, only one task may wait in each direction: a second one gets
        ``trio.BusyResourceError``.  A task woken by ``close()`` gets ``ClosedResourceError``."""
        if direction in self._waiting:
            raise trio.BusyResourceError(f"another task is already {direction} this socket")
        self._waiting.add(direction)
        try:
            await self._wq.park()
        finally:
            self._waiting.discard(direction)
        if self._closed:
            raise trio.ClosedResourceError("another task closed this socket")

    def _task(self) -> Any:
        return self._host.task_context()

    # -- addresses ------------------------------------------------------------------------------

    async def _resolve(
        self, address: Any, *, local: bool = False, caller: str = "connect"
    ) -> tuple[bytes, int]:
        """The address ``bind``/``connect``/``sendto`` were given, as the core takes it:
        ``(packed address, port)``.  As trio's own sockets do it
        (``trio.socket.SocketType._resolve_address_nocp``): a tuple of the family's shape
        (``ValueError`` otherwise); a numeric address as is; else ``getaddrinfo`` on this
        host's resolver (``host.hosts``, ``localhost``, inet_aton forms such as ``127.1``),
        with ``AI_PASSIVE`` for ``bind`` ("" is the wildcard, for connect the loopback) and, on
        an ``AF_INET6`` socket without ``IPV6_V6ONLY``, ``AI_V4MAPPED`` — so ``"127.0.0.1"``
        and ``"localhost"`` work there too; ``"<broadcast>"`` is ``255.255.255.255``.  A name
        it cannot resolve is ``socket.gaierror``, as with trio."""
        family = self._family
        if family == AF_INET:
            if not isinstance(address, tuple) or len(address) != 2:
                raise ValueError("address should be a (host, port) tuple")
        elif not isinstance(address, tuple) or not 2 <= len(address) <= 4:
            raise ValueError("address should be a (host, port, [flowinfo, [scopeid]]) tuple")
        host, port = address[0], address[1]
        if isinstance(port, int) and isinstance(host, str) and _is_numeric(family, host):
            return parse_sockaddr(family, address, caller)
        if host == "":
            host = None
        elif host == "<broadcast>":
            host = "255.255.255.255"
        flags = _stdlib_socket.AI_PASSIVE if local else 0
        if family == AF_INET6 and not self._sk.ipv6_v6only:
            flags |= _stdlib_socket.AI_V4MAPPED
        from .network import HostResolver

        infos = await HostResolver(self._host).getaddrinfo(
            host, port, family, self._type, self._proto, flags
        )
        normed = infos[0][4]
        if family == AF_INET6:
            normed = (*normed[:2], *address[2:])
        return parse_sockaddr(family, normed, caller)

    def getsockname(self) -> tuple[Any, ...]:
        self._check_open()
        sk = self._sk
        return format_sockaddr(self._family, sk.inet_rcv_saddr or sk.inet_saddr, sk.inet_sport)

    def getpeername(self) -> tuple[Any, ...]:
        """``inet_getname(peer=1)``: ``ENOTCONN`` without a peer port (a UDP socket connected
        to port 0 has none), and also while connecting or once closed (``SYN_SENT``/``CLOSE``)
        — a reset TCP connection, or one whose TIME_WAIT has passed to a timewait socket, no
        longer names its peer."""
        self._check_open()
        sk = self._sk
        if not sk.inet_dport or sk.sk_state in (TCP_CLOSE, TCP_SYN_SENT):
            raise kernel_error(errno.ENOTCONN)
        return format_sockaddr(self._family, sk.inet_daddr, sk.inet_dport)

    async def bind(self, address: Any) -> None:
        self._check_open()
        addr, port = await self._resolve(address, local=True, caller="bind")
        await trio.lowlevel.checkpoint()
        self._check_open()
        if isinstance(self._sk, UdpSock):
            udp_bind(self._sk, addr, port, scope_id(address))
        else:
            tcp_bind(self._tcp(), addr, port, scope_id(address))

    async def connect(self, address: Any) -> None:
        """``connect(2)``.  As with trio's own sockets, a connect that is cancelled — before
        or while it waits for the handshake — closes the socket ("we can't really cancel a
        connect, and the socket is in an indeterminate state"): later calls say ``EBADF``,
        and a half-open connection is aborted, not left in ``SYN_SENT``."""
        try:
            await self._connect(address)
        except trio.Cancelled:
            self.close()
            raise

    async def _connect(self, address: Any) -> None:
        sk = self._sk
        if isinstance(sk, UdpSock):
            await trio.lowlevel.checkpoint_if_cancelled()
            self._check_open()
            if isinstance(address, tuple) and len(address) >= 1 and address[0] is None:
                self._host.now()
                udp_disconnect(sk)
            else:
                addr, port = await self._resolve(address)
                self._check_open()
                self._host.now()
                udp_connect(sk, addr, port, scope_id(address))
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        await tcp_connect_async(self, address)

    async def disconnect(self) -> None:
        """``connect(AF_UNSPEC)``: forget a UDP peer."""
        await trio.lowlevel.checkpoint()
        self._check_open()
        if isinstance(self._sk, UdpSock):
            udp_disconnect(self._sk)

    # -- sending --------------------------------------------------------------------------------

    async def send(self, data: Buffer, flags: int = 0) -> int:
        sk = self._tcp_sk
        if sk is not None:  # TCP: no address, no ancillary data: tcp_sendmsg
            if sk.icsk_ulp_ops is not None and tls_tx_ctx(sk) is not None:
                return await tls_sendmsg_async(self, MsgIter((data,)), flags, None)
            return await tcp_sendmsg_async(self, MsgIter((data,)), flags)
        return await self._sendmsg((data,), (), flags, None, "send")

    async def sendto(self, data: Buffer, *args: Any) -> int:
        if len(args) == 1:
            flags, address = 0, args[0]
        elif len(args) == 2:
            flags, address = args
        else:
            raise TypeError(f"sendto() takes 2 or 3 arguments ({len(args) + 1} given)")
        return await self._sendmsg([data], (), flags, address, "sendto")

    async def sendmsg(
        self,
        buffers: Iterable[Buffer],
        ancdata: Iterable[tuple[int, int, Buffer]] = (),
        flags: int = 0,
        address: Any | None = None,
    ) -> int:
        return await self._sendmsg(buffers, ancdata, flags, address, "sendmsg")

    async def _sendmsg(
        self,
        buffers: Iterable[Buffer],
        ancdata: Iterable[tuple[int, int, Buffer]],
        flags: int,
        address: Any | None,
        caller: str,
    ) -> int:
        msg = MsgIter(buffers)
        sk = self._sk
        # the address is read (and must be valid) even where the protocol ignores it (TCP)
        addr = await self._resolve(address, caller=caller) if address is not None else None
        if isinstance(sk, UdpSock):
            cmsgs = [(level, kind, bytes(data)) for level, kind, data in ancdata] or None
            return await self._udp_sendmsg(sk, msg, flags, addr, cmsgs)
        cmsgs = [(level, kind, bytes(data)) for level, kind, data in ancdata] if ancdata else []
        tcp_sk = self._tcp_sk
        if tcp_sk is not None and tcp_sk.icsk_ulp_ops is not None and tls_tx_ctx(tcp_sk):
            return await tls_sendmsg_async(self, msg, flags, cmsgs)
        if cmsgs:
            tcp_sendmsg_cmsgs(cmsgs)
        return await tcp_sendmsg_async(self, msg, flags)

    async def _udp_sendmsg(
        self,
        sk: UdpSock,
        msg: MsgIter,
        flags: int,
        addr: tuple[bytes, int] | None,
        cmsgs: list[tuple[int, int, bytes]] | None,
    ) -> int:
        """``sendmsg`` on a UDP socket (waiting for ``sk_sndbuf`` room unless
        ``MSG_DONTWAIT``): :meth:`_run`'s loop, written out for the per-datagram path."""
        await trio.lowlevel.checkpoint_if_cancelled()
        host = self._host
        net = host.net
        clock = host.clock
        waited = False
        while True:
            if self._closed:
                raise kernel_error(errno.EBADF)
            net.now = clock.current_time()
            try:
                sent = udp_sendmsg(sk, host.task_context(), msg, flags, addr, cmsgs)
            except SockWait:
                if flags & MSG_DONTWAIT:
                    raise kernel_error(errno.EAGAIN) from None
                await self._park("writing to")
                waited = True
                continue
            if not waited:  # as trio's own sockets: a call that slept has had its checkpoint
                await trio.lowlevel.cancel_shielded_checkpoint()
            return sent

    async def wait_writable(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        sk = self._sk
        while not self._closed and not self._writable(sk):
            await self._park("writing to")
        self._check_open()
        await trio.lowlevel.cancel_shielded_checkpoint()

    def _writable(self, sk: Sock) -> bool:
        """The poll test for ``EPOLLOUT``: ``tcp_poll()``'s for TCP (which also arms the
        ``SOCK_NOSPACE`` wake-up), ``sock_writeable()`` for datagrams."""
        if sk.sk_err or sk.sk_shutdown & SEND_SHUTDOWN:
            return True
        writable = getattr(sk, "stream_poll_writable", None)
        if writable is not None:
            return bool(writable())
        return sock_writeable(sk)

    # -- receiving ------------------------------------------------------------------------------

    async def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if bufsize == 0 and isinstance(bufsize, int):
            return await self._recv_nothing(b"")
        data, _, _ = await self._recvmsg(bufsize, flags, None, want_addr=False)
        assert isinstance(data, bytes)
        return data

    async def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: int = 0) -> int:
        view = _writable(buffer, "recv_into")
        size = len(view)
        if not nbytes:
            if not size and isinstance(nbytes, int):
                return await self._recv_nothing(0)
            sk = self._tcp_sk
            if sk is not None and sk.icsk_ulp_ops is None:  # TCP, the whole buffer
                n, _, _ = await tcp_recvmsg_async(self, size, flags, view)
                assert isinstance(n, int)
                return n
        n, _, _ = await self._recvmsg(nbytes or size, flags, view, "recv_into", want_addr=False)
        assert isinstance(n, int)
        return n

    async def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        data, addr = await self._recv(bufsize, flags, None)
        assert isinstance(data, bytes)
        return data, addr

    async def recvfrom_into(
        self, buffer: Buffer, nbytes: int = 0, flags: int = 0
    ) -> tuple[int, Any]:
        view = _writable(buffer, "recvfrom_into")
        n, addr, _ = await self._recvmsg(nbytes or len(view), flags, view, "recvfrom_into")
        assert isinstance(n, int)
        return n, addr

    async def recvmsg(
        self, bufsize: int, ancbufsize: int = 0, flags: int = 0
    ) -> tuple[bytes, list[tuple[int, int, bytes]], int, Any]:
        if tls_rx_ctx(self._tcp_sk) is not None:
            self._recv_checks(bufsize, None, "recvmsg")
            data, cmsgs, msg_flags = await tls_recvmsg_async(self, bufsize, flags, None, ancbufsize)
            assert isinstance(data, bytes)
            return data, cmsgs, msg_flags, None
        data, addr, msg_flags = await self._recvmsg(bufsize, flags, None)
        assert isinstance(data, bytes)
        tcp_sk = self._tcp_sk
        if tcp_sk is not None and tcp_sk.recvmsg_inq:
            # tcp_recvmsg(): TCP_INQ's hint, put_cmsg()'d into what room the caller gave
            inq = struct.pack("=i", tcp_inq_hint(tcp_sk))
            if ancbufsize < _CMSGHDR:
                return data, [], msg_flags | MSG_CTRUNC, addr
            room = ancbufsize - _CMSGHDR
            if room < len(inq):
                msg_flags |= MSG_CTRUNC
            return data, [(SOL_TCP, TCP_CM_INQ, inq[:room])], msg_flags, addr
        return data, [], msg_flags, addr

    async def _udp_recvmsg(
        self, sk: UdpSock, bufsize: int, flags: int, into: memoryview | None, want_addr: bool
    ) -> tuple[bytes | int, Any, int]:
        """``recvmsg`` on a UDP socket: :meth:`_run`'s loop, written out for the per-datagram
        path (no closure per call)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        host = self._host
        net = host.net
        clock = host.clock
        nonblock = bool(flags & MSG_DONTWAIT)
        waited = False
        while True:
            if self._closed:
                raise kernel_error(errno.EBADF)
            net.now = clock.current_time()
            if not nonblock and udp_recv_would_wait(sk):
                await self._park("reading from")
                waited = True
                continue
            try:
                data, (saddr, sport), msg_flags = udp_recvmsg(
                    sk, bufsize, flags, nonblock, into, want_addr
                )
            except SockWait:
                if nonblock:
                    raise kernel_error(errno.EAGAIN) from None
                await self._park("reading from")
                waited = True
                continue
            if not waited:  # as trio's own sockets: a call that slept has had its checkpoint
                await trio.lowlevel.cancel_shielded_checkpoint()
            addr = format_sockaddr(self._family, saddr, sport) if saddr and want_addr else None
            return data, addr, msg_flags

    async def _recv_nothing(self, result: T) -> T:
        """CPython's ``recv``/``recv_into`` of 0 bytes makes no system call
        (``sock_recv_guts``: "if 0 bytes were requested, do nothing"): nothing is taken off
        the queue, no error is reported — only trio's checkpoints remain."""
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_open()
        await trio.lowlevel.cancel_shielded_checkpoint()
        return result

    async def _recv(
        self, bufsize: int, flags: int, into: memoryview | None
    ) -> tuple[bytes | int, Any]:
        data, addr, _ = await self._recvmsg(bufsize, flags, into)
        return data, addr

    async def _recvmsg(
        self,
        bufsize: int,
        flags: int,
        into: memoryview | None,
        name: str = "recv",
        want_addr: bool = True,
    ) -> tuple[bytes | int, Any, int]:
        """The checks Python's socket methods make before the system call (so a bad
        argument costs nothing: no datagram is taken off the queue), then the receive.
        ``want_addr`` False (``recv``, ``recv_into``): the sender's address is not
        formatted (it is None)."""
        self._recv_checks(bufsize, into, name)
        sk = self._sk
        if isinstance(sk, UdpSock):
            return await self._udp_recvmsg(sk, bufsize, flags, into, want_addr)
        tcp_sk = self._tcp_sk
        if tcp_sk is not None and tcp_sk.icsk_ulp_ops is not None and tls_rx_ctx(tcp_sk):
            data, _, msg_flags = await tls_recvmsg_async(self, bufsize, flags, into, 0)
            return data, None, msg_flags
        return await tcp_recvmsg_async(self, bufsize, flags, into)

    def _recv_checks(self, bufsize: int, into: memoryview | None, name: str) -> None:
        if not isinstance(bufsize, int):
            raise TypeError(
                f"'{type(bufsize).__name__}' object cannot be interpreted as an integer"
            )
        if bufsize < 0:
            raise ValueError(f"negative buffersize in {name}")
        if into is not None and bufsize > len(into):
            raise ValueError("buffer too small for requested bytes")

    def is_readable(self) -> bool:
        sk = self._sk
        if self._closed:
            return True
        ctx = tls_rx_ctx(self._tcp_sk)
        if ctx is not None and self._tcp_sk is not None:
            # kTLS: a whole record (or decrypted bytes) waiting, not TCP's queue (tls_sk_poll)
            return tls_rx_poll(self._tcp_sk, ctx)
        readable = getattr(sk, "stream_readable", None)
        if readable is not None:
            return bool(readable())
        return bool(sk.sk_receive_queue or sk.sk_err or sk.sk_shutdown & RCV_SHUTDOWN)

    # -- the rest -------------------------------------------------------------------------------

    def setsockopt(  # type: ignore[override]
        self, level: int, optname: int, value: OptValue | None, optlen: int | None = None
    ) -> None:
        self._check_open()
        self._host.now()
        sock_setsockopt(self._sk, level, optname, value, optlen)

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> Any:
        self._check_open()
        self._host.now()  # what depends on the time (TCP_INFO's tcpi_last_data_recv) is now
        return sock_getsockopt(self._sk, level, optname, buflen)

    def ioctl(self, request: int) -> int:
        """The socket ioctls that answer with a number, as ``fcntl.ioctl(fd, request, buf)``
        would fill ``buf`` on Linux: ``SIOCINQ``/``FIONREAD`` (TCP: bytes ``recv`` could read
        now, the FIN not counted; UDP: the next datagram's payload size, 0 with none),
        ``SIOCOUTQ``/``TIOCOUTQ`` (TCP: bytes not yet acknowledged; UDP: bytes still held
        below the socket), ``SIOCOUTQNSD`` (TCP: bytes not yet sent) and ``SIOCATMARK``
        (TCP: 1 when the next byte read is the urgent mark — ``sockatmark(3)``).
        ``EINVAL`` on a TCP listener but for ``SIOCATMARK``; ``ENOTTY`` for any other
        request (net/ipv4/tcp.c ``tcp_ioctl``, net/ipv4/udp.c ``udp_ioctl``)."""
        self._check_open()
        self._host.now()
        sk = self._sk
        if isinstance(sk, UdpSock):
            return udp_ioctl(sk, request)
        return tcp_ioctl(self._tcp(), request)

    def listen(self, backlog: int = 128) -> None:
        self._check_open()
        sk = self._sk
        if isinstance(sk, UdpSock):
            raise kernel_error(errno.EOPNOTSUPP)
        self._host.now()
        tcp_listen(self._tcp(), backlog)

    async def accept(self) -> tuple[Socket, Any]:
        sk = self._sk
        if isinstance(sk, UdpSock):
            await trio.lowlevel.checkpoint()
            self._check_open()
            raise kernel_error(errno.EOPNOTSUPP)
        return await tcp_accept_async(self)

    def shutdown(self, flag: int) -> None:
        self._check_open()
        if flag not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise kernel_error(errno.EINVAL)
        sk = self._sk
        self._host.now()
        how = flag + 1  # SHUT_RD -> RCV_SHUTDOWN, SHUT_WR -> SEND_SHUTDOWN, RDWR -> both
        shutdown = getattr(sk, "shutdown", None)
        if shutdown is not None:
            shutdown(how)
        else:
            not_connected = sk.sk_state == TCP_CLOSE
            sk.sk_shutdown |= how
            sk.sk_state_change()
            if flag in (SHUT_WR, SHUT_RDWR):
                self._did_shutdown_wr = True
            if not_connected:
                raise kernel_error(errno.ENOTCONN)
        if flag in (SHUT_WR, SHUT_RDWR):
            self._did_shutdown_wr = True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._host._sockets.discard(self)
        if not self._host.net.closed:
            self._host.now()
        close = getattr(self._sk, "close", None)
        if close is not None:
            close()
        else:
            self._sk.release()
        self._wq.wake()

    async def aclose(self) -> None:
        """``close(2)`` as Linux runs it with ``SO_LINGER`` on and a time: close, then wait —
        in trio time — while the connection is still sending (``FIN_WAIT1``, ``CLOSING``,
        ``LAST_ACK``: ``sk_stream_wait_close``), at most the linger time.  Without a linger
        time it is :meth:`close` and a checkpoint.  The socket is closed even if the wait is
        cancelled (trio's ``aclose`` rule); what was queued keeps going out either way, as
        on Linux, which does not discard data when the time runs out.

        :meth:`close` itself, being synchronous (as ``trio.socket.SocketType.close`` is),
        never waits: a zero linger time resets the connection there too."""
        sk = self._sk
        lingering = (
            not self._closed
            and isinstance(sk, TcpSock)
            and SO_LINGER in sk.sk_flags
            and sk.sk_lingertime > 0
        )
        self.close()
        if not lingering:
            await trio.lowlevel.checkpoint()
            return
        deadline = trio.current_time() + sk.sk_lingertime / HZ
        with trio.move_on_at(deadline):
            while sk.sk_state in (TCP_FIN_WAIT1, TCP_CLOSING, TCP_LAST_ACK):
                await self._wq.park()
        await trio.lowlevel.checkpoint_if_cancelled()

    def detach(self) -> int:
        fd = self.fileno()
        self.close()
        return fd

    def dup(self) -> NoReturn:
        raise kernel_error(errno.EOPNOTSUPP, "dup() of an emulated socket")

    def get_inheritable(self) -> bool:
        return False

    def set_inheritable(self, inheritable: bool) -> None:
        return None


def _writable(buffer: Any, name: str) -> memoryview:
    """``buffer`` as a writable byte view, or the ``TypeError`` Python's ``recv_into`` /
    ``recvfrom_into`` raise before receiving anything."""
    try:
        view = memoryview(buffer)
    except TypeError:
        view = None
    if view is None or view.readonly:
        kind = "None" if buffer is None else type(buffer).__name__
        raise TypeError(f"{name}() argument 1 must be read-write bytes-like object, not {kind}")
    if view.format == "B" and view.ndim == 1 and view.c_contiguous:
        return view  # a bytearray's view is already what the core writes into
    return view.cast("B")


def _is_numeric(family: int, host: str) -> bool:
    """``inet_pton(family, host)`` succeeds."""
    try:
        _stdlib_socket.inet_pton(family, host)
    except (OSError, ValueError):
        return False
    return True
