"""netsim's own suite: every test ends with the page-leak check (the plugin's opt-in fixture,
applied here to everything); ``tls_pair``, a kTLS socket pair, for the kTLS tests; what the
tests' packet captures may show under ``--netsim-capture`` (docs/captures.md)."""

from __future__ import annotations

import fnmatch
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest

import netsim
from netsim import SOL_TCP, SOL_TLS, TCP_ULP, TLS_RX, TLS_TX
from netsim.dev import NETIF_F_HW_TLS_TX
from netsim.mm import PageAllocator

#: tests the capture switch leaves alone: they compare a device's tap list with their own
_NO_CAPTURE: dict[str, str] = {
    "tests/runtime/test_capture_faults.py::test_the_other_taps_of_a_device_keep_recording": (
        "asserts the exact list of lo's taps"
    ),
    "tests/runtime/test_capture_faults.py::test_a_capture_that_cannot_start_raises_at_once": (
        "asserts that lo has no tap"
    ),
}

#: what tests may show in their captures beyond what their fault plans explain: node-id
#: pattern -> (kinds, why).  (A test of its own would say it with
#: ``@pytest.mark.netsim_capture_allow(*kinds, reason=...)``; the table keeps the reasons of
#: the existing suite in one place.)
_TAIL_PROBE = (
    ("tcp.analysis.retransmission", "tcp.options.sack.dsack", "tcp.analysis.duplicate_ack"),
    "a reader that stalls: its host holds the ACK (the window's right edge does not move, "
    "__tcp_ack_snd_check), the sender's tail loss probe (2 srtt + 2 ms) fires first and "
    "resends the last segment, and the receiver D-SACKs it — with an ACK number it sent "
    "before, which Wireshark calls a duplicate ACK; Linux does the same",
)
_SIMULTANEOUS_OPEN = (
    ("tcp.analysis.retransmission",),
    "a simultaneous open: each SYN-ACK repeats its side's SYN sequence number, which Wireshark "
    "takes for a retransmission",
)
_REUSED_PORTS = (
    ("tcp.analysis.reused_ports",),
    "a new connection on the ports of an earlier one of the same capture (TIME_WAIT taken "
    "over, or a second connect from a bound port): what the test is about",
)
_UNKNOWN_RECORD_TYPE = (
    ("tls.ignored_unknown_record",),
    "records of a type chosen with TLS_SET_RECORD_TYPE (100, as the kernel's selftests send), "
    "which Wireshark does not know",
)
CAPTURE_ALLOWANCES: dict[str, tuple[tuple[str, ...], str]] = {
    "tests/tcp/test_conformance.py::test_check_half_closeable_stream*": _TAIL_PROBE,
    "tests/tls/test_roundtrip.py::test_check_two_way_stream*": _TAIL_PROBE,
    "tests/tcp/test_bulk.py::test_slow_reader_closes_the_window*": _TAIL_PROBE,
    "tests/tcp/test_linger.py::test_linger_time_makes_aclose_wait_for_the_fin_to_be_acked": (
        _TAIL_PROBE
    ),
    "tests/cli/test_trace.py::test_stalled_write_stops_the_run": _TAIL_PROBE,
    "tests/tls/test_device_layout.py::test_a_send_resumed_after_a_partial_push_*": _TAIL_PROBE,
    "tests/tls/test_selftest.py::test_sendmsg_large*": _TAIL_PROBE,
    # hypothesis draws the operations, the links' delays and rates and the cancellations,
    # and each run may draw new ones: readers that stall (tail loss probes, D-SACKs), receive
    # buffers that overflow, ACKs slower than the probe timer, crossing FINs
    "tests/property/test_socket_ops.py::*": (
        ("tcp.analysis.*", "tcp.options.sack.dsack"),
        "random operations over random links: retransmissions are part of what is drawn",
    ),
    "tests/tcp/test_linger.py::test_crossed_syns_make_one_connection": _SIMULTANEOUS_OPEN,
    "tests/differential/test_differential.py::test_netsim_matches_linux[[]connect_self-*": (
        _SIMULTANEOUS_OPEN
    ),
    "tests/tcp/test_load.py::test_ten_thousand_cycles_recycle_time_wait_ports": _REUSED_PORTS,
    "tests/tcp/test_lifecycle.py::test_a_refused_connect_keeps_what_bind_chose*": _REUSED_PORTS,
    "tests/tcp/test_lifecycle.py::test_tw_reuse_*": _REUSED_PORTS,
    "tests/tcp/test_lifecycle.py::test_a_bound_socket_takes_over_a_time_wait_*": _REUSED_PORTS,
    "tests/tls/test_selftest.py::test_bad_cmsg*": _UNKNOWN_RECORD_TYPE,
    "tests/tls/test_selftest.py::test_data_control_data*": _UNKNOWN_RECORD_TYPE,
    "tests/tls/test_selftest.py::test_msg_more_then_cmsg*": _UNKNOWN_RECORD_TYPE,
    "tests/tcp/test_linger.py::test_a_cancelled_connect_closes_the_socket": (
        ("tcp.analysis.retransmission",),
        "the SYN-ACK is 10 s away: the SYN is sent again after 1 s, then connect is cancelled",
    ),
    "tests/tcp/test_urgent.py::test_zero_window_probes_carry_the_urgent_pointer*": (
        ("tcp.analysis.duplicate_ack", *_TAIL_PROBE[0]),
        "with urgent data pending Linux probes a zero window twice (tcp_write_wakeup): at "
        "snd_una, which Wireshark takes for a duplicate ACK, then at snd_una - 1; before "
        "that, the tail loss probe resends the segment that closes the window, as with any "
        "reader that stalls",
    ),
    # packetdrill scripts whose remote end loses segments or answers late on purpose
    "tests/cli/test_packetdrill.py::test_script_passes[[]*-fast_retransmit.pkt]": (
        ("tcp.analysis.*",),
        "the script's peer sends duplicate ACKs for a segment it says was lost",
    ),
    "tests/cli/test_packetdrill.py::test_script_passes[[]*-rto.pkt]": (
        ("tcp.analysis.retransmission",),
        "the script's peer never ACKs: the RTO resends",
    ),
    "tests/cli/test_packetdrill.py::test_script_passes[[]*-rto_syn.pkt]": (
        ("tcp.analysis.retransmission",),
        "the script's peer never answers the SYN: it is resent",
    ),
    "tests/tcp/test_errors.py::test_a_retransmission_reaching_a_closed_socket_*": (
        ("tcp.analysis.*", "tcp.options.sack.dsack"),
        "a slow link delays the ACK past the RTO on purpose: the retransmission is the test",
    ),
    "tests/tcp/test_loss_recovery.py::test_a_spurious_timeout_is_*": (
        ("tcp.analysis.*", "tcp.options.sack.dsack"),
        "a delay spike makes the RTO fire spuriously on purpose",
    ),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        reason = _NO_CAPTURE.get(item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.netsim_no_capture(reason=reason))
        for pattern, (kinds, why) in CAPTURE_ALLOWANCES.items():
            if fnmatch.fnmatchcase(item.nodeid, pattern):
                item.add_marker(pytest.mark.netsim_capture_allow(*kinds, reason=why))


@pytest.fixture(autouse=True)
def _leak_check_every_test(page_leak_check: list[PageAllocator]) -> None:
    """Apply netsim's page-leak check to every test in this suite."""


async def _tls_pair(
    host: netsim.Host, info: bytes, *, device: bool = False
) -> tuple[netsim.Socket, netsim.Socket, netsim.Socket]:
    """``(listener, client, server)`` on 127.0.0.1:4433: the client sends with ``TLS_TX``,
    the server reads with ``TLS_RX``, both with ``info``; ``device``: ``lo`` offloads TLS."""
    if device:
        host.devices["lo"].features |= NETIF_F_HW_TLS_TX
    listener = host.socket()
    await listener.bind(("127.0.0.1", 4433))
    listener.listen()
    client = host.socket()
    await client.connect(("127.0.0.1", 4433))
    server, _ = await listener.accept()
    for sock, direction in ((client, TLS_TX), (server, TLS_RX)):
        sock.setsockopt(SOL_TCP, TCP_ULP, b"tls")
        sock.setsockopt(SOL_TLS, direction, info)
    return listener, client, server


#: what the ``tls_pair`` fixture gives: ``await tls_pair(host, info, device=False)``
TlsPair = Callable[..., Awaitable[tuple[netsim.Socket, netsim.Socket, netsim.Socket]]]


@pytest.fixture
def tls_pair() -> TlsPair:
    """``await tls_pair(host, info, device=False)``: ``(listener, client, server)``."""
    return _tls_pair


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace of the machine's own kernel, made for the test and deleted after
    it (``ip netns add``; the tests that take it need root and skip without it)."""
    name = f"nstest-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
