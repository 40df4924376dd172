"""``tcp_recvmsg`` (net/ipv4/tcp.c ``tcp_recvmsg_locked``), ``tcp_cleanup_rbuf`` and receive
buffer autotuning (net/ipv4/tcp_input.c ``tcp_rcv_space_adjust``).

Reading walks the receive queue from ``copied_seq``, copies out of the skbs' frags (one copy,
straight from the pages), and frees each skb once it is consumed — ``sock_rfree`` gives back
its receive-buffer charge and ``skb_release_data`` drops the page references it holds.  On
loopback that is the other half of a page's lifetime: the sender's ACK freed the original
skb, the reader frees the clone.

After a read, ``tcp_cleanup_rbuf`` sends an ACK if one is owed and due, or if the window the
read opened is at least twice what the peer was last told (a window update); the receive
buffer grows toward ``tcp_rmem[2]`` with the rate the application reads at, measured once per
receive RTT (:func:`tcp_rcv_space_adjust`).

Urgent data (``tcp_urg`` kept the byte in ``urg_data`` and left it in the stream at
``urg_seq``): a read that has copied something stops at the urgent mark, so the mark is
observable; a read that starts at it steps over the urgent byte unless ``SO_OOBINLINE``
(and once the reader is past it, ``urg_data`` is cleared — an urgent byte nobody read with
``MSG_OOB`` by then is lost).  ``recv(MSG_OOB)`` is :func:`tcp_recv_urg`.
"""

from __future__ import annotations

from ..errors import errno, kernel_error
from ..skb import SkBuff, kfree_skb
from ..sock.constants import MSG_OOB, MSG_PEEK, MSG_TRUNC, SO_OOBINLINE
from ..sock.sock import (
    RCV_SHUTDOWN,
    TCP_CLOSE,
    TCP_LISTEN,
    TCP_SYN_RECV,
    TCP_SYN_SENT,
    WAIT_CONNECT,
    WAIT_DATA,
    SockWait,
    sock_error,
)
from ..wire.tcp import TCPHDR_FIN
from .input import release_sock, tcp_rcvbuf_grow
from .output import (
    __tcp_select_window,
    tcp_receive_window,
    tcp_send_ack,
)
from .sock import (
    ICSK_ACK_PUSHED,
    ICSK_ACK_PUSHED2,
    ICSK_ACK_SCHED,
    TCP_URG_READ,
    TCP_URG_VALID,
    TcpSkbCb,
    TcpSock,
    inet_csk_in_pingpong_mode,
    tcp_mstamp,
)

__all__ = ["tcp_cleanup_rbuf", "tcp_rcv_space_adjust", "tcp_recv_urg", "tcp_recvmsg"]

RecvResult = tuple[bytes | int, int]


def tcp_inq_hint(sk: TcpSock) -> int:
    """``tcp_inq_hint()`` (net/ipv4/tcp.c): the bytes left to read for ``TCP_CM_INQ`` —
    ``rcv_nxt - copied_seq``, which counts the peer's FIN, and at least 1 once the FIN has
    come, so that a reader goes on to read the end of the stream."""
    inq = sk.rcv_nxt - sk.copied_seq
    if inq == 0 and sk.sock_done:
        inq = 1
    return inq


def tcp_recvmsg(
    sk: TcpSock, bufsize: int, flags: int, nonblock: bool, into: memoryview | None = None
) -> RecvResult:
    """Read up to ``bufsize`` bytes.  Returns ``(data, msg_flags)`` (``data`` is the byte
    count when reading ``into`` a buffer); ``b""``/0 at end of stream.  Raises
    :class:`SockWait` (or ``EAGAIN``) when there is nothing to read yet, and the socket's
    error (``ECONNRESET`` …) when that is what there is.  ``MSG_OOB`` reads the urgent byte
    (:func:`tcp_recv_urg`, never waits); a listener says ``ENOTCONN`` first.

    ``MSG_TRUNC`` discards the bytes instead of copying them (net/ipv4/tcp.c
    ``tcp_recvmsg_locked``) and returns their count: ``into`` is left alone; without it, the
    data is that many zero bytes (CPython's ``recv`` returns its buffer unwritten)."""
    if sk.sk_state == TCP_LISTEN:
        raise kernel_error(errno.ENOTCONN)
    sk.sk_owned_by_user = True
    try:
        if flags & MSG_OOB:
            return tcp_recv_urg(sk, bufsize, flags, into)
        return _recv_locked(sk, bufsize, flags, nonblock, into)
    finally:
        release_sock(sk)


def tcp_recv_urg(sk: TcpSock, bufsize: int, flags: int, into: memoryview | None) -> RecvResult:
    """``tcp_recv_urg()`` (net/ipv4/tcp.c): ``recv(MSG_OOB)``.  The urgent byte, once, with
    ``MSG_OOB`` in the returned flags (``MSG_PEEK`` leaves it; ``MSG_TRUNC`` returns its
    length without copying — ``b""`` from ``recv``, where Python's real socket hands back one
    byte of a buffer nobody wrote; a zero-length buffer takes it away with ``MSG_TRUNC`` set).
    ``EINVAL`` with ``SO_OOBINLINE``, with no urgent data, or when it was already read;
    ``ENOTCONN`` on a closed socket that saw no FIN; ``EAGAIN`` — never a wait — when the
    urgent pointer arrived but its byte has not (end of stream: an empty read)."""
    urg_data = sk.urg_data
    if SO_OOBINLINE in sk.sk_flags or not urg_data or urg_data == TCP_URG_READ:
        raise kernel_error(errno.EINVAL)
    if sk.sk_state == TCP_CLOSE and not sk.sock_done:
        raise kernel_error(errno.ENOTCONN)
    if urg_data & TCP_URG_VALID:
        if not flags & MSG_PEEK:
            sk.urg_data = TCP_URG_READ
        if bufsize <= 0:
            return (0 if into is not None else b""), MSG_OOB | MSG_TRUNC
        if flags & MSG_TRUNC:
            return (1 if into is not None else b""), MSG_OOB
        if into is not None:
            into[0] = urg_data & 0xFF
            return 1, MSG_OOB
        return bytes((urg_data & 0xFF,)), MSG_OOB
    if sk.sk_state == TCP_CLOSE or sk.sk_shutdown & RCV_SHUTDOWN:
        return (0 if into is not None else b""), 0
    raise kernel_error(errno.EAGAIN)


def _recv_locked(
    sk: TcpSock, bufsize: int, flags: int, nonblock: bool, into: memoryview | None
) -> RecvResult:
    peek = bool(flags & MSG_PEEK)
    chunks: list[memoryview] = []
    copied = 0
    seq = sk.copied_seq
    queue = sk.sk_receive_queue
    idx = 0
    eof = False
    adjusted = False
    urg = sk.urg_data
    while copied < bufsize and idx < len(queue):
        if urg and sk.urg_seq == seq and copied:
            break  # stop at the urgent mark
        skb = queue[idx]
        cb: TcpSkbCb = skb.cb
        offset = seq - cb.seq
        avail = skb.len - offset
        if avail > 0:
            used = min(avail, bufsize - copied)
            if urg:
                urg_offset = sk.urg_seq - seq
                if 0 <= urg_offset < used:
                    if urg_offset:
                        used = urg_offset  # up to the mark
                    elif SO_OOBINLINE not in sk.sk_flags:
                        seq += 1  # step over the urgent byte
                        offset += 1
                        avail -= 1
                        used -= 1
            if used:
                if not flags & MSG_TRUNC:
                    if into is not None:
                        _copy_into(skb, offset, into[copied : copied + used], used)
                    else:
                        chunks.extend(_views(skb, offset, used))
                seq += used
                copied += used
                if not adjusted:
                    # the kernel calls this after every chunk, but with the clock standing
                    # still during the read only the first call can do anything
                    adjusted = True
                    if not peek:
                        sk.copied_seq = seq
                    tcp_rcv_space_adjust(sk)
            if urg and not peek and seq > sk.urg_seq:
                sk.urg_data = urg = 0  # the reader is past the urgent byte
            if used < avail:
                # the buffer is full or this is the urgent mark (the loop's tests end the
                # read), or a skipped urgent byte left less to copy than the buffer takes
                continue
        if cb.tcp_flags & TCPHDR_FIN:
            seq += 1 if seq < cb.end_seq else 0
            eof = True
            if not peek:
                queue.popleft()
                kfree_skb(skb)
            break
        if peek:
            idx += 1
        else:
            queue.popleft()
            kfree_skb(skb)
    if not peek:
        sk.copied_seq = seq
    if copied == 0 and not eof:
        if sk.sock_done:
            # SOCK_DONE (the peer's FIN) is tested before sk_err: once the stream has ended,
            # recv keeps returning EOF and a later error — EPIPE from an RST in CLOSE_WAIT —
            # is left for the next send (tcp_recvmsg_locked)
            return (0 if into is not None else b""), 0
        err = sock_error(sk)
        if err:
            raise kernel_error(err)
        if sk.sk_shutdown & RCV_SHUTDOWN:
            return (0 if into is not None else b""), 0
        if sk.sk_state == TCP_CLOSE:
            if sk.done or sk.closed:
                return (0 if into is not None else b""), 0
            raise kernel_error(errno.ENOTCONN)
        if bufsize == 0:
            return (0 if into is not None else b""), 0
        if nonblock:
            raise kernel_error(errno.EAGAIN)
        raise SockWait(WAIT_CONNECT if sk.sk_state in (TCP_SYN_SENT, TCP_SYN_RECV) else WAIT_DATA)
    # a short MSG_WAITALL read returns what it has; the runtime calls again for the rest
    if not peek:
        tcp_cleanup_rbuf(sk, copied)
    if into is not None:
        return copied, 0
    if flags & MSG_TRUNC:
        # the bytes were discarded, not copied: recv() still returns a buffer of that length
        # (CPython's, unwritten; netsim's, zeroed), not b"", which would read as EOF
        return bytes(copied), 0
    data = chunks[0].tobytes() if len(chunks) == 1 else b"".join(chunks)
    return data, 0


def _views(skb: SkBuff, offset: int, length: int) -> list[memoryview]:
    """The bytes ``[offset, offset + length)`` of the skb's payload as views of its head and
    pages (nothing copied yet)."""
    out: list[memoryview] = []
    headlen = skb.len - skb.data_len
    if offset < headlen:
        n = min(headlen - offset, length)
        out.append(memoryview(skb.head)[skb.data + offset : skb.data + offset + n])
        offset += n
        length -= n
    pos = headlen
    for frag in skb.shinfo.frags:
        if not length:
            break
        end = pos + frag.len
        if offset < end:
            start = frag.offset + offset - pos
            n = min(end - offset, length)
            out.append(frag.page.view[start : start + n])
            offset += n
            length -= n
        pos = end
    return out


def _copy_into(skb: SkBuff, offset: int, dst: memoryview, length: int) -> None:
    pos = 0
    for view in _views(skb, offset, length):
        n = len(view)
        dst[pos : pos + n] = view
        pos += n


def tcp_cleanup_rbuf(sk: TcpSock, copied: int) -> None:
    """``__tcp_cleanup_rbuf()``: ACK now if one is owed and the reader emptied the queue, or
    if the read opened the window to twice what the peer knows."""
    time_to_ack = False
    pushed = sk.ack_pending & ICSK_ACK_PUSHED2 or (
        sk.ack_pending & ICSK_ACK_PUSHED and not inet_csk_in_pingpong_mode(sk)
    )
    if sk.ack_pending & ICSK_ACK_SCHED and (
        sk.rcv_nxt - sk.rcv_wup > sk.ack_rcv_mss or (copied > 0 and pushed and not sk.sk_rmem_alloc)
    ):
        time_to_ack = True
    if copied > 0 and not time_to_ack and not sk.sk_shutdown & RCV_SHUTDOWN:
        rcv_window_now = tcp_receive_window(sk)
        if 2 * rcv_window_now <= sk.window_clamp:
            new_window = __tcp_select_window(sk)
            if new_window and new_window >= 2 * rcv_window_now:
                time_to_ack = True
    if time_to_ack:
        tcp_send_ack(sk)


def tcp_rcv_space_adjust(sk: TcpSock) -> None:
    """``tcp_rcv_space_adjust()`` (net/ipv4/tcp_input.c), as ``tcp_recvmsg_locked`` calls it
    after copying a chunk (also for ``MSG_PEEK``): once per receive RTT (``rcv_rtt_us``,
    :func:`~netsim.tcp.input.tcp_rcv_rtt_measure`) — never while there is no estimate — it
    counts the bytes the reader took since the last measurement, less what still waits in
    the queue; more than last time (``rcvq_space``) grows the buffer
    (:func:`~netsim.tcp.input.tcp_rcvbuf_grow`).  Either way a new measurement begins.

    Time is ``tcp_mstamp`` in µs: on a link with no delay in virtual time the clock stands
    still, no round trip ever ends, and the buffer keeps its initial size."""
    rtt_us = sk.rcv_rtt_us
    if not rtt_us:
        return
    now = tcp_mstamp(sk)
    if now - int(sk.rcvq_time * 1_000_000) < rtt_us >> 3:
        return
    copied = sk.copied_seq - sk.rcvq_seq - (sk.rcv_nxt - sk.copied_seq)
    if copied > sk.rcvq_space:
        tcp_rcvbuf_grow(sk, copied)
    sk.rcvq_seq = sk.copied_seq
    sk.rcvq_time = sk.net.now
