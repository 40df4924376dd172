"""The TCP state machine as data (RFC 9293 §3.3.2, ``tcp_set_state`` callers in Linux).

Every state change in netsim goes through :func:`check_transition`, which refuses a move the
table does not list — so a bug that would, say, take ``LISTEN`` straight to ``FIN_WAIT1``
raises instead of quietly producing a socket in an impossible state.  The table is also what
the docs draw the diagram from.
"""

from __future__ import annotations

from typing import Final

from ..errors import TcpStateError as TcpStateError
from ..sock.sock import (
    TCP_CLOSE,
    TCP_CLOSE_WAIT,
    TCP_CLOSING,
    TCP_ESTABLISHED,
    TCP_FIN_WAIT1,
    TCP_FIN_WAIT2,
    TCP_LAST_ACK,
    TCP_LISTEN,
    TCP_SYN_RECV,
    TCP_SYN_SENT,
    TCP_TIME_WAIT,
)

__all__ = ["STATE_NAMES", "TRANSITIONS", "TcpStateError", "check_transition"]

STATE_NAMES: Final = {
    TCP_ESTABLISHED: "ESTABLISHED",
    TCP_SYN_SENT: "SYN_SENT",
    TCP_SYN_RECV: "SYN_RECV",
    TCP_FIN_WAIT1: "FIN_WAIT1",
    TCP_FIN_WAIT2: "FIN_WAIT2",
    TCP_TIME_WAIT: "TIME_WAIT",
    TCP_CLOSE: "CLOSE",
    TCP_CLOSE_WAIT: "CLOSE_WAIT",
    TCP_LAST_ACK: "LAST_ACK",
    TCP_LISTEN: "LISTEN",
    TCP_CLOSING: "CLOSING",
}

#: state -> (event, next state) pairs; any state may also go to CLOSE (reset, abort, done).
TRANSITIONS: Final[dict[int, tuple[tuple[str, int], ...]]] = {
    TCP_CLOSE: (("listen", TCP_LISTEN), ("connect: send SYN", TCP_SYN_SENT)),
    TCP_LISTEN: (("SYN: child sends SYN-ACK", TCP_SYN_RECV),),
    TCP_SYN_SENT: (
        ("SYN-ACK: send ACK", TCP_ESTABLISHED),
        ("SYN: simultaneous open, send SYN-ACK", TCP_SYN_RECV),
    ),
    TCP_SYN_RECV: (("ACK of SYN", TCP_ESTABLISHED), ("close: send FIN", TCP_FIN_WAIT1)),
    TCP_ESTABLISHED: (("close: send FIN", TCP_FIN_WAIT1), ("FIN received", TCP_CLOSE_WAIT)),
    TCP_FIN_WAIT1: (("ACK of FIN", TCP_FIN_WAIT2), ("FIN received", TCP_CLOSING)),
    TCP_FIN_WAIT2: (("FIN received", TCP_TIME_WAIT),),
    TCP_CLOSING: (("ACK of FIN", TCP_TIME_WAIT),),
    TCP_CLOSE_WAIT: (("close: send FIN", TCP_LAST_ACK),),
    TCP_LAST_ACK: (("ACK of FIN", TCP_CLOSE),),
    TCP_TIME_WAIT: (("2MSL timeout", TCP_CLOSE),),
}

_ALLOWED: Final = {
    state: {nxt for _, nxt in moves} | {TCP_CLOSE, state} for state, moves in TRANSITIONS.items()
}


def check_transition(old: int, new: int) -> None:
    """Raise :class:`TcpStateError` unless ``old -> new`` is in :data:`TRANSITIONS`."""
    if new not in _ALLOWED.get(old, ()):
        raise TcpStateError(
            f"TCP state {STATE_NAMES.get(old, old)} -> {STATE_NAMES.get(new, new)} is not a"
            " transition of the state machine"
        )
