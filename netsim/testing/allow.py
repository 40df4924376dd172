"""Ready-made ``@pytest.mark.netsim_capture_allow`` markers for what TCP does on its own and
Wireshark flags, for tests run with ``--netsim-capture`` (docs/captures.md).  Each carries its
reason, which the capture report prints beside every finding it allows::

    from netsim.testing.allow import STALLED_READER

    @STALLED_READER
    async def test_a_reader_that_waits(autojump_clock): ...

A test whose subject is something else (a retransmission it provokes, a script's peer that
loses packets) writes its own marker with its own reason.
"""

from __future__ import annotations

from typing import Final

import pytest

__all__ = ["REUSED_PORTS", "SIMULTANEOUS_OPEN", "STALLED_READER", "UNKNOWN_TLS_RECORD"]

#: A reader that stalls: its host holds the ACK (the window's right edge does not move,
#: ``__tcp_ack_snd_check``), the sender's tail loss probe (2 srtt + 2 ms) fires first and
#: resends the last segment, and the receiver D-SACKs it, with an ACK number it sent before.
STALLED_READER: Final = pytest.mark.netsim_capture_allow(
    "tcp.analysis.retransmission",
    "tcp.options.sack.dsack",
    "tcp.analysis.duplicate_ack",
    reason=(
        "a reader that stalls: its host holds the ACK (the window's right edge does not move, "
        "__tcp_ack_snd_check), the sender's tail loss probe (2 srtt + 2 ms) fires first and "
        "resends the last segment, and the receiver D-SACKs it — with an ACK number it sent "
        "before, which Wireshark calls a duplicate ACK; Linux does the same"
    ),
)

#: Crossed SYNs: each SYN-ACK repeats its side's SYN sequence number.
SIMULTANEOUS_OPEN: Final = pytest.mark.netsim_capture_allow(
    "tcp.analysis.retransmission",
    reason=(
        "a simultaneous open: each SYN-ACK repeats its side's SYN sequence number, which "
        "Wireshark takes for a retransmission"
    ),
)

#: A new connection on the ports of an earlier one in the same capture.
REUSED_PORTS: Final = pytest.mark.netsim_capture_allow(
    "tcp.analysis.reused_ports",
    reason=(
        "a new connection on the ports of an earlier one of the same capture (TIME_WAIT taken "
        "over, or a second connect from a bound port)"
    ),
)

#: kTLS records of a type Wireshark does not know (``TLS_SET_RECORD_TYPE``).
UNKNOWN_TLS_RECORD: Final = pytest.mark.netsim_capture_allow(
    "tls.ignored_unknown_record",
    reason=(
        "records of a type chosen with TLS_SET_RECORD_TYPE (100, as the kernel's selftests "
        "send), which Wireshark does not know"
    ),
)
