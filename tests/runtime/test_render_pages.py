"""``netsim.render_pages(host)``: every live page with its references split into holders and
the allocator's share, an occupancy bar, the allocators' cursors, and the byte ranges the
frags of queued skbs hold."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import netsim


@pytest.mark.parametrize(
    ("allocator", "refs", "cursor"),
    [
        (
            "page_frag_cache",
            "ref 32769 = 1 holder + bias 32768 of page_frag_cache",
            "task_frag (page_frag_cache): offset 23000, bias 32768",
        ),
        (
            "page_frag",
            "ref 2 = 1 holder + 1 of page_frag",
            "task_frag (page_frag): offset 23000 of 32768",
        ),
    ],
)
async def test_corked_writes_in_one_frag(
    autojump_clock: trio.testing.MockClock, allocator: str, refs: str, cursor: str
) -> None:
    async with netsim.open_host(allocator=allocator) as host:
        listener = host.socket()
        await listener.bind(("127.0.0.1", 5000))
        listener.listen()
        client = host.socket()
        await client.connect(("127.0.0.1", 5000))
        server, _ = await listener.accept()
        client.setsockopt(netsim.SOL_TCP, netsim.TCP_CORK, 1)
        await client.send(b"a" * 3000)
        await client.send(b"b" * 20000)  # continues the frag: coalesced, no new reference
        sport = client.getsockname()[1]
        lines = netsim.render_pages(host).splitlines()
        assert lines[0].startswith("page 0x1000 order 3 (32768 B, ")
        assert lines[0].endswith(refs)
        bar = lines[1].strip()
        assert len(bar) == 66  # [ + 64 columns + ]
        assert bar[1:45] == "#" * 44  # 23000 of 32768 bytes held (columns rounded up)
        assert bar[45] == "|"  # the allocator's cursor at 23000
        assert lines[2].strip().endswith(cursor)
        assert (
            lines[3].strip()
            == f"[0 .. 23000) len 23000  tcp :{sport}->:5000 sk_write_queue[0] frag[0]"
        )
        for sock in (client, server, listener):
            sock.close()


async def test_no_pages_no_lines(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host() as host:
        assert netsim.render_pages(host) == ""


async def test_two_tasks_of_one_function_are_told_apart(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Each task's ``task_frag`` is named by the trio task and a per-host serial."""
    async with netsim.open_host() as host:
        udp = host.socket(netsim.AF_INET, netsim.SOCK_DGRAM)
        await udp.bind(("127.0.0.1", 0))
        dest = udp.getsockname()
        names: list[str] = []

        async def writer() -> None:
            await udp.sendto(b"x" * 100, dest)
            names.append(host.task_context().name)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            nursery.start_soon(writer)
        assert len(set(names)) == 2
        assert all(".writer#" in name for name in names)
        udp.close()


async def test_page_map_names_skbs_as_the_trace_does(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``host.page_map(tracer.skb)``: the skbs and ranges carry the labels the events use,
    the queue position beside them; ``host.render_pages`` draws the same walk."""
    async with netsim.open_host(allocator="page_frag") as host:
        listener = host.socket()
        await listener.bind(("127.0.0.1", 5000))
        listener.listen()
        client = host.socket()
        await client.connect(("127.0.0.1", 5000))
        server, _ = await listener.accept()
        client.setsockopt(netsim.SOL_TCP, netsim.TCP_CORK, 1)
        sport = client.getsockname()[1]
        queue = f"tcp :{sport}->:5000 sk_write_queue[0]"
        with host.tracing() as tracer:
            await client.send(b"a" * 100)
            await client.send(b"b" * 100)
            pmap = host.page_map(tracer.skb)
            text = host.render_pages(tracer.skb)
        (label,) = {e.fields["skb"] for e in tracer.of("new_frag", "coalesce")}
        (page,) = pmap["pages"]
        assert page["ranges"] == [{"start": 0, "end": 200, "skb": label, "frag": 0, "queue": queue}]
        assert (page["holders"], page["allocator_share"], page["share"]) == (1, 1, "own")
        (cursor,) = page["cursors"]
        assert cursor["offset"] == 200
        assert cursor["size"] == 32768
        assert cursor["bias"] is None
        assert cursor["name"].startswith("task ")
        assert cursor["name"].endswith(" task_frag")
        (skb,) = pmap["skbs"]
        assert (skb["label"], skb["queue"], skb["len"], skb["nr_frags"]) == (label, queue, 200, 1)
        assert text.splitlines()[-1] == f"  [0 .. 200) len 200  {label} frag[0]  {queue}"
        default = host.page_map()  # without labels: the queue position names the skb
        assert default["skbs"][0]["label"] == queue
        assert netsim.render_pages(host) == host.render_pages()
        for sock in (client, server, listener):
            sock.close()
