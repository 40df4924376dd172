"""RTT samples as ``tcp_ack_update_rtt`` takes them (net/ipv4/tcp_input.c): from the ACK's
timing, except when retransmitted data is acknowledged (Karn's rule); then from the timestamp
echo (``tcp_rtt_tsopt_us``) — so a retransmission does not leave the RTO inflated — and only
a valid sample ends the exponential backoff (RFC 6298)."""

from __future__ import annotations

import random

import trio
import trio.testing

import netsim
from netsim import AF_INET, SOCK_STREAM, FaultPlan
from netsim.tcp.input import Segment, tcp_ack_update_rtt
from netsim.tcp.sock import tcp_ts


async def _connected(a: netsim.Host, b: netsim.Host) -> tuple[netsim.Socket, netsim.Socket]:
    listener = b.socket(AF_INET, SOCK_STREAM)
    await listener.bind(("", 5001))
    listener.listen(1)
    client = a.socket(AF_INET, SOCK_STREAM)
    await client.connect(("10.0.0.2", 5001))
    server, _ = await listener.accept()
    listener.close()
    return client, server


async def test_the_timestamp_echo_is_the_sample_karn_forbids(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b, delay=0.005)
        client, server = await _connected(a, b)
        sk = client.tcp_sk
        assert sk.tstamp_ok
        srtt_before = sk.srtt_us
        seg = Segment(bytearray(20), 0)

        seg.tsecr = (tcp_ts(sk) - 30) & 0xFFFFFFFF  # our tsval of 30 ms ago, echoed
        sk.backoff = 3
        assert tcp_ack_update_rtt(sk, seg, -1.0)  # no timing sample (Karn): the echo
        assert sk.backoff == 0
        # srtt moved an eighth of the way from ~10 ms toward the 30 ms sample
        assert sk.srtt_us > srtt_before
        assert abs((sk.srtt_us >> 3) - ((srtt_before >> 3) * 7 + 30_000) / 8) < 1_000

        seg.tsecr = tcp_ts(sk)  # echoed now: 0 ms counts as 1 ms (min_delta)
        before = sk.srtt_us
        assert tcp_ack_update_rtt(sk, seg, -1.0)
        assert abs((sk.srtt_us >> 3) - ((before >> 3) * 7 + 1_000) / 8) < 10

        seg.tsecr = 0  # no echo: no sample, and the backoff stays
        sk.backoff = 2
        assert not tcp_ack_update_rtt(sk, seg, -1.0)
        assert sk.backoff == 2
        seg.tsecr = tcp_ts(sk)
        sk.tstamp_ok = False  # timestamps not negotiated: Karn's rule leaves nothing
        assert not tcp_ack_update_rtt(sk, seg, -1.0)
        assert sk.backoff == 2
        assert tcp_ack_update_rtt(sk, seg, 0.012)  # a sample from the ACK's own timing
        assert sk.backoff == 0
        sk.tstamp_ok = True
        client.close()
        server.close()


async def test_losses_leave_the_rto_where_the_path_puts_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """1 MiB across a 10 ms link losing 3 % each way: every byte arrives, and once it has, the
    RTO is what the path's RTT gives (200 ms minimum plus variance), not a retransmission's
    inflated value, and no backoff is left."""
    payload = random.Random(3).randbytes(1 << 20)
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, rate=1e8, delay=0.005, faults=FaultPlan(loss=0.03, seed=2))
        client, server = await _connected(a, b)
        received = bytearray()

        async def read() -> None:
            while chunk := await server.recv(65536):
                received.extend(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            view = memoryview(payload)
            while view:
                view = view[await client.send(view) :]
            client.shutdown(netsim.SHUT_WR)
        assert bytes(received) == payload
        info = client.tcp_sk.info()
        assert info["total_retrans"] > 10
        assert info["backoff"] == 0
        assert 200_000 <= info["rto_us"] < 300_000
        client.close()
        server.close()
