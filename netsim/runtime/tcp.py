"""The waiting half of TCP's system calls: ``connect``, ``send``, ``recv`` and ``accept`` on
an emulated socket, as trio async functions over the sans-IO :mod:`netsim.tcp`.

Where Linux sleeps (``sk_stream_wait_connect``, ``sk_stream_wait_memory``, ``sk_wait_data``,
``inet_csk_wait_for_connect``), the core returns or raises :class:`~netsim.sock.SockWait`;
these functions park the task on the socket's wait queue and call the core again.  A send
that is cancelled after queuing some bytes returns that count (as a signal-interrupted
``send(2)`` does), and so does a ``MSG_WAITALL`` receive that has read some; one cancelled
before queuing or reading anything raises ``trio.Cancelled``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from ..errors import errno, kernel_error
from ..sock.addr import format_sockaddr, scope_id
from ..sock.constants import MSG_DONTWAIT, MSG_OOB, MSG_PEEK, MSG_WAITALL
from ..sock.iov import MsgIter
from ..sock.sock import (
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
    TCP_CLOSE,
    TCP_SYN_RECV,
    TCP_SYN_SENT,
    SockWait,
    sock_error,
)
from ..sock.sysctl import HZ
from ..tcp import TcpSock, tcp_accept, tcp_connect, tcp_recvmsg, tcp_sendmsg
from ..tcp.input import release_sock
from ..tcp.output import TCP_CHRONO_SNDBUF_LIMITED, tcp_chrono_stop
from ..tcp.proto import tcp_disconnect
from ..tls.main import tls_sendmsg

if TYPE_CHECKING:
    from .socket import Socket

__all__ = ["tcp_accept_async", "tcp_connect_async", "tcp_recvmsg_async", "tcp_sendmsg_async"]


def _sk(sock: Socket) -> TcpSock:
    sk = sock._tcp_sk
    assert sk is not None
    return sk


async def tcp_connect_async(sock: Socket, address: Any) -> None:
    """``connect(2)`` on a TCP socket: send the SYN, wait for the handshake to finish."""
    await trio.lowlevel.checkpoint_if_cancelled()
    sock._check_open()
    sk = _sk(sock)
    addr, port = await sock._resolve(address)
    sock._check_open()
    sock._host.now()
    sk.sk_owned_by_user = True
    joining = False
    try:
        tcp_connect(sk, addr, port, scope_id(address))
    except OSError as exc:
        # __inet_stream_connect: EALREADY while another connect() is under way — but a
        # blocking call then waits for that same handshake and shares its outcome
        if exc.errno != errno.EALREADY:
            raise
        joining = True
    finally:
        release_sock(sk)
    while sk.sk_state in (TCP_SYN_SENT, TCP_SYN_RECV):
        if joining:  # the first connect() is the socket's writer; this one only waits
            await sock._wq.park()
            sock._check_open()
        else:
            await sock._park("writing to")
    if sk.sk_state == TCP_CLOSE:
        # __inet_stream_connect(), label sock_error: reset (ECONNREFUSED), SYN retries out
        # (ETIMEDOUT) or an ICMP error; tcp_disconnect() makes the socket reusable
        err = sock_error(sk) or errno.ECONNABORTED
        tcp_disconnect(sk)
        raise kernel_error(err)
    # a later error (the peer reset an established connection) is reported by the next call,
    # not by connect(), as on Linux
    await trio.lowlevel.cancel_shielded_checkpoint()


async def tcp_sendmsg_async(sock: Socket, msg: MsgIter, flags: int, record_type: int = -1) -> int:
    """``send(2)``: queue everything, waiting for buffer space as often as needed.  With a
    ``record_type`` (0..255) the socket's kTLS sends instead (``tls_sendmsg``: records of that
    type), until every record is in TCP."""
    await trio.lowlevel.checkpoint_if_cancelled()
    sk = _sk(sock)
    host = sock._host
    net = host.net
    clock = host.clock
    nonblock = flags & MSG_DONTWAIT
    total = 0
    retried = False
    waited = False
    while True:
        if sock._closed:
            raise kernel_error(errno.EBADF)
        net.now = clock.current_time()
        try:
            if record_type < 0:
                copied, must_wait = tcp_sendmsg(sk, host.task_context(), msg, flags, total)
            else:
                copied, must_wait = tls_sendmsg(sk, host.task_context(), msg, flags, record_type)
        except OSError:
            if total:
                return total
            raise
        total += copied
        # kTLS may still owe TCP the rest of a record when the message is all copied
        if not must_wait or (record_type < 0 and not msg.count):
            break
        if copied:
            retried = False
        if nonblock:
            if total:
                return total
            if record_type < 0 and not sk.sk_write_queue and not sk.tcp_rtx_queue:
                # tcp_sendmsg_locked's out_err (not kTLS's sendmsg): wake an edge-triggered
                # waiter, and nothing is waiting for the send buffer any more
                sk.sk_write_space()
                tcp_chrono_stop(sk, TCP_CHRONO_SNDBUF_LIMITED)
            raise kernel_error(errno.EAGAIN)
        vm_wait = 0.0
        if sk.stream_writable() or sk.sk_err or sk.sk_shutdown & SEND_SHUTDOWN:
            if not retried:
                # sk_wait_event() tests its condition after release_sock(): ACKs processed
                # from the backlog may already have made room, and their wake-up found
                # nobody asleep
                retried = True
                continue
            # room in the socket but no page (memory exhaustion): sk_stream_wait_memory()'s
            # vm_wait, a short random sleep (2 jiffies to HZ/5) before trying again
            vm_wait = (net.rng.randrange(HZ // 5) + 2) / HZ
        retried = False
        waited = True
        try:
            if vm_wait:
                with trio.move_on_after(vm_wait):
                    await sock._park("writing to")
            else:
                await sock._park("writing to")
        except trio.Cancelled:
            if total:
                return total
            raise
    if not waited:  # as trio's own sockets: a call that slept has had its checkpoint
        await trio.lowlevel.cancel_shielded_checkpoint()
    return total


async def tcp_recvmsg_async(
    sock: Socket, bufsize: int, flags: int, into: memoryview | None
) -> tuple[bytes | int, Any, int]:
    """``recv(2)``: wait for data (or EOF, or an error), then read.  ``MSG_OOB`` reads the
    urgent byte and never waits (``MSG_WAITALL`` does not apply to it).  A ``MSG_WAITALL``
    read cancelled after it has taken some bytes returns them (as a signal-interrupted
    ``recv(2)`` does, and as a cancelled send returns its count); one cancelled before it
    read anything raises ``trio.Cancelled``.  ``MSG_PEEK | MSG_WAITALL`` waits until
    ``bufsize`` bytes can be peeked (or the stream can bring no more) and peeks them once."""
    await trio.lowlevel.checkpoint_if_cancelled()
    sk = _sk(sock)
    host = sock._host
    nonblock = bool(flags & MSG_DONTWAIT)
    if not flags & (MSG_WAITALL | MSG_PEEK):
        # the common read (netcat's): one core call, or a wait and another
        net = host.net
        clock = host.clock
        waited = False
        while True:
            if sock._closed:
                raise kernel_error(errno.EBADF)
            net.now = clock.current_time()
            try:
                data, msg_flags = tcp_recvmsg(sk, bufsize, flags, nonblock, into)
            except SockWait:
                # data taken from the backlog in release_sock() woke nobody: test again
                if not sk.stream_readable():
                    await sock._park("reading from")
                    waited = True
                continue
            if not waited:  # as trio's own sockets: a call that slept has had its checkpoint
                await trio.lowlevel.cancel_shielded_checkpoint()
            return data, None, msg_flags
    waitall = bool(flags & MSG_WAITALL) and not flags & MSG_OOB
    peek = bool(flags & MSG_PEEK)
    msg_flags = 0
    got: list[bytes] = []
    total = 0
    peeked = 0  # what the last short peek saw
    waited = False
    while True:
        sock._check_open()
        host.net.now = host.clock.current_time()
        start = 0 if peek else total  # a peek reads from copied_seq again, every time
        want = bufsize - start
        view = into[start:] if into is not None and start else into
        try:
            data, msg_flags = tcp_recvmsg(sk, want, flags & ~MSG_WAITALL, nonblock, view)
        except SockWait:
            # as above: data taken from the backlog in release_sock() woke nobody
            if not sk.stream_readable():
                try:
                    await sock._park("reading from")
                except trio.Cancelled:
                    if total:  # MSG_WAITALL cut short: what was read is returned, not lost
                        break
                    raise
                waited = True
            continue
        except OSError:
            if total:
                break
            raise
        n = data if isinstance(data, int) else len(data)
        if peek:
            got.clear()
            total = 0
        if isinstance(data, bytes):
            got.append(data)
        total += n
        if not waitall or not n or total >= bufsize:
            break
        if nonblock:
            break
        if peek:
            # tcp_recvmsg_locked() peeks on from where it stopped and sleeps for more; here
            # the next peek starts over, once more than this one saw has arrived — unless the
            # stream can bring nothing more (an error, EOF, a close: a short read)
            if sk.sk_err or sk.sk_shutdown & RCV_SHUTDOWN or sk.sock_done:
                break
            if sk.sk_state == TCP_CLOSE:
                break
            if total <= peeked or sk.rcv_nxt - sk.copied_seq <= total:
                try:
                    await sock._park("reading from")
                except trio.Cancelled:
                    break  # a short peek, as a signal would leave it
                waited = True
            peeked = total
    if not waited:  # as trio's own sockets: a call that slept has had its checkpoint
        await trio.lowlevel.cancel_shielded_checkpoint()
    # tcp_recvmsg() fills no msg_name: recvfrom()/recvmsg() on a TCP socket give None
    if into is not None:
        return total, None, msg_flags
    return (got[0] if len(got) == 1 else b"".join(got)), None, msg_flags


async def tcp_accept_async(sock: Socket) -> tuple[Socket, Any]:
    """``accept(2)``: wait for an established connection; wrap it in a new :class:`Socket`."""
    from .socket import Socket as SocketType

    await trio.lowlevel.checkpoint_if_cancelled()
    sk = _sk(sock)
    while True:
        sock._check_open()
        sock._host.now()
        child = tcp_accept(sk)
        if child is not None:
            break
        await sock._park("reading from")
    new = SocketType._from_sk(sock._host, child, sock._family)
    await trio.lowlevel.cancel_shielded_checkpoint()
    # __sys_accept4 names the peer with getname(peer=2), which skips inet_getname's state
    # check: a connection reset before accept() still says who it was
    return new, format_sockaddr(sock._family, child.inet_daddr, child.inet_dport)
