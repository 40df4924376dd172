"""Why ``page_frag_cache`` allocates far more pages than ``page_frag`` at small TCP writes.

Runs netcat's pattern on emulated loopback — one task writes ``WRITE`` bytes at a time, the
other reads everything as it comes — once per allocator, and prints, write by write, what the
task's fragment allocator did: which page it carved from, at what offset the write's bytes
start, how many holders the page has besides the allocator (``refcount - pagecnt_bias`` for
the cache, ``refcount - 1`` for the old allocator), and the event (refill, reuse, recycle,
abandon).  Then pages allocated per MiB for each.

The answer it shows (docs/page-appetite.md explains it with the kernel's code):

* the old ``page_frag`` (``skb_page_frag_refill``) looks at the page on **every** write and
  starts it again at offset 0 whenever its count is back to 1 — here, whenever the reader
  has read the previous write and its ACK has freed the retransmit queue's copy;
* ``page_frag_cache`` looks only when the page is **used up** (fewer than 32 bytes left), and
  that happens in the middle of a write, just after the write's first part filled the page's
  tail: the write itself holds a reference, so the page can never be recycled then — it is
  abandoned to its holders and a new one allocated, once per 32 KiB whatever the timing.

usage: python examples/page_appetite.py [WRITE [COUNT]]    (default 1000 bytes, 200 writes)
"""

from __future__ import annotations

import sys

import trio
import trio.testing

import netsim

WRITE = 1000
COUNT = 200
EVENTS = ("frag_abandon", "frag_recycle", "frag_reuse", "frag_refill")


async def trace(allocator: str, write: int, count: int, show: int) -> float:
    """Run ``count`` writes; print the first ``show`` lines and those with an event.
    Returns pages allocated per MiB by the socket's allocator."""
    async with netsim.open_host(allocator) as host:
        listener = host.socket(netsim.AF_INET, netsim.SOCK_STREAM)
        await listener.bind(("127.0.0.1", 1234))
        listener.listen()
        client = host.socket(netsim.AF_INET, netsim.SOCK_STREAM)
        await client.connect(("127.0.0.1", 1234))
        server, _ = await listener.accept()
        ctx = host.task_context()
        print(f"--- {allocator}, {write}-byte writes")
        print(f"{'write':>5}  {'holders':>7}  {'bytes went to':<28}  event")
        start = host.stats().account("sk_page_frag")
        received = 0

        async def read() -> None:
            nonlocal received
            while received < write * count:
                received += len(await server.recv(65536))

        pages: dict[int, str] = {}
        quiet = 0

        def where() -> tuple[str, int, int]:
            frag = ctx.task_frag
            if frag is None or frag.page is None:
                return "-", 0, 0
            page = frag.page
            bias = getattr(frag, "pagecnt_bias", 1)
            return pages.setdefault(page.pfn, f"p{len(pages)}"), frag.offset, page.refcount - bias

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            for i in range(count):
                old_page, old_off, holders = where()  # what the allocator finds
                before = host.stats().account("sk_page_frag")
                await client.send(bytes(write))
                after = host.stats().account("sk_page_frag")
                new_page, new_off, _ = where()
                events = [
                    name.removeprefix("frag_")
                    for name in EVENTS
                    for _ in range(after[name] - before[name])
                ]
                if new_page == old_page and new_off == old_off + write:
                    went = f"{new_page}[{old_off}:{new_off})"
                elif new_page == old_page or old_page == "-":
                    went = f"{new_page}[{new_off - write}:{new_off})"
                else:
                    head = write - new_off
                    went = f"{old_page}[{old_off}:{old_off + head}) + {new_page}[0:{new_off})"
                if i < show or set(events) - {"reuse"}:
                    if quiet:
                        print(f"{'':>5}  ({quiet} more writes, each a reuse from offset 0)")
                        quiet = 0
                    print(f"{i:>5}  {holders:>7}  {went:<28}  {' '.join(events)}")
                elif events == ["reuse"]:
                    quiet += 1
                await trio.sleep(0.001)  # the reader reads, the ACK comes back
        if quiet:
            print(f"{'':>5}  ({quiet} more writes, each a reuse from offset 0)")
        used = host.stats().account("sk_page_frag") - start
        per_mib = used["page_alloc"] / (write * count / (1 << 20))
        print(f"pages allocated: {used['page_alloc']} ({per_mib:.2f} per MiB)")
        for sock in (client, server, listener):
            sock.close()
        return per_mib


async def main(write: int, count: int) -> dict[str, float]:
    return {
        allocator: await trace(allocator, write, count, show=3)
        for allocator in ("page_frag", "page_frag_cache")
    }


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    write, count = (args + [WRITE, COUNT][len(args) :])[:2]
    trio.run(main, write, count, clock=trio.testing.MockClock(autojump_threshold=0))
