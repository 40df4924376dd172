"""``netsim packetdrill``: the project's own scripts pass; the parser reads packetdrill's
syntax and names what it cannot; a wrong expectation fails with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from netsim.cli import main as netsim_main
from netsim.cli.packetdrill import Config, parse_script, run_script
from netsim.cli.packetdrill.script import (
    ANY,
    Array,
    PacketEvent,
    ScriptError,
    ShellEvent,
    Struct,
    SyscallEvent,
    TcpOpt,
    parse_event,
)

SCRIPTS = sorted((Path(__file__).parent.parent / "packetdrill").glob("*.pkt"))
_ALLOW = "// netsim-capture-allow:"


def _capture_marks(path: Path) -> list[pytest.MarkDecorator]:
    """What a script's capture may show (``--netsim-capture``), as the script declares it:
    ``// netsim-capture-allow: KIND KIND... -- reason`` comment lines (kinds may continue on
    a second such line; the reason runs to the next line that is not a comment)."""
    kinds: list[str] = []
    reason: list[str] = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.startswith(_ALLOW):
            continue
        declared, _, why = line[len(_ALLOW) :].partition(" -- ")
        kinds += declared.split()
        if why:
            reason.append(why.strip())
            for more in lines[i + 1 :]:
                if not more.startswith("// ") or more.startswith(_ALLOW):
                    break
                reason.append(more[3:].strip())
    if not kinds:
        return []
    return [pytest.mark.netsim_capture_allow(*kinds, reason=" ".join(reason))]


SCRIPT_PARAMS = [pytest.param(p, id=p.name, marks=_capture_marks(p)) for p in SCRIPTS]

HANDSHAKE = """\
`./defaults.sh`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
  +.1 < . 1:1(0) ack 1 win 257
   +0 accept(3, ..., ...) = 4
"""


def test_there_are_scripts() -> None:
    names = {p.stem for p in SCRIPTS}
    assert {"nagle", "cork", "autocork", "mss_size_goal", "zero_window_probe"} <= names
    assert {"delayed_ack", "pingpong", "fast_retransmit", "rto", "rto_syn"} <= names


@pytest.mark.parametrize("path", SCRIPT_PARAMS)
@pytest.mark.parametrize("ip_version", ["ipv4", "ipv6"])
def test_script_passes(path: Path, ip_version: str) -> None:
    outcome = run_script(path.read_text(), str(path), Config(ip_version=ip_version))
    assert outcome.status == "PASS", str(outcome)


def test_wrong_expectation_fails_with_its_line() -> None:
    text = HANDSHAKE + "   +0 write(4, ..., 100) = 100\n   +0 > P. 1:201(200) ack 1\n"
    outcome = run_script(text, "wrong.pkt")
    assert outcome.status == "FAIL"
    assert outcome.line == 11
    assert "expected P. 1:201(200) ack 1, got P. 1:101(100) ack 1" in outcome.message
    assert str(outcome).startswith("FAIL: line 11: expected")


def test_late_packet_fails_on_timing() -> None:
    text = HANDSHAKE + "   +0 write(4, ..., 100) = 100\n +.01 > P. 1:101(100) ack 1\n"
    outcome = run_script(text, "late.pkt")
    assert outcome.status == "FAIL"
    assert outcome.line == 11
    assert "tolerance 4000 us" in outcome.message
    # a wider tolerance accepts it
    assert run_script(text, "late.pkt", Config(tolerance_usecs=20000)).passed


def test_missing_packet_fails() -> None:
    text = (
        HANDSHAKE
        + "   +0 write(4, ..., 100) = 100\n   +0 > P. 1:101(100) ack 1\n"
        + (" +.01 write(4, ..., 100) = 100\n   +0 > P. 101:201(100) ack 1\n")
    )
    outcome = run_script(text, "nagle.pkt")
    assert outcome.status == "FAIL"
    assert outcome.line == 13
    assert "got no packet" in outcome.message


def test_wrong_return_value_fails() -> None:
    outcome = run_script(HANDSHAKE + "   +0 write(4, ..., 100) = 99\n", "ret.pkt")
    assert outcome.status == "FAIL"
    assert outcome.line == 10
    assert "write() expected 99, got 100" in outcome.message


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("   +0 %{ assert SK_MEMINFO_DROPS == 0 }%", "SK_MEMINFO_DROPS in a %{ }% block"),
        ("   +0 poll(4, ...) = 0", "system call poll()"),
        ("   +0 setsockopt(4, SOL_SOCKET, SO_ZEROCOPY, [1], 4) = 0", "symbol SO_ZEROCOPY"),
        ("   +0 < udp (100)", "udp packets"),
        ("   +0 > [ect0] . 1:1(0) ack 1", "IP-level packet annotation"),
        ("   +0 < S 0:0(0) win 100 <mss 1000,FO abcd>", "TCP option 'FO abcd'"),
        ("   +0 `ip link set tun0 mtu 1400`", "shell command 'ip link set tun0 mtu 1400'"),
        ("   +0 `sysctl -q net.ipv4.tcp_no_such_thing=1`", "sysctl net.ipv4.tcp_no_such_thing"),
    ],
)
def test_unsupported_syntax_names_the_line(line: str, what: str) -> None:
    outcome = run_script(HANDSHAKE + line + "\n", "x.pkt")
    assert outcome.status == "UNSUPPORTED", str(outcome)
    assert outcome.line == 10
    assert what in outcome.message
    assert str(outcome).startswith("UNSUPPORTED: line 10: ")


def test_script_error_text() -> None:
    with pytest.raises(ScriptError) as info:
        parse_script("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 getpid() = 1\n", "a.pkt")
    assert str(info.value) == "a.pkt:2: unsupported: system call getpid()"
    assert info.value.unsupported
    assert info.value.line == 2
    with pytest.raises(ScriptError) as info:
        parse_script("socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n", "b.pkt")
    assert str(info.value).startswith("b.pkt:1: expected a time")
    assert not info.value.unsupported


def test_parse_packets() -> None:
    ev = parse_event("+.1 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>")
    assert isinstance(ev, PacketEvent)
    assert ev.direction == "<"
    assert ev.flags == "S"
    assert ev.win == 32792
    assert ev.ack is None
    assert ev.time.kind == "rel"
    assert ev.time.start == pytest.approx(0.1)
    assert ev.options == (
        TcpOpt("mss", (1000,)),
        TcpOpt("sackOK"),
        TcpOpt("nop"),
        TcpOpt("nop"),
        TcpOpt("nop"),
        TcpOpt("wscale", (7,)),
    )
    ev = parse_event("0.200 > P. 1:1001(1000) ack 1 <nop,nop,TS val 100 ecr 700>")
    assert isinstance(ev, PacketEvent)
    assert ev.time.kind == "abs"
    assert (ev.start, ev.end, ev.length, ev.ack) == (1, 1001, 1000, 1)
    assert ev.options is not None
    assert ev.options[2] == TcpOpt("TS", (100, 700))
    ev = parse_event("+0 > S 0:0(0) <...>")
    assert isinstance(ev, PacketEvent)
    assert ev.options is None
    ev = parse_event("+0 < . 1:1(0) ack 1 win 320 <sack 1001:2001 3001:4001,nop,nop>")
    assert isinstance(ev, PacketEvent)
    assert ev.options is not None
    assert ev.options[0] == TcpOpt("sack", (1001, 2001, 3001, 4001))
    ev = parse_event("+.21~+.215 > P. 1:41(40) ack 1")
    assert ev.time.end == pytest.approx(0.215)
    assert ev.time.end_rel
    assert ev.time.window
    ev = parse_event("+.01 < - 1:1001(1000) win 20000")
    assert isinstance(ev, PacketEvent)
    assert ev.flags == ""


@pytest.mark.parametrize(
    "bad",
    [
        "+0 > P. 1:1001(999) ack 1",  # length does not match the range
        "+0 > Q 0:0(0)",  # no such flag
        "+0 > S 0:0(0) <mss>",  # mss without a value
        "+0 > . 1:1(0) ack x",
        "+0 write(4, ..., 100)",  # no result
    ],
)
def test_parse_bad_lines(bad: str) -> None:
    with pytest.raises(ScriptError) as info:
        parse_event(bad, "bad.pkt", 7)
    assert not info.value.unsupported
    assert str(info.value).startswith("bad.pkt:7: ")


def test_parse_syscalls() -> None:
    ev = parse_event("+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)")
    assert isinstance(ev, SyscallEvent)
    assert (ev.name, ev.args, ev.ret, ev.errno) == ("connect", (3, ANY, ANY), -1, "EINPROGRESS")
    ev = parse_event("+0 setsockopt(4, SOL_TCP, TCP_CORK, [1], 4) = 0")
    assert isinstance(ev, SyscallEvent)
    assert ev.args == (4, 6, 3, Array((1,)), 4)
    ev = parse_event("+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0")
    assert isinstance(ev, SyscallEvent)
    assert ev.args == (4, 4, 2 | 0o4000)
    ev = parse_event("+0 fcntl(4, F_GETFL) = 0x2 (flags O_RDWR)")
    assert isinstance(ev, SyscallEvent)
    assert ev.ret == 2
    ev = parse_event(
        "+0 sendmsg(4, {msg_name(...)=...,\n msg_iov(2)=[{..., 40}, {..., 60}], msg_flags=0},"
        " MSG_MORE) = 100"
    )
    assert isinstance(ev, SyscallEvent)
    msg = ev.args[1]
    assert isinstance(msg, Struct)
    assert msg.get("msg_iov") == Array(
        (Struct(((None, ANY), (None, 40))), Struct(((None, ANY), (None, 60))))
    )
    assert ev.args[2] == 0x8000
    ev = parse_event("+.1...0.200 connect(3, ..., ...) = 0")
    assert ev.time.end == pytest.approx(0.2)
    assert not ev.time.end_rel
    assert not ev.time.window


def test_parse_script_statements() -> None:
    script = parse_script(
        "// a comment\n--tolerance_usecs=7000\n`./defaults.sh\nsysctl -q a=1`\n"
        "/* a\n block */ 0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3 // trailing\n"
        "+0 sendmsg(3, {msg_name(...)=...,\n  msg_iov(1)=[{..., 1}], msg_flags=0}, 0) = 1\n",
        "s.pkt",
    )
    assert script.option("tolerance_usecs") == "7000"
    shell, sock, send = script.events
    assert isinstance(shell, ShellEvent)
    assert shell.line == 3
    assert shell.command == "./defaults.sh\nsysctl -q a=1"
    assert isinstance(sock, SyscallEvent)
    assert sock.line == 6
    assert isinstance(send, SyscallEvent)
    assert send.line == 7


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.pkt"
    good.write_text(HANDSHAKE)
    bad = tmp_path / "bad.pkt"
    bad.write_text(HANDSHAKE + "   +0 poll(4, ...) = 0\n")
    assert netsim_main(["packetdrill", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: PASS\n"
    assert netsim_main(["packetdrill", "--ip-version", "ipv6", str(good), str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{good}: PASS",
        f"{bad}: UNSUPPORTED: line 10: system call poll()",
        "2 scripts: 1 passed, 0 failed, 1 unsupported",
    ]
    assert netsim_main(["packetdrill", "-v", str(good)]) == 0
    assert "matched > S. 0:0(0) ack 1" in capsys.readouterr().out


def test_a_blocking_calls_end_counts_from_where_its_start_does() -> None:
    """``+.1...0.300 accept(...)``: a range that starts at a relative time ends relative to
    the same point, the previous event (packetdrill's ``adjust_relative_event_times`` adds
    the same offset to both), so this ``accept``, started at 0.1 s, must return at
    0.3 s after the previous event — when the handshake's last ACK comes at 0.3 s — and not
    at an absolute 0.3 s (the kernel's ``tcp_blocking_blocking-write`` showed it)."""
    text = """\
`./defaults.sh`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
  +.5 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
  +.1...0.300 accept(3, ..., ...) = 4
   +0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
  +.2 < . 1:1(0) ack 1 win 257
"""
    assert run_script(text, "accept.pkt").status == "PASS"
    early = text.replace("+.2 < . 1:1(0)", "+.1 < . 1:1(0)")
    outcome = run_script(early, "accept-early.pkt")
    assert outcome.status == "FAIL"
    assert outcome.line == 7
    assert "accept()" in outcome.message


def test_scripts_declare_what_their_captures_show() -> None:
    """A script's ``netsim-capture-allow`` comments become its marker, reason and all."""
    (mark,) = _capture_marks(Path(__file__).parent.parent / "packetdrill" / "orphan_fin_wait2.pkt")
    assert mark.args == (
        "tcp.analysis.duplicate_ack",
        "tcp.analysis.keep_alive",
        "tcp.analysis.keep_alive_ack",
        "tcp.analysis.retransmission",
    )
    assert str(mark.kwargs["reason"]).startswith("the script's peer repeats its ACK")
    assert _capture_marks(Path(__file__).parent.parent / "packetdrill" / "nagle.pkt") == []


def test_python_blocks_see_the_socket_under_tests_tcp_info() -> None:
    """``%{ }%`` blocks run with ``tcpi_*`` of the newest socket (the accepted one here) at
    their time, and packetdrill's ``TCP_CA_*``/``TCPI_OPT_*`` names: a passing ``assert``,
    one that fails at its line with the value it reports, a name the runner does not know
    (UNSUPPORTED), the continuation style the kernel's scripts use."""
    base = HANDSHAKE + "   +0 write(4, ..., 1000) = 1000\n   +0 > P. 1:1001(1000) ack 1\n"
    ok = base + (
        "   +0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd; \\\n"
        "\t assert tcpi_unacked == 1, tcpi_unacked }%\n"
        "  +.1 < . 1:1(0) ack 1001 win 257\n"
        "   +0 %{\n"
        "assert tcpi_unacked == 0, tcpi_unacked\n"
        "assert tcpi_ca_state == TCP_CA_Open\n"
        "assert tcpi_options & TCPI_OPT_SACK and tcpi_snd_mss == 1000\n"
        "}%\n"
    )
    assert run_script(ok, "ok.pkt").status == "PASS"
    wrong = base + "   +0 %{ assert tcpi_snd_cwnd == 3, tcpi_snd_cwnd }%\n"
    outcome = run_script(wrong, "wrong.pkt")
    assert (outcome.status, outcome.line) == ("FAIL", 12)
    assert outcome.message == "%{ }% assertion failed: 10"
    unknown = base + "   +0 %{ assert tcpi_no_such_field == 0 }%\n"
    outcome = run_script(unknown, "unknown.pkt")
    assert (outcome.status, outcome.line) == ("UNSUPPORTED", 12)
    assert "tcpi_no_such_field" in outcome.message


def test_mss_option_injects_gso_packets() -> None:
    """``--mss=N``: inbound data larger than N goes in as one GSO packet of N-byte segments
    (a TUN write with a ``virtio_net_hdr``), so the receiver measures N (``gso_size``), not
    the packet, which it would take for a segment as large as its own MSS allows."""
    script = (
        "--mss=1000\n"
        + HANDSHAKE
        + (
            "   +0 < P. 1:3001(3000) ack 1 win 257\n"
            "   +0 %{ assert tcpi_rcv_mss == 1000, tcpi_rcv_mss }%\n"
            "   +0 read(4, ..., 3000) = 3000\n"
        )
    )
    assert run_script(script, "mss.pkt").status == "PASS"
    without = script.replace("--mss=1000\n", "")
    outcome = run_script(without, "no-mss.pkt")
    assert (outcome.status, outcome.line) == ("FAIL", 11)
    assert outcome.message == "%{ }% assertion failed: 1460"
    bad = run_script("--mss=x\n" + HANDSHAKE, "bad.pkt")
    assert (bad.status, bad.message) == ("FAIL", "--mss=x is not a positive number")


def test_shell_arithmetic_continuations_and_nstat() -> None:
    """Shell lines as the kernel's scripts write them: ``$((...))`` arithmetic, a command
    continued with a backslash, and ``nstat -n`` / ``nstat | grep NAME | grep -q " N "``
    comparing a counter's change with the script's number."""
    text = (
        "`./defaults.sh\n"
        'sysctl -q net.ipv4.tcp_rmem="4096 $((64*1024)) $((2 * (3 + 1) * 1024 * 1024))" \\\n'
        '  net.ipv4.tcp_wmem="4096 16384 $((4*1024*1024))"`\n'
        "   0 `nstat -n`\n" + HANDSHAKE.split("\n", 1)[1] + "   +0 write(4, ..., 100) = 100\n"
        "   +0 > P. 1:101(100) ack 1\n"
        '   +0 `nstat | grep TcpOutSegs | grep -q " 2 "`\n'
    )
    outcome = run_script(text, "shell.pkt")
    assert outcome.status == "PASS", str(outcome)
    wrong = run_script(text.replace('grep -q " 2 "', 'grep -q " 5 "'), "wrong.pkt")
    assert wrong.status == "FAIL"
    assert wrong.message == "nstat: TcpOutSegs is 2, the script greps for 5"
    unknown = run_script(text.replace("TcpOutSegs", "TcpExtNoSuchThing"), "unknown.pkt")
    assert unknown.status == "UNSUPPORTED"
    assert "TcpExtNoSuchThing" in unknown.message
    arith = run_script(text.replace("$((64*1024))", "$((64**2))"), "arith.pkt")
    assert arith.status == "UNSUPPORTED"
    assert "$((64**2))" in arith.message


def test_recvmsg_checks_the_control_messages_it_lists() -> None:
    """``recvmsg`` with ``msg_control``: each listed message must come with its ``int``
    data (here ``TCP_CM_INQ`` of ``TCP_INQ``), else FAIL at the line."""
    base = HANDSHAKE + (
        "   +0 setsockopt(4, SOL_TCP, TCP_INQ, [1], 4) = 0\n"
        "   +0 < P. 1:1001(1000) ack 1 win 257\n"
        "   +0 > . 1:1(0) ack 1001\n"
    )
    call = (
        "   +0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 400}], msg_flags=0,\n"
        "       msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ,\n"
        "                     cmsg_data=%d}]}, 0) = 400\n"
    )
    assert run_script(base + call % 600, "inq.pkt").status == "PASS"
    outcome = run_script(base + call % 7, "inq-wrong.pkt")
    assert (outcome.status, outcome.line) == ("FAIL", 13)
    assert outcome.message == "recvmsg() cmsg_data expected 7, got 600"
    off = base.replace("TCP_INQ, [1]", "TCP_INQ, [0]") + call % 600
    outcome = run_script(off, "inq-off.pkt")
    assert outcome.message.startswith("recvmsg() got no control message")


def test_a_script_may_open_a_second_connection() -> None:
    """After the first connection is closed, a new listener's SYN opens another from a port
    of its own (packetdrill's new child socket); packets of the old connection still on
    the way — its reset, sent at a close with unread data — are not the script's concern."""
    first = HANDSHAKE + (
        "   +0 < P. 1:101(100) ack 1 win 257\n"
        "   +0 > . 1:1(0) ack 101\n"
        "   +0 close(4) = 0\n"
        "   +0 close(3) = 0\n"
    )
    second = HANDSHAKE.split("\n", 1)[1].replace("    0 socket", "   +0 socket")
    text = first + second + "   +0 write(4, ..., 10) = 10\n   +0 > P. 1:11(10) ack 1\n"
    outcome = run_script(text, "two.pkt")
    assert outcome.status == "PASS", str(outcome)
    # the old connection's reset was there to skip
    log: list[str] = []
    run_script(text, "two.pkt", Config(log=log.append))
    assert any("skipped R. " in line for line in log)


def test_ts_tick_usecs_compares_outbound_ts_vals() -> None:
    """``--tcp_ts_tick_usecs=1000``: an outbound ``TS val`` must run with the clock from the
    first the stack sent (here 1 s later: 1000 ticks more), within the tolerance; without
    the option a ``TS val`` is not compared, as packetdrill does."""
    script = (
        "`./defaults.sh`\n"
        "    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
        "   +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n"
        "   +0 bind(3, ..., ...) = 0\n"
        "   +0 listen(3, 1) = 0\n"
        "   +0 < S 0:0(0) win 20000 <mss 1000,sackOK,TS val 100 ecr 0>\n"
        "   +0 > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 100 ecr 100>\n"
        "  +.1 < . 1:1(0) ack 1 win 20000 <nop,nop,TS val 200 ecr 100>\n"
        "   +0 accept(3, ..., ...) = 4\n"
        "   +1 write(4, ..., 10) = 10\n"
        "   +0 > P. 1:11(10) ack 1 <nop,nop,TS val %d ecr 200>\n"
    )
    ticked = "--tcp_ts_tick_usecs=1000\n" + script
    assert run_script(ticked % 1200, "ts.pkt").status == "PASS"
    outcome = run_script(ticked % 1300, "ts-wrong.pkt")
    assert (outcome.status, outcome.line) == ("FAIL", 12)
    assert "differs in options" in outcome.message
    assert run_script(script % 1300, "ts-not-compared.pkt").status == "PASS"
    other = run_script("--tcp_ts_tick_usecs=1\n" + script % 1200, "us.pkt")
    assert (other.status, other.message) == (
        "UNSUPPORTED",
        "--tcp_ts_tick_usecs=1 (1000 only)",
    )
