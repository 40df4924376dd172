"""The ``netsim`` command line: ``netsim nc``, ``netsim trace`` and ``netsim packetdrill``
(and ``python -m netsim``)."""

from __future__ import annotations

import sys

__all__ = ["main"]

USAGE = """\
usage: netsim COMMAND [ARGS]

commands:
  nc        netcat over the emulated stack: throughput and what the allocator did
            (netsim nc --help)
  trace     a few writes, step by step: coalesce or new frag and why, the skbs and
            the pages after each (netsim trace --help)
  packetdrill  run packetdrill scripts against a netsim host in virtual time: PASS,
            FAIL or UNSUPPORTED per script (netsim packetdrill --help)

options:
  --version  print netsim's version
"""


def main(argv: list[str] | None = None) -> int:
    """The ``netsim`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, end="", file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    if args[0] == "--version":
        from .. import BUILD, __version__

        print(f"netsim {__version__} ({BUILD})")
        return 0
    if args[0] == "nc":
        from .nc import main as nc_main

        return nc_main(args[1:])  # it handles Ctrl-C, SIGPIPE and closed streams itself
    if args[0] == "trace":
        from .trace import main as trace_main

        return trace_main(args[1:])
    if args[0] == "packetdrill":
        from .packetdrill import main as packetdrill_main

        return packetdrill_main(args[1:])
    print(f"netsim: unknown command {args[0]!r}\n\n{USAGE}", end="", file=sys.stderr)
    return 2
