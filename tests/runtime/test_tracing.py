"""``host.tracing()``: the structured trace of what the cores decide.

Checked here: every counted decision has exactly one event (the counters and the trace agree
over whole TCP and UDP flows, both allocators, with clones, ACKs and reads), each reason names
the cause a learner should see (first frag, contiguous, another page, not contiguous, frags
full, EOR, size_goal, first skb of a datagram, linear because no SG, cork, Nagle, not the
tail), skb labels and clones, and that an untraced host records nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

import netsim
from netsim.stats import TRACE_KINDS

#: event kind -> the counter that counts the same decision
KIND_COUNTER = {
    "page_alloc": "page_alloc",
    "page_free": "page_free",
    "get_page": "page_get",
    "put_page": "page_put",
    "page_ref_add": "page_ref_add",
    "page_ref_sub_and_test": "page_ref_sub_and_test",
    "refill": "frag_refill",
    "recycle": "frag_recycle",
    "abandon": "frag_abandon",
    "reuse": "frag_reuse",
    "commit": "frag_commit",
    "commit_noref": "frag_commit_noref",
    "abort": "frag_abort",
    "skb_clone": "skb_clone",
    "skb_free": "skb_free",
    "coalesce": "skb_coalesce",
    "new_frag": "skb_new_frag",
}


async def _tcp_pair(
    host: netsim.Host, port: int = 5000, family: int = netsim.AF_INET
) -> tuple[netsim.Socket, netsim.Socket, netsim.Socket]:
    addr = "127.0.0.1" if family == netsim.AF_INET else "::1"
    listener = host.socket(family)
    await listener.bind((addr, port))
    listener.listen()
    client = host.socket(family)
    await client.connect((addr, port))
    server, _ = await listener.accept()
    return listener, client, server


def _reasons(tracer: netsim.Tracer, kind: str) -> list[str]:
    return [e.reason for e in tracer.of(kind)]


@pytest.mark.parametrize("allocator", ["page_frag", "page_frag_cache"])
async def test_counters_and_events_agree_over_a_flow(
    autojump_clock: trio.testing.MockClock, allocator: str
) -> None:
    """Every counted decision of a TCP flow (writes, clones, ACKs, reads, page recycling)
    and a UDP flow appears exactly once in the trace."""
    async with netsim.open_host(allocator=allocator) as host:
        listener, client, server = await _tcp_pair(host)
        udp_rx = host.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
        await udp_rx.bind(("127.0.0.1", 6000))
        udp_tx = host.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
        await udp_tx.connect(("127.0.0.1", 6000))
        before = host.stats()
        with host.tracing() as tracer:
            for i in range(40):
                await client.sendmsg([b"h" * 50], [], netsim.MSG_MORE)
                await client.send(bytes([i]) * (1000 + 997 * i))
                got = 0
                while got < 1050 + 997 * i:
                    got += len(await server.recv(65536))
                await udp_tx.sendmsg([b"u" * 300], [], netsim.MSG_MORE)
                await udp_tx.send(b"v" * (2000 + 13 * i))
                assert len(await udp_rx.recv(65536)) == 2300 + 13 * i
            after = host.stats()
        for sock in (client, server, listener, udp_rx, udp_tx):
            sock.close()
    kinds = Counter(e.kind for e in tracer)
    assert set(kinds) <= set(TRACE_KINDS)
    for kind, counter in KIND_COUNTER.items():
        assert kinds[kind] == after[counter] - before[counter], kind
    # a clone counts as an skb_alloc too; the trace keeps them apart
    allocs = after["skb_alloc"] - before["skb_alloc"]
    assert kinds["skb_alloc"] + kinds["skb_clone"] == allocs
    assert kinds["coalesce"] > 0
    assert kinds["new_frag"] > 0
    assert kinds["transmit"] > 0
    assert [e.seq for e in tracer] == list(range(1, len(tracer) + 1))
    assert all(e.time >= 0.0 for e in tracer)


async def test_corked_writes_coalesce_then_the_segment_leaves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host(allocator="page_frag") as host:
        listener, client, server = await _tcp_pair(host)
        client.setsockopt(netsim.SOL_TCP, netsim.TCP_CORK, 1)
        with host.tracing() as tracer:
            await client.send(b"a" * 100)
            await client.send(b"b" * 100)
        decisions = [(e.kind, e.reason) for e in tracer if e.kind in ("new_frag", "coalesce")]
        assert decisions == [
            ("new_frag", "the skb's first frag"),
            ("coalesce", "contiguous with frag[0] on the same page: it grows to 200 B"),
        ]
        first = tracer.of("new_frag")[0]
        assert first.where == "tcp_sendmsg_locked"
        assert first.fields["skb"] == "skb1"
        assert first.fields["offset"] == 0
        assert first.fields["len"] == 100
        assert first.fields["frag"] == 0
        # the old allocator's new frag takes a reference with get_page; the merge takes none
        (get,) = tracer.of("get_page")
        assert get.fields["ref"] == 2
        assert get.fields["pfn"] == first.fields["pfn"]
        assert tracer.of("new_skb")[0].reason.startswith("the write queue is empty")
        holds = _reasons(tracer, "hold")
        assert len(holds) == 2
        assert all(r.startswith("corked (TCP_CORK") for r in holds)
        assert not tracer.of("transmit")
        client.setsockopt(netsim.SOL_TCP, netsim.TCP_CORK, 0)  # after the block: not traced
        assert len(await server.recv(1000)) == 200
        for sock in (client, server, listener):
            sock.close()


async def test_countdown_cache_never_coalesces(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host(allocator="page_frag_cache_countdown") as host:
        listener, client, server = await _tcp_pair(host)
        client.setsockopt(netsim.SOL_TCP, netsim.TCP_CORK, 1)
        with host.tracing() as tracer:
            for _ in range(3):
                await client.send(b"c" * 100)
        new = tracer.of("new_frag")
        assert len(new) == 3
        assert not tracer.of("coalesce")
        assert new[1].reason == (
            "frag[0] ends at 32768, these bytes start at 32568: not contiguous, "
            "skb_can_coalesce says no"
        )
        client.setsockopt(netsim.SOL_TCP, netsim.TCP_CORK, 0)
        assert len(await server.recv(1000)) == 300
        for sock in (client, server, listener):
            sock.close()


async def test_frag_limit_starts_a_new_skb(autojump_clock: trio.testing.MockClock) -> None:
    """With net.core.max_skb_frags 2 and fragments that never touch, the third write finds
    the tail skb's frags full."""
    async with netsim.open_host(allocator="page_frag_cache_countdown") as host:
        host.sysctl["net.core.max_skb_frags"] = 2
        listener, client, server = await _tcp_pair(host)
        client.setsockopt(netsim.SOL_TCP, netsim.TCP_CORK, 1)
        with host.tracing() as tracer:
            for _ in range(3):
                await client.send(b"f" * 100)
        reasons = _reasons(tracer, "new_skb")
        assert reasons[0].startswith("the write queue is empty")
        assert reasons[1] == (
            "the tail skb's frags are full (nr_frags 2, net.core.max_skb_frags 2) and the "
            "bytes cannot extend its last frag"
        )
        assert tracer.of("new_frag")[-1].fields["skb"] == "skb2"
        client.setsockopt(netsim.SOL_TCP, netsim.TCP_CORK, 0)
        got = 0
        while got < 300:
            got += len(await server.recv(1000))
        for sock in (client, server, listener):
            sock.close()


async def test_eor_and_size_goal_reasons(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        listener, client, server = await _tcp_pair(host)
        client.setsockopt(netsim.SOL_TCP, netsim.TCP_CORK, 1)
        with host.tracing() as tracer:
            await client.sendmsg([b"r" * 100], [], netsim.MSG_EOR)
            await client.send(b"s" * 100)
            await client.send(b"t" * 100_000)
        reasons = _reasons(tracer, "new_skb")
        assert reasons[1] == "the tail skb ends a record (MSG_EOR): nothing may be appended to it"
        assert any(r.startswith("the tail skb reached size_goal (len ") for r in reasons)
        transmits = _reasons(tracer, "transmit")
        assert transmits[0] == (
            "not the tail of the write queue: nothing more can be appended to it, so cork "
            "and Nagle do not hold it"
        )
        client.setsockopt(netsim.SOL_TCP, netsim.TCP_CORK, 0)
        got = 0
        while got < 100_200:
            got += len(await server.recv(1 << 20))
        for sock in (client, server, listener):
            sock.close()


async def test_nagle_holds_a_small_segment(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        listener, client, server = await _tcp_pair(host)
        with host.tracing() as tracer:
            # nothing in flight: Nagle lets the first small segment go
            await client.send(b"n" * 10)
            assert _reasons(tracer, "transmit") == ["Nagle allows it: nothing small is in flight"]
        for sock in (client, server, listener):
            sock.close()


async def test_clone_shares_frags_until_both_let_go(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The transmitted clone reaches the receiver; the ACK frees the original, but the page
    reference goes only when the reader frees the clone."""
    async with netsim.open_host(allocator="page_frag") as host:
        listener, client, server = await _tcp_pair(host)
        with host.tracing() as tracer:
            await client.send(b"x" * 1000)
            (clone,) = tracer.of("skb_clone")
            assert clone.fields["clone_of"] == "skb1"
            assert clone.fields["skb"] == "skb2"
            freed = tracer.of("skb_free")
            assert [e.fields["skb"] for e in freed if e.fields["nr_frags"]] == ["skb1"]
            assert freed[0].reason == (
                "a clone still shares the frags: no page reference is dropped yet"
            )
            puts_before = len(tracer.of("put_page"))
            assert await server.recv(2000) == b"x" * 1000
            last = [e for e in tracer.of("skb_free") if e.fields["skb"] == "skb2"]
            assert last[0].reason == "the last user of the frags: one put_page per frag"
            assert len(tracer.of("put_page")) == puts_before + 1
        for sock in (client, server, listener):
            sock.close()


async def test_skbs_without_data_say_what_they_were_for(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Every skb freed without data names its role (its clones keep it): the handshake's
    segments, pure ACKs, a FIN sent alone and its clone, a reset; data skbs name none."""
    async with netsim.open_host() as host:
        with host.tracing() as tracer:
            listener, client, server = await _tcp_pair(host)
            await client.send(b"x" * 100)
            assert await server.recv(200) == b"x" * 100
            client.close()
            assert await server.recv(10) == b""  # the FIN's clone, read: freed
            await server.send(b"late")  # to a closed socket: a reset comes back
            await trio.sleep(0.1)
        freed = tracer.of("skb_free")
        roles = Counter(str(e.fields.get("role", "")) for e in freed if not e.fields["len"])
        assert "" not in roles, roles
        assert {
            "the SYN",
            "the SYN-ACK",
            "a pure ACK",
            "a FIN alone",
            "a reset answering a segment",
        } <= set(roles)
        assert roles["a FIN alone"] == 2  # the skb on the retransmit queue and its clone
        assert all("role" not in e.fields for e in freed if e.fields["len"])
        for sock in (client, server, listener):
            sock.close()


@pytest.mark.parametrize("family", [netsim.AF_INET, netsim.AF_INET6])
async def test_udp_corked_appends(autojump_clock: trio.testing.MockClock, family: int) -> None:
    """MSG_MORE appends: the first chunk goes into the linear area, later ones into one frag."""
    addr = "127.0.0.1" if family == netsim.AF_INET else "::1"
    async with netsim.open_host() as host:
        rx = host.socket(family, netsim.SOCK_DGRAM)
        await rx.bind((addr, 6000))
        tx = host.socket(family, netsim.SOCK_DGRAM)
        await tx.connect((addr, 6000))
        with host.tracing() as tracer:
            await tx.sendmsg([b"1" * 100], [], netsim.MSG_MORE)
            await tx.sendmsg([b"2" * 100], [], netsim.MSG_MORE)
            await tx.send(b"3" * 100)
        kinds = [e.kind for e in tracer if e.kind in ("new_skb", "linear", "new_frag", "coalesce")]
        assert kinds == ["new_skb", "linear", "new_frag", "coalesce"]
        assert tracer.of("new_skb")[0].reason == "the datagram's first skb (the queue is empty)"
        assert tracer.of("linear")[0].fields["len"] == 100
        assert "SKB_MAX_ALLOC" in tracer.of("linear")[0].reason
        (sent,) = tracer.of("transmit")
        headers = 28 if family == netsim.AF_INET else 48
        assert sent.fields["len"] == headers + 300
        assert sent.fields["nr_frags"] == 1
        assert await rx.recv(1000) == b"1" * 100 + b"2" * 100 + b"3" * 100
        rx.close()
        tx.close()


async def test_udp_without_sg_is_linear(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        host.devices["lo"].set_feature("tx-scatter-gather", False)
        rx = host.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
        await rx.bind(("127.0.0.1", 6000))
        tx = host.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
        await tx.connect(("127.0.0.1", 6000))
        with host.tracing() as tracer:
            await tx.sendmsg([b"1" * 100], [], netsim.MSG_MORE)
            await tx.send(b"2" * 100)
        linear = _reasons(tracer, "linear")
        assert linear[0].startswith("the device has no scatter-gather (NETIF_F_SG off)")
        assert linear[1] == (
            "the device has no scatter-gather (NETIF_F_SG off): appended to the head's tailroom"
        )
        assert not tracer.of("new_frag")
        assert not tracer.of("refill")
        assert await rx.recv(1000) == b"1" * 100 + b"2" * 100
        rx.close()
        tx.close()


async def test_cache_recycles_a_page_every_frag_left(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A reader that keeps up frees every frag before the page fills: the cache recycles it
    (no page allocation); the trace says why."""
    async with netsim.open_host(allocator="page_frag_cache") as host:
        listener, client, server = await _tcp_pair(host)
        with host.tracing() as tracer:
            for _ in range(6):
                await client.send(b"p" * 16384)
                got = 0
                while got < 16384:
                    got += len(await server.recv(65536))
        recycles = _reasons(tracer, "recycle")
        assert recycles
        assert all(
            r.startswith("page full, and every frag on it was already freed") for r in recycles
        )
        assert len(tracer.of("page_alloc")) == 1
        for sock in (client, server, listener):
            sock.close()


async def test_untraced_and_detached(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        listener, client, server = await _tcp_pair(host)
        tracer = netsim.Tracer(kinds=frozenset({"coalesce", "new_frag"}))
        seen: list[netsim.TraceEvent] = []
        tracer.listener = seen.append
        with host.tracing(tracer) as same:
            assert same is tracer
            with pytest.raises(RuntimeError, match="already being traced"), host.tracing():
                pass
            await client.send(b"k" * 100)
        assert [e.kind for e in tracer] == ["new_frag"]
        assert seen == tracer.events
        await client.send(b"k" * 100)
        assert len(tracer) == 1  # detached: nothing more recorded
        assert host.net.stats.tracer is None
        assert all(a.stats.tracer is None for a in host.page_allocator.accounts.values())
        got = 0
        while got < 200:
            got += len(await server.recv(1000))
        for sock in (client, server, listener):
            sock.close()


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown trace event kinds: bogus"):
        netsim.Tracer(kinds=frozenset({"coalesce", "bogus"}))


def test_event_text_and_dict() -> None:
    event = netsim.TraceEvent(3, 0.5, "coalesce", "tcp_sendmsg_locked", "why", {"pfn": 4096})
    assert str(event) == "coalesce      pfn=0x1000  -- why"
    assert event.as_dict() == {
        "seq": 3,
        "time": 0.5,
        "kind": "coalesce",
        "where": "tcp_sendmsg_locked",
        "reason": "why",
        "fields": {"pfn": 4096},
    }


TlsPair = Callable[..., Awaitable[tuple[netsim.Socket, netsim.Socket, netsim.Socket]]]


@pytest.mark.parametrize("device", [False, True], ids=["sw", "device"])
async def test_tls_records_are_traced(
    autojump_clock: trio.testing.MockClock, tls_pair: TlsPair, device: bool
) -> None:
    """kTLS: bytes joining a record's frags, records pushed to TCP, and TCP's splice of the
    record pages — each counted decision has its event."""
    from netsim.tls import tls_crypto_info

    info = tls_crypto_info(bytes(range(16)), bytes(8), b"\x01\x02\x03\x04")
    async with netsim.open_host() as host:
        listener, client, server = await tls_pair(host, info, device=device)
        before = host.stats()
        with host.tracing() as tracer:
            for n in (100, 200, 40_000):
                await client.sendmsg([b"t" * n], [], netsim.MSG_MORE)
            await client.send(b"e" * 10)
            after = host.stats()
        got = 0
        while got < 40_310:
            got += len(await server.recv(1 << 16))
        for sock in (client, server, listener):
            sock.close()

    def delta(name: str) -> int:
        return after[name] - before[name]

    record_merges = [e for e in tracer.of("coalesce") if "record" in e.fields]
    skb_merges = [e for e in tracer.of("coalesce") if "skb" in e.fields]
    assert len(record_merges) == delta("tls_record_coalesce") > 0
    assert len(skb_merges) == delta("skb_coalesce")
    assert len([e for e in tracer.of("new_frag") if "skb" in e.fields]) == delta("skb_new_frag")
    pushes = tracer.of("record_push")
    assert len(pushes) == delta("tls_records") == 3  # 16 KiB, 16 KiB, the rest
    assert [e.fields["record"] for e in pushes] == ["rec1", "rec2", "rec3"]
    assert sum(int(e.fields["nr_frags"]) for e in pushes) == delta("tls_record_frags")
    if device:
        assert {e.where for e in tracer.of("new_frag")} >= {"skb_splice_from_iter"}


async def test_retransmissions_say_why(autojump_clock: trio.testing.MockClock) -> None:
    """Over a link that is down for a second: the tail loss probe, then one retransmission
    per RTO, each a fresh clone of the skb the retransmit queue kept."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b)
        listener = b.socket()
        await listener.bind(("10.0.0.2", 5000))
        listener.listen()
        client = a.socket()
        await client.connect(("10.0.0.2", 5000))
        server, _ = await listener.accept()
        a.net.devices["eth0"].set_faults(netsim.FaultPlan(down=[(0.0, 1.0)]))  # type: ignore[attr-defined]
        with a.tracing() as tracer:
            await client.send(b"lost, then resent")
            assert await server.recv(100) == b"lost, then resent"
        reasons = _reasons(tracer, "retransmit")
        assert reasons[0].startswith("a tail loss probe")
        assert len(reasons) == a.stats()["TcpRetransSegs"] == 4
        assert all(r.startswith("the retransmission timer fired") for r in reasons[1:])
        assert len(tracer.of("skb_clone")) == 5  # the first transmission and four resends
        for sock in (client, server, listener):
            sock.close()
