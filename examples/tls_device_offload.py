"""kTLS device offload on emulated loopback: the records the socket builds in page frags, and
the TCP skbs that reference them.

Linux's ``lo`` cannot offload TLS (``ethtool -k lo``: ``tls-hw-tx-offload: off [fixed]``);
netsim's emulated ``lo`` is given the feature here, so ``TLS_TX`` takes the device path
(net/tls/tls_device.c): the socket builds each record **in plaintext** in ``sk_page_frag()``
frags — a 13-byte prepend (header + explicit nonce), the payload, a 16-byte tag placeholder —
and hands the frags to TCP with ``MSG_SPLICE_PAGES``; the emulated NIC encrypts each segment
as it leaves.  TCP takes the frags 4 KiB sub-page by sub-page, so its frags never cross a
4 KiB boundary.  The record keeps its own page references until TCP's ACK passes its end.

Three writes, corked (``TCP_CORK``) so that they stay in the socket to be looked at:

* 16384 bytes — one full record, closed at the end of the write;
* 100 bytes with ``MSG_MORE`` — the record stays open;
* 5000 bytes — join the open record (5100 bytes of payload), which then closes.

Then the cork comes off, the listener reads (software kTLS: it decrypts and checks every
record) and the bytes are compared with what was sent; once the ACKs are in, the records are
gone from ``records_list`` and their pages back.  Sequence numbers are relative to where the
offload started, as tcpdump prints them.  Virtual time, seeded data: the output is the same
every run.

usage: python examples/tls_device_offload.py [ALLOCATOR]     (default page_frag_cache)
"""

from __future__ import annotations

import random
import sys

import trio
import trio.testing

import netsim
from netsim.dev import NETIF_F_HW_TLS_TX
from netsim.tls import TlsRecordInfo, tls_crypto_info, tls_get_ctx, tls_info

WRITES = ((16384, 0), (100, netsim.MSG_MORE), (5000, 0))
COUNTERS = (
    "tls_records",
    "tls_record_frags",
    "tls_record_coalesce",
    "tls_dev_encrypt",
    "tls_sw_encrypt",
    "tls_rx_records",
    "TlsTxDevice",
    "TlsCurrTxDevice",
    "TlsRxSw",
    "TlsCurrRxSw",
)


def frags_text(frags: list[netsim.skb.SkbFrag]) -> str:
    return ", ".join(f"[pfn {f.page.pfn:#x} off {f.offset} len {f.len}]" for f in frags)


def record_line(record: TlsRecordInfo, base: int) -> str:
    if record.is_start_marker():
        return f"    start marker at seq {record.end_seq - base}"
    payload = record.len - 13 - 16
    return (
        f"    record {record.rec_seq}: seq {record.start_seq - base}..{record.end_seq - base}, "
        f"len {record.len} (13 + {payload} + 16 tag), frags {frags_text(record.frags)}"
    )


async def main(allocator: str = "page_frag_cache") -> int:
    data = random.Random(2024).randbytes(sum(size for size, _ in WRITES))
    async with netsim.open_host(allocator=allocator) as host:
        lo = host.devices["lo"]
        lo.features |= NETIF_F_HW_TLS_TX  # ethtool -K lo tls-hw-tx-offload on (emulated only)
        listener = host.socket()
        await listener.bind(("127.0.0.1", 4433))
        listener.listen()
        client = host.socket()
        await client.connect(("127.0.0.1", 4433))
        server, _ = await listener.accept()

        # no handshake: both ends get the same fixed key, as a kTLS test harness sets them
        info = tls_crypto_info(key=bytes(range(16)), iv=bytes(8), salt=bytes(4), rec_seq=0)
        client.setsockopt(netsim.SOL_TCP, netsim.TCP_ULP, b"tls")
        client.setsockopt(netsim.SOL_TLS, netsim.TLS_TX, info)
        server.setsockopt(netsim.SOL_TCP, netsim.TCP_ULP, b"tls")
        server.setsockopt(netsim.SOL_TLS, netsim.TLS_RX, info)
        print(
            f"client TLS_TX: {tls_info(client.tcp_sk)['txconf']} (device offload on lo), "
            f"server TLS_RX: {tls_info(server.tcp_sk)['rxconf']} (software kTLS)"
        )
        ctx = tls_get_ctx(client.tcp_sk)
        assert ctx is not None
        offload = ctx.tx_offload
        assert offload is not None
        base = offload.start_seq

        before = host.stats()
        client.setsockopt(netsim.SOL_TCP, netsim.TCP_CORK, 1)  # hold the segments back
        sent = 0
        for size, flags in WRITES:
            sent += await client.send(data[sent : sent + size], flags)
            more = " with MSG_MORE" if flags & netsim.MSG_MORE else ""
            print(f"\nsend({size}){more}")
            print("  records_list:")
            for record in offload.records_list:
                print(record_line(record, base))
            if offload.open_record is not None:
                record = offload.open_record
                print(f"    open record: len {record.len} so far, frags {frags_text(record.frags)}")
            print("  TCP's write queue (the records' frags, spliced 4 KiB sub-page by sub-page):")
            for skb in client.tcp_sk.sk_write_queue:
                seq = skb.cb.seq - base
                print(f"    skb seq {seq}..{seq + skb.len}, {len(skb.frags)} frags:")
                for frag in skb.frags:
                    print(f"      pfn {frag.page.pfn:#x} off {frag.offset:4d} len {frag.len:4d}")

        records = [r for r in offload.records_list if not r.is_start_marker()]
        page = records[0].frags[0].page
        held = page.refcount
        record_refs = sum(r.num_frags for r in records)
        skb_refs = sum(len(skb.frags) for skb in client.tcp_sk.sk_write_queue)
        client.setsockopt(netsim.SOL_TCP, netsim.TCP_CORK, 0)  # out they go, through the NIC
        got = bytearray()
        while len(got) < len(data):
            got += await server.recv(65536)
        assert bytes(got) == data, "the listener decrypted other bytes than were sent"
        print(f"the listener read {len(got)} bytes: decrypted, authenticated, the bytes sent")
        await trio.sleep(0.2)  # past the delayed ACK: the ACKs free the records
        freed = all(not r.frags for r in records)
        print(
            f"after the ACKs: {len(offload.records_list)} records on records_list, the "
            f"{len(records)} records' frags {'freed' if freed else 'STILL HELD'} "
            "(tls_tcp_clean_acked -> destroy_record)"
        )
        print(
            f"page {page.pfn:#x}: refcount {held} -> {page.refcount}, "
            f"{held - page.refcount} references dropped: {record_refs} of the records' frags, "
            f"{skb_refs} of TCP's"
        )

        delta = host.stats() - before
        now = host.stats()
        print("\ncounters of the transfer (the Tls* ones: /proc/net/tls_stat, since the start)")
        for name in COUNTERS:
            value = now[name] if name.startswith("Tls") else delta[name]
            print(f"  {name:<20} {value}")
        for sock in (client, server, listener):
            sock.close()
    return 0


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "page_frag_cache"
    if name not in netsim.available_frag_allocators():
        known = ", ".join(sorted(netsim.available_frag_allocators()))
        raise SystemExit(
            "usage: python examples/tls_device_offload.py [ALLOCATOR]\n"
            f"unknown allocator {name!r} (known: {known})"
        )
    raise SystemExit(trio.run(main, name, clock=trio.testing.MockClock(autojump_threshold=0)))
