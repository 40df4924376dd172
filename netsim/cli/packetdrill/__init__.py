"""``netsim packetdrill SCRIPT...``: run packetdrill scripts against a netsim host.

Each script runs on a fresh host in virtual time (:mod:`.runner`), parsed by :mod:`.script`;
the command prints one line per script — ``PASS``, ``FAIL: line N: expected …, got …`` or
``UNSUPPORTED: line N: …`` — and exits 0 only if every script passed.  docs/packetdrill.md
says what is supported.
"""

from __future__ import annotations

import argparse

from .runner import Config, Outcome, run_file, run_script
from .script import Script, ScriptError, parse_script

__all__ = [
    "Config",
    "Outcome",
    "Script",
    "ScriptError",
    "main",
    "parse_script",
    "run_file",
    "run_script",
]

_EPILOG = """\
Scripts use packetdrill's format and defaults: local address 192.168.0.1 (IPv6
fd3d:a0b:17d6::1), remote 192.0.2.1 (fd3d:fa7b:d17d::1), port 8080, MTU 1500 (1520 for
IPv6, as the kernel's ksft_runner.sh sets).  The subset that drives and checks a TCP
transmit path is supported (docs/packetdrill.md); anything else is reported UNSUPPORTED
with its line, and an UNSUPPORTED script counts as not passing: the exit status is 0 only
if every script passed, 1 otherwise, 2 for bad arguments.
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="netsim packetdrill",
        description="Run packetdrill scripts against a netsim host in virtual time.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scripts", nargs="+", metavar="SCRIPT", help="packetdrill .pkt files")
    p.add_argument(
        "--ip-version",
        "--ip_version",
        choices=("ipv4", "ipv6"),
        default="ipv4",
        help="the address family (a script's own --ip_version wins; default ipv4)",
    )
    p.add_argument(
        "--tolerance-usecs",
        "--tolerance_usecs",
        type=int,
        default=4000,
        metavar="N",
        help="timing tolerance in microseconds (packetdrill's default, 4000)",
    )
    p.add_argument(
        "--mtu", type=int, default=None, help="the device's MTU (default 1500; 1520 for ipv6)"
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="log every event and packet as it runs"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """The ``netsim packetdrill`` command."""
    args = _parser().parse_args(argv)
    passed = 0
    counts = {"PASS": 0, "FAIL": 0, "UNSUPPORTED": 0}
    for path in args.scripts:
        log = None
        if args.verbose:

            def log(text: str, path: str = path) -> None:
                print(f"{path}: {text}", flush=True)

        config = Config(args.ip_version, args.tolerance_usecs, args.mtu, log)
        outcome = run_file(path, config)
        counts[outcome.status] += 1
        passed += outcome.passed
        print(f"{path}: {outcome}", flush=True)
    if len(args.scripts) > 1:
        print(
            f"{len(args.scripts)} scripts: {counts['PASS']} passed, {counts['FAIL']} failed, "
            f"{counts['UNSUPPORTED']} unsupported"
        )
    return 0 if passed == len(args.scripts) else 1
