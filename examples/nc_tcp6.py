"""The series' IPv6 TCP netcat run, emulated on one netsim host —
``nc_tcp4.py``'s program, on ``::1``:

    nc -l6 -k 1234 > /dev/null                      # the listener
    head -c 20G /dev/zero | nc ::1 1234             # the client

Two trio tasks on one host: the listener reads and discards in 16 KiB reads, the client writes
BYTES zeros in 16 KiB writes (OpenBSD netcat's buffer) and then shuts down its side.  Prints
dd's line and what the fragment allocator did.  Usage (sizes as ``head -c`` takes them)::

    python examples/nc_tcp6.py [BYTES [ALLOCATOR]]     # e.g. 256M page_frag; default 32M
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # nc_tcp4.py, next to this file

import nc_tcp4

import netsim


def main(argv: list[str]) -> int:
    return nc_tcp4.main(argv, family=netsim.AF_INET6, addr="::1")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
