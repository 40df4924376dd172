"""``SeqQueue``, the retransmit and out-of-order queues' container: the same answers as a
sorted list keyed by ``TCP_SKB_CB(skb)->seq`` (``sortedcontainers.SortedKeyList``, which it
replaced), whatever the sequence of adds and removals — the moving head and its compaction
included."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sortedcontainers import SortedKeyList

from netsim.mm import PageAllocator
from netsim.skb import SkBuff, alloc_skb, kfree_skb
from netsim.tcp.seq_queue import SeqQueue
from netsim.tcp.sock import TcpSkbCb
from netsim.testing import assert_no_page_leaks


def _skb(allocator: PageAllocator, seq: int) -> SkBuff:
    skb = alloc_skb(0, stats=allocator.stats)
    skb.cb = TcpSkbCb(seq, seq + 1, 0)
    return skb


def _seq(skb: SkBuff) -> int:
    cb: TcpSkbCb = skb.cb
    return cb.seq


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 40)),
        st.tuples(st.just("append"), st.integers(1, 3)),  # the common case: after the tail
        st.tuples(st.just("pop"), st.integers(-3, 3)),
        st.tuples(st.just("popleft"), st.just(0)),
        st.tuples(st.just("remove"), st.integers(0, 100)),
    ),
    max_size=300,
)


@settings(max_examples=150, deadline=None)
@given(ops=_OPS, probes=st.lists(st.integers(-2, 200), max_size=6))
def test_seq_queue_answers_as_a_sorted_list(ops: list[tuple[str, int]], probes: list[int]) -> None:
    page_allocator = PageAllocator()
    queue = SeqQueue()
    model: SortedKeyList[SkBuff, int] = SortedKeyList(key=_seq)
    made: list[SkBuff] = []
    tail = 0
    for op, arg in ops:
        if op in ("add", "append"):
            seq = arg if op == "add" else tail + arg
            tail = max(tail, seq)
            skb = _skb(page_allocator, seq)
            made.append(skb)
            queue.add(skb)
            model.add(skb)
        elif not model:
            with pytest.raises(IndexError):
                queue.pop(0)
            continue
        elif op == "popleft":
            assert queue.pop(0) is model.pop(0)
        elif op == "pop":
            index = arg % len(model) if arg >= 0 else max(arg, -len(model))
            assert queue.pop(index) is model.pop(index)
        else:
            victim = model[arg % len(model)]
            queue.remove(victim)
            model.remove(victim)
            with pytest.raises(ValueError, match="not in the queue"):
                queue.index(victim)
        # equal seqs keep insertion order in both, so the very skbs match, not only seqs
        assert len(queue) == len(model)
        assert bool(queue) == bool(model)
        assert all(a is b for a, b in zip(queue, model, strict=True))
    assert [id(s) for s in reversed(queue)] == [id(s) for s in reversed(model)]
    for i in range(-len(model), len(model)):
        assert queue[i] is model[i]
    for seq in probes:
        assert queue.bisect_key_left(seq) == model.bisect_key_left(seq)
        assert queue.bisect_key_right(seq) == model.bisect_key_right(seq)
        got = [id(s) for s in queue.irange_key(seq, seq + 10)]
        assert got == [id(s) for s in model.irange_key(seq, seq + 10)]
    for skb in model:
        assert queue.index(skb) == model.index(skb)
        assert skb in queue
    with pytest.raises(IndexError):
        queue[len(model)]
    queue.clear()
    assert not queue
    assert list(queue) == []
    for skb in made:
        kfree_skb(skb)
    assert_no_page_leaks([page_allocator], "after freeing every skb")


def test_seq_queue_discard_and_head_compaction(page_allocator: PageAllocator) -> None:
    """Acknowledged skbs leave from the head without moving the rest until half the array is
    dead; an emptied queue starts its array over."""
    queue = SeqQueue()
    skbs = [_skb(page_allocator, seq) for seq in range(0, 2000, 10)]
    for skb in skbs:
        queue.add(skb)
    for expected in skbs[:150]:
        assert queue.pop(0) is expected
    assert len(queue) == 50
    assert queue[0] is skbs[150]
    assert queue[-1] is skbs[-1]
    assert queue.bisect_key_left(1505) == 1
    assert queue.bisect_key_right(1500) == 1
    queue.discard(skbs[0])  # already gone: nothing happens
    queue.discard(skbs[160])
    assert len(queue) == 49
    assert skbs[160] not in queue
    late = _skb(page_allocator, 1505)  # tcp_fragment's tail goes right after its skb
    queue.add(late)
    assert queue[1] is late
    assert queue.index(late) == 1
    while queue:
        queue.pop(0)
    fresh = _skb(page_allocator, 5)
    queue.add(fresh)
    assert list(queue) == [fresh]
    assert repr(queue).startswith("SeqQueue([")
    for skb in [*skbs, late, fresh]:
        kfree_skb(skb)
