"""Pluggable congestion control (net/ipv4/tcp_cong.c) with CUBIC and HyStart
(net/ipv4/tcp_cubic.c) and Reno: the fixed-point arithmetic against the formulas it stands for
(``cubic_root`` against the cube root; ``W(t) = C (t - K)^3 + W_max`` with
``K = cbrt(W_max (1 - beta) / C)``, beta 717/1024 and C 0.4; ``ssthresh`` = 717/1024 of the
window), HyStart's two exits (the ACK train, the delay increase) with their ``TcpExt``
counters, the window of a real connection after a loss against the curve, Reno as it was, the
registry, and the choice: ``net.ipv4.tcp_congestion_control`` (default ``cubic``), its
companions ``tcp_available_congestion_control``/``tcp_allowed_congestion_control``, and
``TCP_CONGESTION`` with Linux's errors."""

from __future__ import annotations

import errno
import functools
import random
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import dpkt
import pytest
import trio
import trio.testing

import netsim
from netsim import AF_INET, IPPROTO_TCP, SO_RCVBUF, SOCK_STREAM, SOL_SOCKET, TCP_CONGESTION
from netsim.dev.link import LinkDevice
from netsim.netns import Net
from netsim.sock.sysctl import Sysctl
from netsim.tcp.cong import (
    BICTCP_FIELDS,
    BicTcp,
    TcpCongestionOps,
    TcpCubic,
    cubic_root,
    tcp_ca_find,
    tcp_cubic,
    tcp_register_congestion_control,
    tcp_reno,
    tcp_reno_cong_avoid,
    tcp_unregister_congestion_control,
)
from netsim.tcp.output import INITIAL_JIFFIES, tcp_jiffies32
from netsim.tcp.sock import (
    CA_EVENT_TX_START,
    TCP_CA_LOSS,
    TCP_CA_OPEN,
    TCP_CA_RECOVERY,
    TCP_INFINITE_SSTHRESH,
    TcpSock,
)

BETA = 717 / 1024  # CUBIC's multiplicative decrease
C = 0.4  # CUBIC's scaling constant (the kernel's 410/1024)
U32 = 0xFFFFFFFF
MSS_PAYLOAD = 1448  # a 1500-byte link with timestamps


def _sock(now: float = 1.0) -> TcpSock:
    """A lone TCP socket on a bare host at time ``now``: the hooks called by hand."""
    net = Net("t")
    net.now = now
    return TcpSock(net, AF_INET, SOCK_STREAM, IPPROTO_TCP)


def _bictcp(sk: TcpSock) -> BicTcp:
    ca = sk.ca_priv
    assert isinstance(ca, BicTcp)
    return ca


def _jiffies(t: float) -> int:
    """``tcp_jiffies32`` at time ``t``."""
    return (int(t * 1000) + INITIAL_JIFFIES) & U32


def _oserror(code: int, call: Callable[[], object]) -> None:
    with pytest.raises(OSError, match=rf"^\[Errno {code}\]") as info:
        call()
    assert info.value.errno == code


# -- the fixed-point arithmetic ----------------------------------------------------------------


def test_cubic_root_tracks_the_cube_root() -> None:
    """The table plus one Newton-Raphson step: within one unit (+0.3 %) everywhere, within
    0.25 % once the root is in the thousands (the kernel quotes 0.195 % on average)."""
    rng = random.Random(7)
    values = [
        *range(200),
        2**64 - 1,
        *(rng.randrange(1 << (b - 1), 1 << b) for b in range(1, 65) for _ in range(300)),
    ]
    for a in values:
        exact = a ** (1 / 3)
        assert abs(cubic_root(a) - exact) <= 1 + 0.003 * exact, a
        if a >= 1 << 30:
            assert abs(cubic_root(a) - exact) / exact < 0.0025, a
    assert [cubic_root(x**3) for x in (2, 10, 100, 1000)] == [2, 10, 100, 1000]
    assert cubic_root(10**15) == 100_014  # 0.014 % off


def test_cubic_scale_factors_are_the_kernels() -> None:
    """``cubictcp_register()``: beta_scale = 8 (1024 + 717) / 3 / (1024 - 717) = 15;
    cube_rtt_scale = bic_scale * 10 = 410 (C = 410/1024); cube_factor = 2**40 / 410."""
    cubic = TcpCubic()
    assert cubic.beta_scale == 15
    assert cubic.cube_rtt_scale == 410
    assert cubic.cube_factor == (1 << 40) // 410
    assert (cubic.beta, cubic.hystart_low_window, cubic.hystart_ack_delta_us) == (717, 16, 2000)
    assert cubic.hystart_detect == 3  # HYSTART_ACK_TRAIN | HYSTART_DELAY


def test_ssthresh_after_a_loss_is_beta_of_the_window() -> None:
    """``cubictcp_recalc_ssthresh``: max(cwnd * 717 / 1024, 2); W_max is the window, or with
    fast convergence — a loss below the last W_max — (1 + beta) / 2 of it; the curve ends."""
    sk = _sock()
    ca = _bictcp(sk)
    for cwnd in range(1, 3000):
        ca.reset()
        ca.epoch_start = 12345
        sk.snd_cwnd = cwnd
        assert tcp_cubic.ssthresh(sk) == max(cwnd * 717 // 1024, 2)
        assert abs(tcp_cubic.ssthresh(sk) - max(cwnd * BETA, 2)) < 1
        assert ca.last_max_cwnd == cwnd
        assert ca.epoch_start == 0
        if cwnd > 1:
            sk.snd_cwnd = cwnd - 1  # the next loss comes below W_max: fast convergence
            tcp_cubic.ssthresh(sk)
            assert ca.last_max_cwnd == (cwnd - 1) * 1741 // 2048
            assert abs(ca.last_max_cwnd - (cwnd - 1) * (1 + BETA) / 2) < 1


@pytest.mark.parametrize("w_max", [10, 20, 64, 100, 1000, 10_000, 100_000])
def test_k_and_the_curve_match_the_formula(w_max: int) -> None:
    """After a loss at ``w_max`` the epoch starts at ``ssthresh``; ``bic_K`` (1/1024 s) is
    ``cbrt(W_max (1 - beta) / C)`` and the target window is ``C (t - K)^3 + W_max``, to the
    kernel's fixed-point rounding (K within 0.3 % and a jiffy, the window within a segment
    and 0.3 %)."""
    sk = _sock()
    ca = _bictcp(sk)
    sk.snd_cwnd = w_max
    sk.snd_cwnd = sk.snd_ssthresh = tcp_cubic.ssthresh(sk)
    sk.is_cwnd_limited = True
    tcp_cubic.cong_avoid(sk, 0, 1)  # the first ACK in congestion avoidance starts the epoch
    assert ca.epoch_start == tcp_jiffies32(sk)
    assert ca.bic_origin_point == w_max
    # ssthresh is rounded down, so the kernel's W_max - cwnd is W_max (1 - beta) plus < 1
    k_low = (w_max * (1 - BETA) / C) ** (1 / 3)
    k_high = ((w_max * (1 - BETA) + 1) / C) ** (1 / 3)
    k = ca.bic_K / 1024
    assert k_low * 0.997 - 1 / 1024 <= k <= k_high * 1.003 + 1 / 1024
    for frac in (0.0, 0.25, 0.5, 0.9, 1.0, 1.1, 1.5, 2.0, 3.0):
        t = int(frac * k * 1024) / 1024
        expected = C * (t - k) ** 3 + w_max
        got = tcp_cubic.cubic_target(ca, int(t * 1024))
        # the kernel's C is 410/1024 (0.1 % above 0.4), and it rounds down
        assert abs(got - expected) <= 1 + 0.0015 * abs(expected - w_max), (frac, got, expected)
    # at t = 0 the curve starts from the window after the loss
    assert abs(tcp_cubic.cubic_target(ca, 0) - w_max * BETA) <= 1 + 0.003 * w_max


def test_tcp_friendliness_keeps_up_with_reno() -> None:
    """Where Reno (with CUBIC's beta, one segment per ``cwnd * 15 / 8`` acknowledged) would
    be ahead of the curve, ``cnt`` follows Reno's estimate; without ``tcp_friendliness`` the
    curve alone sets it."""
    counts = []
    for friendly in (1, 0):
        cubic = TcpCubic()
        cubic.tcp_friendliness = friendly
        sk = _sock()
        ca = BicTcp()
        sk.ca_ops, sk.ca_priv = cubic, ca
        sk.snd_cwnd = 1000
        sk.snd_cwnd = sk.snd_ssthresh = cubic.ssthresh(sk)  # 700, W_max 1000: K = 9.1 s
        sk.is_cwnd_limited = True
        cubic.cong_avoid(sk, 0, 1)
        sk.net.now += 2.0  # on the curve's flat part: it wants little
        cubic.cong_avoid(sk, 0, 700 * 15 // 8 * 400)  # Reno's 400 increments' worth
        counts.append(ca.cnt)
        if friendly:
            assert ca.tcp_cwnd == 700 + 400
            assert ca.cnt == max(700 // 400, 2)
    assert counts == [2, 700 // (1000 - int(0.4 * (9.086 - 2) ** 3) - 700)]


# -- HyStart (hystart_update) ---------------------------------------------------------------------


def _slow_start(cwnd: int = 20) -> TcpSock:
    """A CUBIC socket in slow start at ``cwnd`` after ``init`` (a HyStart round from now to
    ``snd_nxt`` 1000)."""
    sk = _sock()
    sk.snd_nxt = 1000
    sk.snd_cwnd = cwnd
    tcp_cubic.init(sk)
    return sk


def test_hystart_delay_detection() -> None:
    """The least RTT of a round's first eight samples more than ``delay_min`` plus an eighth
    of it (clamped to 4..16 ms) above the least RTT seen: slow start ends at this window,
    counted in ``TcpExtTCPHystartDelayDetect`` and ``...DelayCwnd``."""
    sk = _slow_start()
    ca = _bictcp(sk)
    stats = sk.net.stats
    tcp_cubic.pkts_acked(sk, 1, 10_000)  # delay_min 10 ms: the margin is 4 ms (clamped up)
    for _ in range(10):
        tcp_cubic.pkts_acked(sk, 1, 14_000)  # at the margin, not past it
    assert not ca.found
    assert stats.TcpExtTCPHystartDelayDetect == 0
    sk.snd_nxt, sk.snd_una = 2000, 1001  # past the round's end: a new round
    for i in range(9):
        tcp_cubic.pkts_acked(sk, 1, 14_001)
        assert bool(ca.found) == (i == 8)  # tested once eight samples are in
    assert stats.TcpExtTCPHystartDelayDetect == 1
    assert stats.TcpExtTCPHystartDelayCwnd == 20
    assert sk.snd_ssthresh == 20
    assert stats.TcpExtTCPHystartTrainDetect == 0
    tcp_cubic.pkts_acked(sk, 1, 50_000)  # found: no more detection
    assert stats.TcpExtTCPHystartDelayDetect == 1


def test_hystart_delay_margin_is_clamped_at_16_ms() -> None:
    sk = _slow_start()
    ca = _bictcp(sk)
    tcp_cubic.pkts_acked(sk, 1, 200_000)  # an eighth is 25 ms: the margin is 16 ms
    sk.snd_nxt, sk.snd_una = 2000, 1001
    for _ in range(10):
        tcp_cubic.pkts_acked(sk, 1, 216_000)
    assert ca.found == 0
    sk.snd_nxt, sk.snd_una = 3000, 2001
    for _ in range(9):
        tcp_cubic.pkts_acked(sk, 1, 216_001)
    assert ca.found == 1
    assert sk.net.stats.TcpExtTCPHystartDelayDetect == 1


def test_hystart_ack_train_detection() -> None:
    """ACKs no more than 2 ms apart for longer than half the least RTT since the round
    began: the pipe is full.  (No pacing rate yet: the TSO/GRO allowance is 0.)"""
    sk = _slow_start()
    ca = _bictcp(sk)
    stats = sk.net.stats
    start = sk.net.now
    tcp_cubic.pkts_acked(sk, 1, 10_000)  # delay_min 10 ms: the train must last over 5 ms
    for ms in range(1, 7):
        sk.net.now = start + ms / 1000
        tcp_cubic.pkts_acked(sk, 1, 10_000)
        assert bool(ca.found) == (ms == 6)
    assert stats.TcpExtTCPHystartTrainDetect == 1
    assert stats.TcpExtTCPHystartTrainCwnd == 20
    assert sk.snd_ssthresh == 20
    assert stats.TcpExtTCPHystartDelayDetect == 0


def test_hystart_ack_train_needs_closely_spaced_acks_and_a_large_enough_window() -> None:
    for spacing_ms, cwnd in ((3, 20), (1, 15)):  # a 3 ms gap breaks the train; 15 < 16
        sk = _slow_start(cwnd)
        start = sk.net.now
        for i in range(40):
            sk.net.now = start + i * spacing_ms / 1000
            tcp_cubic.pkts_acked(sk, 1, 10_000)
        assert not _bictcp(sk).found
        assert sk.snd_ssthresh == TCP_INFINITE_SSTHRESH
        assert sk.net.stats.TcpExtTCPHystartTrainDetect == 0


def test_no_rtt_samples_in_the_first_second_of_a_curve() -> None:
    """``cubictcp_acked``: right after a recovery (an epoch younger than a second) the RTT
    samples are not taken; a sample of -1 never is."""
    sk = _sock()
    ca = _bictcp(sk)
    tcp_cubic.pkts_acked(sk, 1, 30_000)
    ca.epoch_start = tcp_jiffies32(sk)
    tcp_cubic.pkts_acked(sk, 1, 10_000)
    assert ca.delay_min == 30_000
    sk.net.now += 1.001
    tcp_cubic.pkts_acked(sk, 1, -1)
    assert ca.delay_min == 30_000
    tcp_cubic.pkts_acked(sk, 1, 10_000)
    assert ca.delay_min == 10_000


def test_tx_start_moves_the_epoch_past_the_idle_time() -> None:
    """``CA_EVENT_TX_START`` after an idle period: the epoch moves on by it (the curve does
    not count time the window was not used), but never past now."""
    sk = _sock()
    ca = _bictcp(sk)
    now = tcp_jiffies32(sk)
    ca.epoch_start = (now - 800) & U32
    sk.lsndtime = (now - 300) & U32  # idle for 300 ms
    tcp_cubic.cwnd_event(sk, CA_EVENT_TX_START)
    assert ca.epoch_start == (now - 500) & U32
    sk.lsndtime = (now - 600) & U32  # would move it 100 ms into the future
    tcp_cubic.cwnd_event(sk, CA_EVENT_TX_START)
    assert ca.epoch_start == now
    ca.epoch_start = 0  # no curve: nothing to move
    tcp_cubic.cwnd_event(sk, CA_EVENT_TX_START)
    assert ca.epoch_start == 0


def test_entering_loss_forgets_the_curve() -> None:
    """``cubictcp_state``: TCP_CA_Loss resets everything (W_max too) and starts a HyStart
    round; other states leave it."""
    sk = _slow_start()
    ca = _bictcp(sk)
    ca.last_max_cwnd, ca.epoch_start, ca.delay_min, ca.found = 90, 5, 7000, 1
    tcp_cubic.set_state(sk, TCP_CA_OPEN)
    assert (ca.last_max_cwnd, ca.found) == (90, 1)
    sk.snd_nxt = 5000
    tcp_cubic.set_state(sk, TCP_CA_LOSS)
    assert (ca.last_max_cwnd, ca.epoch_start, ca.delay_min, ca.found) == (0, 0, 0, 0)
    assert (ca.end_seq, ca.curr_rtt, ca.sample_cnt) == (5000, U32, 0)


# -- Reno --------------------------------------------------------------------------------------


def test_reno_slow_start_and_congestion_avoidance() -> None:
    """``tcp_reno_cong_avoid``: one segment per segment acknowledged up to ``ssthresh``, the
    rest into congestion avoidance: one per window (stretch ACKs count in full), at most
    ``snd_cwnd_clamp``; half the window after a loss; nothing when not window-limited."""
    sk = _sock()
    sk.ca_ops, sk.ca_priv = tcp_reno, None
    sk.is_cwnd_limited = True
    sk.snd_cwnd, sk.snd_ssthresh = 10, 14
    tcp_reno_cong_avoid(sk, 0, 3)
    assert (sk.snd_cwnd, sk.snd_cwnd_cnt) == (13, 0)
    tcp_reno_cong_avoid(sk, 0, 5)  # 1 to reach ssthresh, 4 left for avoidance
    assert (sk.snd_cwnd, sk.snd_cwnd_cnt) == (14, 4)
    tcp_reno_cong_avoid(sk, 0, 10)
    assert (sk.snd_cwnd, sk.snd_cwnd_cnt) == (15, 0)
    tcp_reno_cong_avoid(sk, 0, 31)  # a stretch ACK of two windows and one
    assert (sk.snd_cwnd, sk.snd_cwnd_cnt) == (17, 1)
    sk.snd_cwnd_clamp = 17
    tcp_reno_cong_avoid(sk, 0, 40)
    assert sk.snd_cwnd == 17
    assert sk.snd_cwnd_cnt == 7
    sk.is_cwnd_limited = False
    sk.max_packets_out = 0
    tcp_reno_cong_avoid(sk, 0, 40)
    assert (sk.snd_cwnd, sk.snd_cwnd_cnt) == (17, 7)  # not limited by the window: nothing
    assert [tcp_reno.ssthresh(_with_cwnd(sk, w)) for w in (1, 3, 4, 17, 100)] == [2, 2, 2, 8, 50]
    sk.prior_cwnd = 60
    assert tcp_reno.undo_cwnd(_with_cwnd(sk, 40)) == 60


def _with_cwnd(sk: TcpSock, cwnd: int) -> TcpSock:
    sk.snd_cwnd = cwnd
    return sk


# -- the registry ------------------------------------------------------------------------------


class _Fixed(TcpCongestionOps):
    """A congestion control that keeps the window where it is."""

    def __init__(self, name: str = "fixed") -> None:
        super().__init__(name)

    def ssthresh(self, sk: TcpSock) -> int:
        return sk.snd_cwnd

    def cong_avoid(self, sk: TcpSock, ack: int, acked: int) -> None:
        pass

    def undo_cwnd(self, sk: TcpSock) -> int:
        return sk.snd_cwnd


class _NoUndo(TcpCongestionOps):
    def ssthresh(self, sk: TcpSock) -> int:
        return 2

    def cong_avoid(self, sk: TcpSock, ack: int, acked: int) -> None:
        pass


def test_the_registry() -> None:
    """``tcp_register_congestion_control``: Reno then CUBIC; a new one joins the available
    list; required hooks and a valid, unused name are checked; unregistered, it is gone."""
    host_sysctl = Sysctl()
    assert tcp_ca_find("cubic") is tcp_cubic
    assert tcp_ca_find("reno") is tcp_reno
    assert tcp_ca_find("bbr") is None
    fixed = _Fixed()
    tcp_register_congestion_control(fixed)
    try:
        assert tcp_ca_find("fixed") is fixed
        assert host_sysctl["net.ipv4.tcp_available_congestion_control"] == "reno cubic fixed"
        assert host_sysctl["net.ipv4.tcp_allowed_congestion_control"] == "reno cubic"
        _oserror(errno.EEXIST, lambda: tcp_register_congestion_control(_Fixed()))
        _oserror(errno.EINVAL, lambda: tcp_register_congestion_control(_NoUndo("noundo")))
        for bad in ("", "x" * 16, "two words", "tab\there"):
            _oserror(errno.EINVAL, functools.partial(tcp_register_congestion_control, _Fixed(bad)))
        host_sysctl["net.ipv4.tcp_congestion_control"] = "fixed"
        assert host_sysctl["net.ipv4.tcp_allowed_congestion_control"] == "reno cubic fixed"
    finally:
        tcp_unregister_congestion_control(fixed)
    assert tcp_ca_find("fixed") is None
    assert host_sysctl["net.ipv4.tcp_available_congestion_control"] == "reno cubic"
    _oserror(errno.ENOENT, lambda: host_sysctl.__setitem__(_CC, "fixed"))


_CC = "net.ipv4.tcp_congestion_control"
_ALLOWED = "net.ipv4.tcp_allowed_congestion_control"
_AVAILABLE = "net.ipv4.tcp_available_congestion_control"


# -- the sysctls -------------------------------------------------------------------------------


def test_the_default_is_cubic() -> None:
    sysctl = Sysctl()
    assert sysctl[_CC] == "cubic"
    assert sysctl[_AVAILABLE] == "reno cubic"
    assert sysctl[_ALLOWED] == "reno cubic"
    assert _sock().ca_ops is tcp_cubic


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("reno", "reno"),
        ("reno\n", "reno"),  # what `echo reno >` writes: the newline ends the name
        ("cubic\0junk", "cubic"),
        ("", "cubic"),  # a write of nothing changes nothing
    ],
)
def test_tcp_congestion_control_writes(text: str, stored: str) -> None:
    sysctl = Sysctl()
    sysctl[_CC] = text
    assert sysctl[_CC] == stored


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("bbr", errno.ENOENT),  # tcp_set_default_congestion_control(): no such algorithm
        ("\n", errno.ENOENT),  # the empty name
        ("reno cubic", errno.ENOENT),
        ("cubic" + "x" * 20, errno.ENOENT),  # cut to 15 characters: still not a name
        ("RENO", errno.ENOENT),
        (1, errno.EINVAL),
        (b"reno", errno.EINVAL),
    ],
)
def test_tcp_congestion_control_errors(value: Any, code: int) -> None:
    sysctl = Sysctl()
    before = dict(sysctl.data)
    _oserror(code, lambda: sysctl.__setitem__(_CC, value))
    assert sysctl.data == before


def test_the_available_list_is_read_only() -> None:
    """Mode 0444: EACCES, even for root."""
    sysctl = Sysctl()
    _oserror(errno.EACCES, lambda: sysctl.__setitem__(_AVAILABLE, "reno"))
    assert "read only" in sysctl.describe(_AVAILABLE)
    assert "at most 15 characters" in sysctl.describe(_CC)


def test_the_allowed_list() -> None:
    """``tcp_set_allowed_congestion_control``: registered names, separated by one space, up
    to the first empty one; read back in registration order; an unknown name is ENOENT and
    changes nothing; the default written joins the allowed ones."""
    calls: list[tuple[str, object]] = []
    sysctl = Sysctl(on_change=lambda name, value: calls.append((name, value)))
    sysctl[_ALLOWED] = "cubic"
    assert sysctl[_ALLOWED] == "cubic"
    sysctl[_ALLOWED] = "cubic reno\n"
    assert sysctl[_ALLOWED] == "reno cubic"
    sysctl[_ALLOWED] = "cubic  reno"  # strsep: the empty name between the spaces ends it
    assert sysctl[_ALLOWED] == "cubic"
    _oserror(errno.ENOENT, lambda: sysctl.__setitem__(_ALLOWED, "reno bbr"))
    assert sysctl[_ALLOWED] == "cubic"
    sysctl[_ALLOWED] = " reno"
    assert sysctl[_ALLOWED] == ""
    calls.clear()
    sysctl[_CC] = "reno"  # tcp_set_default_congestion_control() marks it allowed
    assert sysctl[_ALLOWED] == "reno"
    assert calls == [(_CC, "reno"), (_ALLOWED, "reno")]


# -- on connections ----------------------------------------------------------------------------


@attrs.frozen
class Sample:
    """a's congestion state at ``t``: a copy of CUBIC's private state (None for Reno)."""

    t: float
    cwnd: int
    ssthresh: int
    state: int
    prior_cwnd: int
    ca: BicTcp | None


@attrs.define
class Flow:
    """A run a -> b: a's samples, a's counters and a's final ``tcp_info``."""

    samples: list[Sample]
    stats: netsim.StatsSnapshot
    info: dict[str, Any]

    def recovery(self) -> tuple[int, list[Sample]]:
        """The window the (first) fast recovery began from (``prior_cwnd``), and the samples
        in Open after it."""
        i = next(i for i, s in enumerate(self.samples) if s.state == TCP_CA_RECOVERY)
        return self.samples[i].prior_cwnd, [s for s in self.samples[i:] if s.state == TCP_CA_OPEN]


def _copy(ca: object) -> BicTcp | None:
    if not isinstance(ca, BicTcp):
        return None
    copy = BicTcp()
    for name in BICTCP_FIELDS:
        setattr(copy, name, getattr(ca, name))
    return copy


def _dropping(*nth: int) -> Callable[[bytes], Sequence[bytes]]:
    """Drop the given data segments from a (0 = the first), their first transmission only."""
    seen: set[int] = set()
    count = 0

    def wire(frame: bytes) -> Sequence[bytes]:
        nonlocal count
        tcp = dpkt.ip.IP(frame).data
        if not isinstance(tcp, dpkt.tcp.TCP) or not tcp.data or tcp.seq in seen:
            return [frame]
        seen.add(tcp.seq)
        count += 1
        return [] if count - 1 in nth else [frame]

    return wire


async def _flow(
    *,
    delay: float,
    rate: float,
    seconds: float,
    congestion: str | None = None,
    wire: Callable[[bytes], Sequence[bytes]] | None = None,
    ack_faults: netsim.FaultPlan | None = None,
    faults: netsim.FaultPlan | None = None,
    every: float = 0.05,
) -> Flow:
    """Send from a to b for ``seconds`` (the writer never waits for the application: the
    window limits it), sampling a's window ``every`` seconds.  ``wire`` sees the frames b's
    device receives; ``ack_faults`` act on b's frames (the ACKs), ``faults`` both ways."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        link = netsim.link(a, b, rate=rate, delay=delay, faults=faults)
        if ack_faults is not None:
            link.dev_b.set_faults(ack_faults)
        if congestion is not None:
            a.sysctl[_CC] = congestion
        if wire is not None:
            eth0 = b.devices["eth0"]
            assert isinstance(eth0, LinkDevice)
            eth0.wire = wire
        listener = b.socket(AF_INET, SOCK_STREAM)
        listener.setsockopt(SOL_SOCKET, SO_RCVBUF, 8 << 20)  # the receiver never limits
        await listener.bind(("", 5001))
        listener.listen(1)
        client = a.socket(AF_INET, SOCK_STREAM)
        samples: list[Sample] = []
        chunk = memoryview(bytes(1 << 16))

        async def serve() -> None:
            conn, _ = await listener.accept()
            with conn:
                while await conn.recv(1 << 16):
                    pass

        async def sample(sk: TcpSock) -> None:
            while True:
                samples.append(
                    Sample(
                        trio.current_time(),
                        sk.snd_cwnd,
                        sk.snd_ssthresh,
                        sk.ca_state,
                        sk.prior_cwnd,
                        _copy(sk.ca_priv),
                    )
                )
                await trio.sleep(every)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            await client.connect(("10.0.0.2", 5001))
            nursery.start_soon(sample, client.tcp_sk)
            end = trio.current_time() + seconds
            while trio.current_time() < end:
                await client.send(chunk)
            info = client.tcp_sk.info()
            nursery.cancel_scope.cancel()
        client.close()
        listener.close()
        return Flow(samples, a.stats(), info)


async def test_new_sockets_take_the_sysctl_and_tcp_congestion_switches(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``tcp_assign_congestion_control`` at creation; a listener's children take the sysctl's
    value when the SYN comes, unless the listener chose with ``TCP_CONGESTION``; switching a
    connected socket runs the new algorithm's ``init`` (``tcp_reinit_congestion_control``)."""
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b", seed=1) as b:
        netsim.link(a, b, delay=0.005)
        listener = b.socket(AF_INET, SOCK_STREAM)
        await listener.bind(("", 5001))
        listener.listen(4)
        assert listener.tcp_sk.ca_name == "cubic"
        b.sysctl[_CC] = "reno"  # after the listener was made: its children still follow it
        a.sysctl[_CC] = "reno"
        client = a.socket(AF_INET, SOCK_STREAM)
        await client.connect(("10.0.0.2", 5001))
        child, _ = await listener.accept()
        assert (client.tcp_sk.ca_name, child.tcp_sk.ca_name) == ("reno", "reno")
        assert client.tcp_sk.info()["ca_name"] == "reno"
        assert client.getsockopt(IPPROTO_TCP, TCP_CONGESTION, 16) == b"reno" + bytes(12)

        listener.setsockopt(IPPROTO_TCP, TCP_CONGESTION, b"cubic")  # now the listener's own
        second = a.socket(AF_INET, SOCK_STREAM)
        await second.connect(("10.0.0.2", 5001))
        child2, _ = await listener.accept()
        assert child2.tcp_sk.ca_name == "cubic"
        assert child2.tcp_sk.ca_setsockopt
        assert isinstance(child2.tcp_sk.ca_priv, BicTcp)

        sk = client.tcp_sk
        client.setsockopt(IPPROTO_TCP, TCP_CONGESTION, b"cubic")
        ca = _bictcp(sk)  # a fresh private area, and cubictcp_init ran: a HyStart round
        assert ca.end_seq == sk.snd_nxt
        assert ca.curr_rtt == U32
        assert ca.round_start == int(trio.current_time() * 1e6) & U32
        for s in (client, second, child, child2, listener):
            s.close()


async def test_tcp_congestion_errors(autojump_clock: trio.testing.MockClock) -> None:
    """``do_tcp_setsockopt``: nothing is EINVAL; the name is read up to a NUL, at most 15
    bytes; an unknown one is ENOENT.  ``do_tcp_getsockopt``: the name NUL-padded to 16 bytes,
    cut to the length asked for."""
    async with netsim.open_host(name="a") as a:
        s = a.socket(AF_INET, SOCK_STREAM)
        assert s.getsockopt(IPPROTO_TCP, TCP_CONGESTION, 16) == b"cubic" + bytes(11)
        assert s.getsockopt(IPPROTO_TCP, TCP_CONGESTION, 100) == b"cubic" + bytes(11)
        assert s.getsockopt(IPPROTO_TCP, TCP_CONGESTION, 3) == b"cub"
        _oserror(errno.EINVAL, lambda: s.setsockopt(IPPROTO_TCP, TCP_CONGESTION, b""))
        for name in (b"nope", b"bbr", b"Reno", b"reno" + b"x" * 20, b"\0reno"):
            _oserror(
                errno.ENOENT, functools.partial(s.setsockopt, IPPROTO_TCP, TCP_CONGESTION, name)
            )
        assert s.tcp_sk.ca_name == "cubic"
        assert not s.tcp_sk.ca_setsockopt
        s.setsockopt(IPPROTO_TCP, TCP_CONGESTION, b"reno\0cubic")
        assert s.getsockopt(IPPROTO_TCP, TCP_CONGESTION, 16) == b"reno" + bytes(12)
        assert not isinstance(s.tcp_sk.ca_priv, BicTcp)  # Reno keeps none
        s.setsockopt(IPPROTO_TCP, TCP_CONGESTION, b"cubic")
        assert isinstance(s.tcp_sk.ca_priv, BicTcp)
        s.close()


async def test_hystart_ack_train_ends_slow_start_near_the_bdp(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """100 Mbit/s, 40 ms RTT (a BDP of 345 segments), no loss: the ACK train outlasts half
    the RTT in the round that fills the pipe, and slow start ends there with nothing lost
    (``TcpExtTCPHystartTrainDetect``, the window in ``...TrainCwnd``).  Reno has no HyStart:
    its ``ssthresh`` stays infinite."""
    bdp = int(1e8 / 8 * 0.04 / MSS_PAYLOAD)
    cubic = await _flow(delay=0.02, rate=1e8, seconds=0.6)
    stats = cubic.stats
    assert stats["TcpExtTCPHystartTrainDetect"] == 1
    assert stats["TcpExtTCPHystartDelayDetect"] == 0
    ssthresh = cubic.info["snd_ssthresh"]
    assert stats["TcpExtTCPHystartTrainCwnd"] == ssthresh
    assert bdp <= ssthresh <= 2 * bdp
    assert stats["TcpRetransSegs"] == 0
    assert cubic.info["ca_name"] == "cubic"

    reno = await _flow(delay=0.02, rate=1e8, seconds=0.6, congestion="reno")
    assert reno.info["snd_ssthresh"] == TCP_INFINITE_SSTHRESH
    assert (
        reno.stats["TcpExtTCPHystartTrainDetect"] == reno.stats["TcpExtTCPHystartDelayDetect"] == 0
    )
    assert reno.info["ca_name"] == "reno"


async def test_hystart_delay_detection_on_a_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The ACKs delayed by up to 30 ms at random (netem-style jitter on b's side only): the
    ACK train keeps breaking, and a round whose first eight RTTs are all 5 ms (an eighth of
    the 40 ms minimum) above the minimum ends slow start (``TcpExtTCPHystartDelayDetect``)."""
    flow = await _flow(
        delay=0.02, rate=1e8, seconds=0.6, ack_faults=netsim.FaultPlan(jitter=0.03, seed=3)
    )
    stats = flow.stats
    assert stats["TcpExtTCPHystartDelayDetect"] == 1
    assert stats["TcpExtTCPHystartTrainDetect"] == 0
    assert stats["TcpExtTCPHystartDelayCwnd"] == flow.info["snd_ssthresh"] >= 16
    assert stats["TcpRetransSegs"] == 0


async def test_the_window_after_a_loss_follows_the_cubic_curve(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """200 ms RTT, one segment lost in slow start (the 41st): fast recovery sets ``ssthresh``
    to 717/1024 of the window (W_max); then, in congestion avoidance, the window a real
    connection has follows ``C (t - K)^3 + W_max`` with ``K = cbrt(W_max (1 - beta) / C)``
    within two segments — concave up to the old maximum, flat there, convex beyond
    (at 200 ms the curve is ahead of what Reno would do, so TCP friendliness stays out)."""
    flow = await _flow(delay=0.1, rate=1e8, seconds=7.0, wire=_dropping(40))
    assert flow.stats["TcpExtTCPSackRecovery"] == 1
    assert flow.stats["TcpRetransSegs"] == 1
    assert flow.stats["TcpExtTCPTimeouts"] == 0
    w_max, after = flow.recovery()
    ssthresh = after[0].ssthresh
    assert ssthresh == w_max * 717 // 1024
    ca = after[-1].ca
    assert ca is not None
    assert ca.bic_origin_point == ca.last_max_cwnd == w_max
    k = (w_max * (1 - BETA) / C) ** (1 / 3)
    assert abs(ca.bic_K / 1024 - k) < 0.01 * k
    checked = 0
    for sample in after:
        assert sample.ca is not None
        if not sample.ca.epoch_start:
            continue
        t = ((_jiffies(sample.t) - sample.ca.epoch_start) & U32) / 1000
        expected = C * (t - k) ** 3 + w_max
        assert abs(sample.cwnd - expected) <= 2, (t, sample.cwnd, expected)
        checked += 1
    assert checked > 100
    assert after[-1].cwnd > w_max + 5  # and out past the old maximum


async def test_a_timeout_takes_ssthresh_from_cubic_and_forgets_the_curve(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The link down for a second: the retransmission timeout (``tcp_enter_loss``) sets
    ``ssthresh`` from the congestion control (CUBIC: 717/1024 of the window), the window
    starts again at one, and entering Loss resets CUBIC (W_max forgotten)."""
    flow = await _flow(
        delay=0.01,
        rate=1e8,
        seconds=2.5,
        faults=netsim.FaultPlan(down=[(0.3, 1.3)]),
        every=0.005,
    )
    assert flow.stats["TcpExtTCPTimeouts"] >= 1
    i = next(i for i, s in enumerate(flow.samples) if s.state == TCP_CA_LOSS)
    before, loss = flow.samples[i - 1], flow.samples[i]
    assert before.state == TCP_CA_OPEN
    assert loss.ssthresh == max(before.cwnd * 717 // 1024, 2)
    assert loss.cwnd == 1
    assert loss.ca is not None
    assert (loss.ca.last_max_cwnd, loss.ca.epoch_start) == (0, 0)


async def test_reno_halves_the_window_at_a_fast_retransmit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Reno selected, the 41st segment lost: recovery ends with ``ssthresh`` half the window
    the loss was found at, and the window then grows by a segment per round trip."""
    flow = await _flow(delay=0.1, rate=1e8, seconds=3.0, wire=_dropping(40), congestion="reno")
    assert flow.stats["TcpExtTCPSackRecovery"] == 1
    w_max, after = flow.recovery()
    assert after[0].ssthresh == w_max // 2
    assert all(s.ca is None for s in flow.samples)
    rtts = (after[-1].t - after[0].t) / 0.2
    assert abs(after[-1].cwnd - after[0].cwnd - rtts) <= 2
