"""The series' IPv4 TCP netcat run, emulated on one netsim host:

    nc -l -k 1234 > /dev/null                       # the listener
    head -c 20G /dev/zero | nc 127.0.0.1 1234       # the client

Two trio tasks on one host: the listener reads and discards in 16 KiB reads, the client writes
BYTES zeros in 16 KiB writes (OpenBSD netcat's buffer) and then shuts down its side.  Prints
dd's line and what the fragment allocator did.  Usage (sizes as ``head -c`` takes them)::

    python examples/nc_tcp4.py [BYTES [ALLOCATOR]]     # e.g. 256M page_frag; default 32M
"""

from __future__ import annotations

import sys
import time

import trio

import netsim
from netsim.cli.nc import parse_size  # sizes as head -c takes them: 32M, 1G, 512K
from netsim.stats.report import FragReport, dd_line

CHUNK = 16384  # netcat's BUFSIZE: bytes per write and per read


async def nc(nbytes: int, allocator: str, family: int, addr: str) -> None:
    async with netsim.open_host(allocator=allocator) as host:
        listener = host.socket(family, netsim.SOCK_STREAM)
        await listener.bind((addr, 1234))
        listener.listen(1)
        client = host.socket(family, netsim.SOCK_STREAM)
        await client.connect((addr, 1234))
        received = 0

        async def nc_listen() -> None:  # nc -l 1234 > /dev/null
            nonlocal received
            conn, _ = await listener.accept()
            buf = bytearray(CHUNK)
            while n := await conn.recv_into(buf):
                received += n
            conn.close()

        async def nc_client() -> None:  # head -c BYTES /dev/zero | nc -N ADDR 1234
            zeros = memoryview(bytes(CHUNK))
            left = nbytes
            while left:
                left -= await client.send(zeros[: min(left, CHUNK)])
            client.shutdown(netsim.SHUT_WR)  # EOF: the listener's recv returns 0

        before = host.stats()
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(nc_listen)
            nursery.start_soon(nc_client)
        seconds = time.perf_counter() - t0
        report = FragReport.between(before, host.stats(), nbytes, seconds, allocator=allocator)
        client.close()
        listener.close()
    assert received == nbytes, f"received {received} of {nbytes} bytes"
    print(dd_line(received, seconds))
    print()
    print(report.format(f"nc {addr} 1234"))


def main(argv: list[str], family: int = netsim.AF_INET, addr: str = "127.0.0.1") -> int:
    nbytes = parse_size(argv[0]) if argv else 32 << 20
    allocator = argv[1] if len(argv) > 1 else "page_frag_cache"
    trio.run(nc, nbytes, allocator, family, addr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
