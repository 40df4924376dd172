"""The series' IPv6 UDP netcat run, emulated on one netsim host —
``nc_udp4.py``'s program, on ``::1``:

    nc -u -l6 -k 1234 > /dev/null                   # the listener
    head -c 20G /dev/zero | nc -u ::1 1234          # the client: one datagram per 16 KiB

Two trio tasks on one host: the client sends BYTES zeros as 16 KiB datagrams, the listener
reads and discards them with 16 KiB reads.  UDP has no EOF, so the listener stops once the
client is done and its receive queue is drained; datagrams the full receive buffer dropped
are the kernel's ``Udp6RcvbufErrors``.  Usage (sizes as ``head -c`` takes them)::

    python examples/nc_udp6.py [BYTES [ALLOCATOR]]     # e.g. 256M page_frag; default 32M
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # nc_udp4.py, next to this file

import nc_udp4

import netsim


def main(argv: list[str]) -> int:
    return nc_udp4.main(argv, family=netsim.AF_INET6, addr="::1")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
