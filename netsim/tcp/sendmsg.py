"""``tcp_sendmsg_locked`` (net/ipv4/tcp.c), split at its labels.

Spec tx-paths §2.4.  For every chunk of user data:

1. the tail skb of the write queue takes it if it is below ``size_goal`` and may be collapsed
   into; otherwise (``new_segment``) a new payload-free skb is allocated — only if
   ``sk_stream_memory_free`` (``sk_wmem_queued < sk_sndbuf``), else ``wait_for_space``;
2. **the frag branch**: ``sk_page_frag`` → refill (32 bytes); ``skb_can_coalesce`` with the
   allocator's page and offset?  merge into the last frag : a new slot — but at
   ``net.core.max_skb_frags`` slots the skb is marked PSH and a new skb started;
   ``copy = min(copy, room in the page)``; ``skb_add_frag_nocache`` copies and accounts;
   merge → ``commit_noref``, new slot → ``skb_fill_page_desc`` + ``commit``.  With the old
   ``page_frag`` allocator ``commit`` is ``get_page()`` — mainline's ``page_ref_inc``;
5. a full skb is pushed (``forced_push``) or, if it is the head of the queue, sent alone
   (``tcp_push_one``); at the end ``tcp_push`` with the call's flags.

``MSG_OOB`` (urgent data): ``size_goal`` is one MSS, full skbs are not pushed while the write
goes on (the loop's ``continue``), and ``tcp_push`` sets ``snd_up`` to ``write_seq`` — the
last byte copied is the urgent one.  A write that must wait for space marks the bytes copied
so far (``wait_for_space`` pushes with the call's flags), as Linux does.

**Splicing** (``MSG_SPLICE_PAGES`` with a :class:`~netsim.sock.iov.BvecIter`, as
``tls_push_sg`` sends a TLS record): instead of the frag branch, ``skb_splice_from_iter``
references the caller's pages — one 4 KiB sub-page at a time, each merged into the previous
frag when it continues it (``skb_append_pagefrags``), else a new slot with ``get_page`` — and at
the frag limit the skb is marked PSH and a new one started.  ``SKBFL_SHARED_FRAG`` is set
(the pages are not the skb's to write).  Linux copies instead when the route has no
scatter-gather; every netsim device has it.

``wait_for_space`` is where the kernel sleeps.  Here the function returns what it copied and
that it must wait; the runtime waits for ``sk_write_space`` and calls again with the rest.
The state the kernel keeps across the sleep (the bytes already queued, the push it owes) is
in the socket and in the message iterator, so the next call continues where this one stopped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import errno, kernel_error
from ..skb import (
    SKBFL_SHARED_FRAG,
    SkBuff,
    skb_add_frag_nocache,
    skb_append_pagefrags,
    skb_fill_page_desc,
    trace_frag,
)
from ..sock.constants import MSG_EOR, MSG_MORE, MSG_OOB
from ..sock.inet import Cmsg, sock_cmsg_send
from ..sock.iov import BvecIter, MsgIter
from ..sock.sock import (
    SEND_SHUTDOWN,
    TCP_CLOSE_WAIT,
    TCP_ESTABLISHED,
    TCP_SYN_RECV,
    TCP_SYN_SENT,
    WAIT_CONNECT,
    SockWait,
    sk_page_frag,
    sk_page_frag_refill,
    sock_error,
)
from ..wire.tcp import TCPHDR_PSH
from .input import release_sock, sk_flush_backlog
from .output import (
    TCP_CHRONO_BUSY,
    __tcp_push_pending_frames,
    forced_push,
    sk_stream_memory_free,
    tcp_chrono_stop,
    tcp_mark_push,
    tcp_push,
    tcp_push_one,
    tcp_send_mss,
    tcp_skb_entail,
    tcp_stream_alloc_skb,
    tcp_wmem_free_skb,
    tcp_wmem_schedule,
)
from .sock import TCP_NAGLE_PUSH, TcpSkbCb, TcpSock

if TYPE_CHECKING:
    from ..sock.task import TaskContext

__all__ = [
    "SendResult",
    "skb_splice_from_iter",
    "tcp_remove_empty_skb",
    "tcp_sendmsg",
    "tcp_sendmsg_cmsgs",
    "tcp_sendmsg_locked",
]

SendResult = tuple[int, bool]


def tcp_sendmsg(
    sk: TcpSock, task: TaskContext, msg: MsgIter, flags: int, copied_before: int = 0
) -> SendResult:
    """``tcp_sendmsg()`` (net/ipv4/tcp.c): :func:`tcp_sendmsg_locked` with the socket owned
    (``lock_sock``) for the call and ``release_sock`` after it, which processes what arrived
    meanwhile.  A wait (``SockWait``) comes back as ``(0, True)``: the caller sleeps, then
    calls again with ``copied_before``."""
    sk.sk_owned_by_user = True
    try:
        return tcp_sendmsg_locked(sk, task, msg, flags, copied_before)
    except SockWait:
        return 0, True
    finally:
        release_sock(sk)


def tcp_sendmsg_locked(
    sk: TcpSock, task: TaskContext, msg: MsgIter, flags: int, copied_before: int = 0
) -> SendResult:
    """Queue as much of ``msg`` as the socket takes.  Returns ``(copied, must_wait)``:
    ``must_wait`` means the kernel would now sleep in ``sk_stream_wait_memory``.  Raises the
    socket error (``EPIPE`` after shutdown, the pending ``sk_err``) when nothing was copied.

    ``copied_before``: bytes this ``send()`` already queued before it slept (the runtime
    resumes the call here after each wait).  The kernel's loop never leaves the call, so an
    error found after a wait ends it with the short count and leaves ``sk_err`` for the next
    call (``do_error:`` with ``copied``); so does this one."""
    if sk.sk_state not in (TCP_ESTABLISHED, TCP_CLOSE_WAIT):
        if copied_before:
            return 0, False  # the error waits for the next call, as at do_error: with copied
        # sk_stream_wait_connect(): wait out a handshake; anything else is the error or EPIPE
        err = sock_error(sk)
        if err:
            raise kernel_error(err)
        if sk.sk_state in (TCP_SYN_SENT, TCP_SYN_RECV):
            raise SockWait(WAIT_CONNECT)
        raise kernel_error(errno.EPIPE)
    copied = 0
    queue = sk.sk_write_queue
    splice = msg if isinstance(msg, BvecIter) else None
    max_frags = sk.net.sysctl_int("net.core.max_skb_frags")
    stats = sk.net.stats
    process_backlog = 0
    restart = True
    while restart:
        restart = False
        mss_now, size_goal = tcp_send_mss(sk, flags)
        if sk.sk_err or sk.sk_shutdown & SEND_SHUTDOWN:
            if copied_before or copied:
                tcp_remove_empty_skb(sk)
                if copied:
                    tcp_push(sk, flags, mss_now, sk.nonagle, size_goal)
                return copied, False
            return _do_error(sk, copied, flags, mss_now, size_goal)
        frags_full = False  # the tail skb has no slot left: goto new_segment
        while msg.count:
            skb = queue[-1] if queue else None
            copy = size_goal - skb.len if skb is not None else 0
            if copy <= 0 or skb is None or skb.cb.eor or frags_full:
                # new_segment:
                tail = skb
                why = ""
                if stats.tracer is not None:
                    why = _new_skb_reason(skb, size_goal, frags_full, max_frags)
                frags_full = False
                if not sk_stream_memory_free(sk):
                    return _wait_for_space(sk, copied, flags, mss_now, size_goal)
                if process_backlog >= 16:
                    # every 16 new skbs, the segments that arrived meanwhile (ACKs freeing
                    # the retransmit queue) are processed, and the sizes taken again
                    process_backlog = 0
                    if sk_flush_backlog(sk):
                        restart = True
                        break
                process_backlog += 1
                skb = _new_segment(sk)
                if skb is None:
                    return _wait_for_space(sk, copied, flags, mss_now, size_goal)
                copy = size_goal
                if stats.tracer is not None:
                    _trace_new_skb(sk, skb, tail, why, size_goal)
            if copy > msg.count:
                copy = msg.count
            if splice is not None:
                # -- the splice branch (MSG_SPLICE_PAGES) ----------------------------------------
                copy = _splice_chunk(sk, skb, splice, copy, max_frags)
                if copy <= 0:
                    if copy < 0:
                        tcp_mark_push(sk, skb)
                        frags_full = True  # -EMSGSIZE: goto new_segment
                        continue
                    return _wait_for_space(sk, copied, flags, mss_now, size_goal)
            else:
                # -- the frag branch ---------------------------------------------------------
                nc = sk_page_frag(sk, task)
                span = sk_page_frag_refill(sk, nc, want=copy)
                if span is None:
                    return _wait_for_space(sk, copied, flags, mss_now, size_goal)
                page, offset = span.page, span.offset
                frags = skb.shinfo.frags
                i = len(frags)
                merge = (
                    i > 0
                    and frags[i - 1].page is page
                    and frags[i - 1].offset + frags[i - 1].len == offset
                )
                if not merge and i >= max_frags:
                    tcp_mark_push(sk, skb)
                    frags_full = True  # goto new_segment (the refill is asked again there)
                    continue
                if copy > span.size:
                    copy = span.size
                copy = tcp_wmem_schedule(sk, copy)
                if not copy:
                    return _wait_for_space(sk, copied, flags, mss_now, size_goal)
                skb_add_frag_nocache(sk, msg.take(copy), skb, page, offset, copy)
                if merge:
                    frags[i - 1].len += copy
                    nc.commit_noref(span, copy)
                    stats.skb_coalesce += 1
                else:
                    skb_fill_page_desc(skb, i, page, offset, copy)
                    nc.commit(span, copy)
                    stats.skb_new_frag += 1
                if stats.tracer is not None:
                    trace_frag(skb, i, page, offset, copy, merge, "tcp_sendmsg_locked")
            # -- account the chunk -------------------------------------------------------------
            cb: TcpSkbCb = skb.cb
            if not copied:
                cb.tcp_flags &= ~TCPHDR_PSH
            sk.write_seq += copy
            cb.end_seq += copy
            skb.shinfo.gso_segs = 0
            copied += copy
            if not msg.count:
                if flags & MSG_EOR:
                    cb.eor = True
                break
            if skb.len < size_goal or flags & MSG_OOB:
                continue
            if forced_push(sk):
                tcp_mark_push(sk, skb)
                __tcp_push_pending_frames(sk, mss_now, TCP_NAGLE_PUSH)
            elif skb is queue[0]:
                tcp_push_one(sk, mss_now)
    if copied:
        tcp_push(sk, flags, mss_now, sk.nonagle, size_goal)
    return copied, False


def _new_skb_reason(skb: SkBuff | None, size_goal: int, frags_full: bool, max_frags: int) -> str:
    """Why ``tcp_sendmsg_locked`` goes to ``new_segment`` (trace only)."""
    if skb is None:
        reason = "the write queue is empty: nothing unsent to append to"
    elif frags_full:
        reason = (
            f"the tail skb's frags are full (nr_frags {len(skb.shinfo.frags)}, "
            f"net.core.max_skb_frags {max_frags}) and the bytes cannot extend its last frag"
        )
    elif skb.cb.eor:
        reason = "the tail skb ends a record (MSG_EOR): nothing may be appended to it"
    else:
        reason = f"the tail skb reached size_goal (len {skb.len} >= size_goal {size_goal})"
    return reason


def _trace_new_skb(
    sk: TcpSock, skb: SkBuff, tail: SkBuff | None, reason: str, size_goal: int
) -> None:
    """Tell the tracer that ``skb`` was started after ``tail``, and why."""
    tracer = sk.net.stats.tracer
    if tracer is None:
        return
    fields: dict[str, int | str] = {"skb": tracer.skb(skb), "size_goal": size_goal}
    if tail is not None:
        fields["tail"] = tracer.skb(tail)
    tracer.emit("new_skb", "tcp_sendmsg_locked", reason, fields)


def _splice_chunk(sk: TcpSock, skb: SkBuff, it: BvecIter, copy: int, max_frags: int) -> int:
    """The splice branch of ``tcp_sendmsg_locked``: ``tcp_wmem_schedule``, then
    ``skb_splice_from_iter``, then the socket's accounting (``sk_wmem_queued_add``,
    ``sk_mem_charge``).  Returns the bytes spliced; 0 to wait for memory; -1 when the skb has
    no frag slot left (``-EMSGSIZE``: new segment)."""
    copy = tcp_wmem_schedule(sk, copy)
    if not copy:
        return 0
    copy = skb_splice_from_iter(skb, it, copy, max_frags)
    if not copy:
        return -1
    skb.shinfo.flags |= SKBFL_SHARED_FRAG
    sk.sk_wmem_queued += copy
    sk.sk_forward_alloc -= copy
    return copy


def skb_splice_from_iter(skb: SkBuff, it: BvecIter, maxsize: int, max_frags: int) -> int:
    """``skb_splice_from_iter()`` (net/core/skbuff.c): reference up to ``maxsize`` bytes of the
    iterator's pages as frags of ``skb``, one ``PAGE_SIZE`` sub-page at a time
    (:meth:`BvecIter.extract_page`), each through ``skb_append_pagefrags`` — so a 16 KiB range
    of a 32 KiB compound page becomes up to five frags, none crossing a 4 KiB boundary.  Stops
    at the frag limit (the piece that did not fit goes back to the iterator).  Returns the
    bytes spliced (``skb_len_add`` for all of them); 0 if not even one fitted."""
    spliced = 0
    frags = skb.shinfo.frags
    stats = skb.stats
    while it.count and maxsize > 0:
        page, off, part = it.extract_page(maxsize)
        nr = len(frags)
        try:
            skb_append_pagefrags(skb, page, off, part, max_frags)
        except OSError:  # -EMSGSIZE: no slot left
            it.revert(part)
            break
        if len(frags) > nr:
            stats.skb_new_frag += 1
            if stats.tracer is not None:
                trace_frag(skb, nr, page, off, part, False, "skb_splice_from_iter")
        else:
            stats.skb_coalesce += 1
            if stats.tracer is not None:
                trace_frag(skb, nr, page, off, part, True, "skb_splice_from_iter")
        spliced += part
        maxsize -= part
    if spliced:
        skb.len += spliced
        skb.data_len += spliced
        skb.truesize += spliced
    return spliced


def _new_segment(sk: TcpSock) -> SkBuff | None:
    """``new_segment:``: a fresh skb at ``write_seq`` (the caller checked
    ``sk_stream_memory_free``), its memory forced when it is the socket's only skb
    (``first_skb``), else granted by ``tcp_mem`` or ``None``."""
    first = not sk.sk_write_queue and not sk.tcp_rtx_queue
    skb = tcp_stream_alloc_skb(sk, force=first)
    if skb is not None:
        tcp_skb_entail(sk, skb)
    return skb


def tcp_remove_empty_skb(sk: TcpSock) -> None:
    """``tcp_remove_empty_skb()``: drop a tail skb that got no payload."""
    queue = sk.sk_write_queue
    if queue:
        skb = queue[-1]
        cb: TcpSkbCb = skb.cb
        if cb.seq == cb.end_seq:
            queue.pop()
            if not queue:
                tcp_chrono_stop(sk, TCP_CHRONO_BUSY)
            tcp_wmem_free_skb(sk, skb)


def _wait_for_space(
    sk: TcpSock, copied: int, flags: int, mss_now: int, size_goal: int
) -> SendResult:
    """``wait_for_space:``: note that we are out of space, push what was copied, and ask the
    caller to sleep until ``sk_write_space``."""
    sk.sock_nospace = True
    tcp_remove_empty_skb(sk)
    if copied:
        tcp_push(sk, flags & ~MSG_MORE, mss_now, TCP_NAGLE_PUSH, size_goal)
    return copied, True


def _do_error(sk: TcpSock, copied: int, flags: int, mss_now: int, size_goal: int) -> SendResult:
    """``do_error:`` / ``out_err:``: a short write if anything was copied, else the error."""
    tcp_remove_empty_skb(sk)
    if copied:
        tcp_push(sk, flags, mss_now, sk.nonagle, size_goal)
        return copied, False
    err = sock_error(sk)
    raise kernel_error(err or errno.EPIPE)


def tcp_sendmsg_cmsgs(cmsgs: list[Cmsg]) -> None:
    """``tcp_sendmsg_locked()``'s control messages: the ``SOL_SOCKET`` ones are checked
    (``sock_cmsg_send``) and any failure there is ``EINVAL``; TCP ignores the rest."""
    try:
        sock_cmsg_send(cmsgs)
    except OSError:
        raise kernel_error(errno.EINVAL, "bad SOL_SOCKET control message") from None
