"""The series' IPv4 UDP netcat run, emulated on one netsim host:

    nc -u -l -k 1234 > /dev/null                    # the listener
    head -c 20G /dev/zero | nc -u 127.0.0.1 1234    # the client: one datagram per 16 KiB

Two trio tasks on one host: the client sends BYTES zeros as 16 KiB datagrams, the listener
reads and discards them with 16 KiB reads.  UDP has no EOF, so the listener stops once the
client is done and its receive queue is drained; datagrams the full receive buffer dropped
are the kernel's ``UdpRcvbufErrors``.  Usage (sizes as ``head -c`` takes them)::

    python examples/nc_udp4.py [BYTES [ALLOCATOR]]     # e.g. 256M page_frag; default 32M
"""

from __future__ import annotations

import sys
import time

import trio

import netsim
from netsim.cli.nc import parse_size  # sizes as head -c takes them: 32M, 1G, 512K
from netsim.stats.report import FragReport, dd_line

CHUNK = 16384  # netcat's BUFSIZE: bytes per datagram and per read


async def nc(nbytes: int, allocator: str, family: int, addr: str) -> None:
    async with netsim.open_host(allocator=allocator) as host:
        listener = host.socket(family, netsim.SOCK_DGRAM)
        await listener.bind((addr, 1234))
        client = host.socket(family, netsim.SOCK_DGRAM)
        await client.connect((addr, 1234))
        received = datagrams_in = datagrams_out = 0

        async def nc_listen() -> None:  # nc -u -l 1234 > /dev/null
            nonlocal received, datagrams_in
            buf = bytearray(CHUNK)
            while True:
                received += await listener.recv_into(buf)
                datagrams_in += 1

        before = host.stats()
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(nc_listen)
            zeros = memoryview(bytes(CHUNK))  # head -c BYTES /dev/zero | nc -u ADDR 1234
            for off in range(0, nbytes, CHUNK):
                await client.send(zeros[: min(CHUNK, nbytes - off)])
                datagrams_out += 1
            while listener.is_readable():  # the client is done: let the listener drain
                await trio.lowlevel.checkpoint()
            nursery.cancel_scope.cancel()  # ... and stop it, as ^C stops nc -u -l
        seconds = time.perf_counter() - t0
        report = FragReport.between(before, host.stats(), nbytes, seconds, allocator=allocator)
        client.close()
        listener.close()
    mib = "Udp6RcvbufErrors" if family == netsim.AF_INET6 else "UdpRcvbufErrors"
    lost = report.delta[mib]
    assert datagrams_in + lost == datagrams_out, (datagrams_in, lost, datagrams_out)
    print(dd_line(received, seconds))
    counts = f"{datagrams_out} datagrams sent, {datagrams_in} received, {lost} lost"
    print(f"{counts} ({mib}: the receive buffer was full)")
    print()
    print(report.format(f"nc -u {addr} 1234"))


def main(argv: list[str], family: int = netsim.AF_INET, addr: str = "127.0.0.1") -> int:
    nbytes = parse_size(argv[0]) if argv else 32 << 20
    allocator = argv[1] if len(argv) > 1 else "page_frag_cache"
    trio.run(nc, nbytes, allocator, family, addr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
