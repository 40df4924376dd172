"""Where netsim answers differently from the reference (a blocking Linux socket, see
blocking.py), in two lists.

``KNOWN_DIVERGENCES = {case: what differs}`` — netsim is wrong there today.  Each entry marks
the case's netsim test ``xfail(strict=True)``, so a fix makes the test XPASS, which fails until
the entry is deleted here.  Then regenerate the docs (they show these notes):
``python3 tests/differential/record.py --docs``.  ``record.py --netsim CASE`` prints a case's
steps side by side.  Each entry says what Linux answers and what netsim answers instead.

``DELIBERATE = {case: Deliberate(reason, steps)}`` — netsim differs on purpose; ``steps`` is
netsim's own answer, which the test asserts (not an expected failure), and the docs show it
with the reason.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["DELIBERATE", "KNOWN_DIVERGENCES", "Deliberate"]


class Deliberate(NamedTuple):
    """Why netsim answers differently from the table on purpose, and what it answers."""

    reason: str
    steps: list[tuple[str, str]]


DELIBERATE: dict[str, Deliberate] = {
    "bind_localhost_on_inet6": Deliberate(
        "netsim's resolver has its own hosts table, the usual one: 'localhost' is 127.0.0.1 "
        "and ::1, so an AF_INET6 socket gets ::1.  The machine the table was recorded on names "
        "only 127.0.0.1 'localhost' in /etc/hosts, so getaddrinfo() (AI_V4MAPPED) gave "
        "::ffff:127.0.0.1 there; a host with '::1 localhost' in /etc/hosts answers as netsim.",
        [
            ("s.bind(('localhost', P1))", "ok None"),
            ("s.getsockname()", "ok ('::1', P1, 0, 0)"),
        ],
    ),
}

KNOWN_DIVERGENCES: dict[str, str] = {
    # -- addresses and bind -----------------------------------------------------------------------
    # -- connect ----------------------------------------------------------------------------------
    # -- listen and accept ------------------------------------------------------------------------
    # -- send, recv and their flags ---------------------------------------------------------------
    # -- SOL_SOCKET options -----------------------------------------------------------------------
    # -- SOL_IP and SOL_IPV6 ----------------------------------------------------------------------
    # -- SOL_TCP ----------------------------------------------------------------------------------
}
