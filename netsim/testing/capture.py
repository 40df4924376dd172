"""Capture every packet a run moves, and read the captures with tshark (docs/captures.md).

Two halves, usable apart:

**Capturing** — :func:`capture_hosts` puts a pcap tap (:class:`~netsim.dev.PcapTap`:
``LINKTYPE_RAW``, complete checksums, what ``tcpdump -i DEV -w`` writes) on every device of
every host :func:`netsim.open_host` opens while it runs — loopback, and every device
registered later (:func:`netsim.link`, stream links, ``host.net.add_device``) — one file per
host and device, ``NNN-HOST-DEV.pcap`` (``NNN``: the hosts in the order they opened).  It
hooks :func:`netsim.runtime.host.host_hook` and :meth:`~netsim.Host.watch_devices`; the code
under test does nothing.  A file that got no packet is removed when its host closes.  Each
file also notes the faults its traffic met (:attr:`CaptureFile.faults`: a
:class:`~netsim.FaultPlan` on either end of its link, a ``wire`` function, packets its host
dropped).

**Checking** — :func:`check_pcap` runs ``tshark`` on one file with IPv4, TCP and UDP checksum
validation on (ICMP and ICMPv6 checksums are always checked), only netsim's protocols
dissected (:func:`tshark_profile`), and returns its :class:`Finding`\\ s: every expert-info
item of severity Warning or Error, and every TCP analysis flag whatever its severity —
malformed packets (``_ws.malformed``), bad checksums (``ip.checksum_bad.expert``,
``tcp.checksum_bad.expert``, …), retransmissions, duplicate ACKs (``tcp.analysis.*``).  A
finding's *kind* is the expert item's field name, the name Wireshark filters on; two kinds
are normal traffic and never reported (:data:`BENIGN`).  :func:`check_pcaps` reads many files
to a tshark run without mixing them.  :func:`judge` says which findings are allowed and why:
what Linux does and Wireshark flags (:func:`explained`), what the faults explain
(:func:`fault_allowances`), what the test declares (``@pytest.mark.netsim_capture_allow``).

The pytest plugin (:mod:`netsim.testing.plugin`) joins the two behind ``--netsim-capture=DIR``
(or ``NETSIM_CAPTURE_DIR``).

tshark runs after the emulated run, never inside it: it is real I/O, and under an autojump
clock virtual time would jump while it ran.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import fnmatch
import hashlib
import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..dev.pcap import LINKTYPE_RAW, MAXIMUM_SNAPLEN, PcapWriter
from ..dev.tap import PcapTap

if TYPE_CHECKING:
    from ..dev.device import NetDevice
    from ..runtime import Host
    from ..skb import SkBuff

__all__ = [
    "BENIGN",
    "CaptureFile",
    "DROP_COUNTERS",
    "FLOW_CONTROL",
    "Finding",
    "LOSS_EXPLAINS",
    "allowed",
    "capture_hosts",
    "check_pcap",
    "check_pcaps",
    "explained",
    "fault_allowances",
    "find_tshark",
    "judge",
    "safe_name",
    "shift_addresses",
    "tshark_command",
    "tshark_profile",
]

#: tshark preferences for the check: checksum validation, off in Wireshark by default since 1.2
#: (ICMP and ICMPv6 checksums are always validated), and no name resolution
TSHARK_PREFS: Final = (
    "-n",
    "-o", "ip.check_checksum:TRUE",
    "-o", "tcp.check_checksum:TRUE",
    "-o", "udp.check_checksum:TRUE",
)  # fmt: skip

#: expert severities (epan/proto.h ``PI_WARN``, ``PI_ERROR``…) by value
SEVERITIES: Final = {
    0x00100000: "Comment",
    0x00200000: "Chat",
    0x00400000: "Note",
    0x00600000: "Warning",
    0x00800000: "Error",
}
#: expert groups (epan/proto.h ``PI_CHECKSUM``, ``PI_MALFORMED``…) by value
GROUPS: Final = {
    0x01000000: "Checksum",
    0x02000000: "Sequence",
    0x03000000: "Response",
    0x04000000: "Request",
    0x05000000: "Undecoded",
    0x06000000: "Reassemble",
    0x07000000: "Malformed",
    0x08000000: "Debug",
    0x09000000: "Protocol",
    0x0A000000: "Security",
    0x0B000000: "Comment",
    0x0C000000: "Decryption",
    0x0D000000: "Assumption",
    0x0E000000: "Deprecated",
}
_WARNING: Final = 0x00600000

#: the packets worth a look: any expert item of Warning or above, any TCP analysis flag
DISPLAY_FILTER: Final = f"_ws.expert.severity >= {_WARNING} || tcp.analysis.flags || _ws.malformed"

#: expert items that describe normal traffic, never reported:
#: ``tcp.analysis.window_update`` — the receiver opened its window (Chat; every bulk
#: transfer whose reader drains a full buffer has them); ``tcp.connection.rst`` — a reset was
#: sent (Warning in Wireshark: an RST ends a connection abnormally, but refusing a connection,
#: ``SO_LINGER`` 0 and closing with unread data are how sockets work, and tests do all three)
BENIGN: Final = frozenset({"tcp.analysis.window_update", "tcp.connection.rst"})

#: flow control, in every test: the sender filled the window the receiver offered
#: (``window_full``), the receiver's buffer is full (``zero_window``), the sender probes it
#: (``zero_window_probe`` and its ACK).  Wireshark counts them among its TCP analysis flags, but
#: they describe a reader slower than its writer, which netsim's tests make on purpose and
#: Linux handles as designed; the report lists them as allowed.  (Linux's probe of a zero
#: window carries no data and the sequence number ``snd_una - 1`` — ``tcp_xmit_probe_skb`` —
#: which Wireshark calls a keep-alive: see :func:`explained`.)
FLOW_CONTROL: Final = (
    "tcp.analysis.window_full",
    "tcp.analysis.zero_window",
    "tcp.analysis.zero_window_probe",
    "tcp.analysis.zero_window_probe_ack",
)

#: what lost, late, doubled or reordered packets explain: TCP's analysis flags
#: (retransmissions, duplicate ACKs, lost and out-of-order segments…), the D-SACK blocks a
#: receiver sends for data it got twice, and two dissector quirks of Wireshark 4.0 — its
#: reassembly of TLS records over TCP throws "New fragment overlaps old data
#: (retransmission?)" (``_ws.malformed.reassembly``) when a retransmission starts or ends
#: elsewhere than the segment it repeats, though the bytes are the same (tests/tls/test_wire.py
#: checks that retransmissions carry the same ciphertext), and its TLS dissector then loses the
#: record boundaries (``tls.ignored_unknown_record``, ``tls.record.length.invalid``)
LOSS_EXPLAINS: Final = (
    "tcp.analysis.*",
    "tcp.options.sack.dsack",
    "_ws.malformed.reassembly",
    "tls.ignored_unknown_record",
    "tls.record.length.invalid",
)

#: what each fault explains (:func:`fault_allowances`).  A corrupted frame can turn into
#: anything — a bad checksum, a malformed header, any expert message — but only in the
#: capture of the device that received it (the sender's copy is whole): ``corrupt`` is noted
#: on that device's capture alone, the others on every capture of its group of hosts
_FAULT_ALLOWS: Final = {
    "loss": LOSS_EXPLAINS,
    "down": LOSS_EXPLAINS,
    "duplicate": LOSS_EXPLAINS,
    "reorder": LOSS_EXPLAINS,
    "jitter": LOSS_EXPLAINS,
    "corrupt_sent": LOSS_EXPLAINS,
    "wire": LOSS_EXPLAINS,
    "drop": LOSS_EXPLAINS,
    "corrupt": ("*",),
}

#: faults noted on one capture that explain findings in that capture only
PER_FILE_FAULTS: Final = frozenset({"corrupt"})

#: the counters (``host.stats()``) that say a host dropped a packet it received or meant to
#: send: the ``drop`` fault, with a device's ``tx_dropped`` and ``rx_dropped`` (a full queue,
#: a device that is down) and a stream link's ``tx_carrier_errors``
DROP_COUNTERS: Final = (
    "IpInDiscards",
    "IpOutDiscards",
    "IpInHdrErrors",
    "Ip6InDiscards",
    "Ip6OutDiscards",
    "Ip6InHdrErrors",
    "TcpInCsumErrors",
    "TcpExtListenOverflows",
    "TcpExtListenDrops",
    "TcpExtRcvPruned",
    "TcpExtOfoPruned",
    "TcpExtTCPOFODrop",
    "TcpExtTCPRcvQDrop",
    "TcpExtTCPZeroWindowDrop",
)


@dataclass(frozen=True)
class Finding:
    """One expert-info item tshark reported in a capture.

    Attributes:
        path: the capture file.
        frame: the frame number (1-based, as Wireshark counts).
        kind: the expert item's field name: ``"tcp.checksum_bad.expert"``,
            ``"_ws.malformed"``, ``"tcp.analysis.retransmission"``…
        severity: ``"Note"``, ``"Warning"``, ``"Error"``…
        group: ``"Checksum"``, ``"Malformed"``, ``"Sequence"``…
        message: what Wireshark says (``"Bad checksum [should be 0x65a6]"``).
        quoted: the item is about the packet an ICMP or ICMPv6 error quotes, not the
            packet itself.
    """

    path: Path
    frame: int
    kind: str
    severity: str
    group: str
    message: str
    quoted: bool = False

    def __str__(self) -> str:
        return f"{self.path.name} frame {self.frame}: {self.kind} ({self.severity}) {self.message}"


@dataclass
class CaptureFile:
    """A capture :func:`capture_hosts` wrote: one host's device.

    Attributes:
        path: the pcap file.
        host, dev: whose packets it holds.
        dev_kind: the device's kind: ``"loopback"``, ``"link"``…
        group: hosts open at the same time share a group (1, 2, …): a test's hosts, or
            one hypothesis example's; a fault explains findings within its group only.
        records: how many packets.
        faults: the faults the device's traffic met while captured: ``"loss"``, ``"down"``,
            ``"duplicate"``, ``"reorder"``, ``"jitter"`` (a :class:`~netsim.FaultPlan` on
            the device or its link peer), ``"corrupt_sent"`` (the device's own plan corrupts
            what it sends: the peer drops those frames), ``"wire"`` (a ``wire`` function on
            either end, which may drop, delay or alter frames), ``"corrupt"`` (frames this
            device *received* may have been altered: its peer's plan corrupts, or this
            device has a ``wire`` function), ``"drop"`` (its host dropped a packet:
            :data:`DROP_COUNTERS`, a device's ``tx_dropped`` or ``rx_dropped``).
        error: the I/O error that stopped the capture, if one did.
    """

    path: Path
    host: str
    dev: str
    dev_kind: str = "device"
    group: int = 0
    records: int = 0
    faults: set[str] = field(default_factory=set)
    error: BaseException | None = None


# -- capturing --------------------------------------------------------------------------------


def _plan_faults(plan: Any) -> set[str]:
    out = set()
    if plan.loss or plan.burst is not None:
        out.add("loss")
    for name in ("duplicate", "reorder", "jitter", "down"):
        if getattr(plan, name):
            out.add(name)
    return out


class _FaultNotingTap:
    """A :class:`~netsim.dev.PacketTap` in ``dev.taps``: notes the faults the device's link
    has as each packet passes, then hands the packet to the :class:`PcapTap` that writes it."""

    __slots__ = ("dev", "file", "pcap")

    def __init__(self, dev: NetDevice, pcap: PcapTap, file: CaptureFile) -> None:
        self.dev = dev
        self.pcap = pcap
        self.file = file

    def record(self, skb: SkBuff) -> None:
        dev = self.dev
        if getattr(dev, "peer", None) is not None or getattr(dev, "wire", None) is not None:
            self._note_faults()
        self.pcap.record(skb)

    def _note_faults(self) -> None:
        dev: Any = self.dev
        faults = self.file.faults
        peer: Any = getattr(dev, "peer", None)
        mine = getattr(dev, "faults", None)  # what the frames this device sends meet
        theirs = getattr(peer, "faults", None)  # what the frames it receives met
        if mine is not None:
            faults |= _plan_faults(mine.plan)
            if mine.plan.corrupt:
                faults.add("corrupt_sent")
        if theirs is not None:
            faults |= _plan_faults(theirs.plan)
            if theirs.plan.corrupt:
                faults.add("corrupt")
        if getattr(dev, "wire", None) is not None:  # it may drop or alter what arrives
            faults |= {"wire", "corrupt"}
        if getattr(peer, "wire", None) is not None:
            faults.add("wire")


_UNSAFE = re.compile(r"[^A-Za-z0-9_.+=-]+")


def safe_name(name: str, limit: int = 120) -> str:
    """``name`` as one file-name component: runs of anything but letters, digits and
    ``_.+=-`` become ``_``; a long name is cut and keeps a hash of the whole."""
    out = _UNSAFE.sub("_", name).strip("_.") or "_"
    if len(out) > limit:
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        out = f"{out[: limit - 11]}-{digest}"
    return out


@contextmanager
def capture_hosts(
    directory: str | os.PathLike[str],
    *,
    snaplen: int = MAXIMUM_SNAPLEN,
    on_file: Callable[[CaptureFile], None] | None = None,
) -> Iterator[list[CaptureFile]]:
    """Capture every device of every host :func:`netsim.open_host` opens while the block runs
    (in any trio run of the process) into ``directory`` (created if needed): one pcap file
    per host and device, ``NNN-HOST-DEV.pcap``.  Yields the list of the files written, each
    added when its host closes (files that got no packet are removed instead); ``on_file``
    is called with each as it is added.  A host still open when the block ends is captured
    until it closes."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    files: list[CaptureFile] = []
    serial = itertools.count(1)
    groups = _Groups()

    def hook(host: Host) -> contextlib.AbstractContextManager[object]:
        return _capture_host(host, root, next(serial), snaplen, files, on_file, groups)

    from ..runtime.host import host_hook

    with host_hook(hook):
        yield files


class _Groups:
    """Numbers the groups of hosts open at the same time: a host that opens while no other
    is open starts a new group."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = 0
        self.current = 0

    def enter(self) -> int:
        with self.lock:
            if self.open == 0:
                self.current += 1
            self.open += 1
            return self.current

    def leave(self) -> None:
        with self.lock:
            self.open -= 1


@contextmanager
def _capture_host(
    host: Host,
    root: Path,
    n: int,
    snaplen: int,
    files: list[CaptureFile],
    on_file: Callable[[CaptureFile], None] | None,
    groups: _Groups,
) -> Iterator[None]:
    group = groups.enter()
    taps: list[tuple[_FaultNotingTap, CaptureFile]] = []
    prefix = f"{n:03d}-{safe_name(host.name, 40)}"

    def start(dev: NetDevice) -> None:
        path = root / f"{prefix}-{safe_name(dev.name, 40)}.pcap"
        capture = CaptureFile(path, host.name, dev.name, dev.kind, group)
        try:
            writer = PcapWriter(path.open("wb"), snaplen=snaplen)
        except OSError as exc:  # the capture fails, never the host
            capture.error = exc
            files.append(capture)
            return
        tap = _FaultNotingTap(dev, PcapTap(dev, writer), capture)
        dev.taps.append(tap)
        taps.append((tap, capture))

    unwatch = host.watch_devices(start)
    try:
        yield
    finally:
        unwatch()
        groups.leave()
        dropped = _host_dropped(host)
        for tap, capture in taps:
            if dropped:
                capture.faults.add("drop")
            if tap in tap.dev.taps:
                tap.dev.taps.remove(tap)
            tap.pcap.close()
            capture.records = tap.pcap.records
            capture.error = tap.pcap.error
            if capture.records == 0 and capture.error is None:
                with contextlib.suppress(OSError):
                    capture.path.unlink()
                continue
            files.append(capture)
            if on_file is not None:
                on_file(capture)


def _host_dropped(host: Host) -> bool:
    """Did ``host`` drop a packet (:data:`DROP_COUNTERS`, its devices' drop counts)?"""
    for dev in host.devices.values():
        if dev.tx_dropped or dev.rx_dropped or getattr(dev, "tx_carrier_errors", 0):
            return True
    counters = host.stats()
    names = set(counters)
    return any(counters[name] for name in DROP_COUNTERS if name in names)


# -- checking ---------------------------------------------------------------------------------


def find_tshark() -> str | None:
    """The ``tshark`` to run: ``$NETSIM_TSHARK`` if set (``None`` if that is no program),
    else the one on ``PATH``, else ``None``."""
    chosen = os.environ.get("NETSIM_TSHARK")
    return shutil.which(chosen) if chosen is not None else shutil.which("tshark")


def tshark_command(tshark: str, path: str | os.PathLike[str]) -> list[str]:
    """The command :func:`check_pcap` runs (print it to repeat a check by hand; its
    environment points ``WIRESHARK_CONFIG_DIR`` at a :func:`tshark_profile`)."""
    return [
        tshark, "-r", os.fspath(path), *TSHARK_PREFS, "-Y", DISPLAY_FILTER,
        "-T", "json", "--no-duplicate-keys",
    ]  # fmt: skip


#: the protocols the check dissects (with their sub-protocols, ``ip.options.*``,
#: ``tcp.options.*``…, and Wireshark's own ``_ws.*``): what netsim puts on the wire.  Every
#: other dissector is off — payloads are the tests' own bytes, and a heuristic dissector that
#: takes 100 random bytes for RTCP or HTTP reports them malformed.  TLS stays on: kTLS records
#: are netsim's, and Wireshark checks their framing.
ENABLED_PROTOCOLS: Final = ("frame", "raw", "ip", "ipv6", "icmp", "icmpv6", "tcp", "udp", "tls")

_PROFILE_LOCK = threading.Lock()
_PROTOCOLS: dict[str, list[str]] = {}


def _all_protocols(tshark: str) -> list[str]:
    """``tshark -G protocols``'s filter names (once per tshark)."""
    with _PROFILE_LOCK:
        names = _PROTOCOLS.get(tshark)
        if names is None:
            out = subprocess.run(
                [tshark, "-G", "protocols"],
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
                env={**os.environ, "LC_ALL": "C"},
            ).stdout
            names = [line.split("\t")[2] for line in out.splitlines() if line.count("\t") >= 2]
            _PROTOCOLS[tshark] = names
        return names


@contextmanager
def tshark_profile(tshark: str) -> Iterator[dict[str, str]]:
    """A Wireshark configuration directory of the check's own, for the duration of the
    block; yields the environment to run tshark in (``WIRESHARK_CONFIG_DIR`` points at it).
    It disables every protocol outside :data:`ENABLED_PROTOCOLS` (``disabled_protos``) and
    has no preferences, decode-as rules or profiles of the user's, so the check gives the
    same answer on every machine."""
    import tempfile

    keep = set(ENABLED_PROTOCOLS) | {"data"}
    prefixes = tuple(f"{name}." for name in (*ENABLED_PROTOCOLS, "_ws"))
    disabled = [n for n in _all_protocols(tshark) if n not in keep and not n.startswith(prefixes)]
    with tempfile.TemporaryDirectory(prefix="netsim-tshark-") as home:
        Path(home, "disabled_protos").write_text("\n".join(disabled) + "\n")
        yield {**os.environ, "LC_ALL": "C", "WIRESHARK_CONFIG_DIR": home}


class TsharkError(RuntimeError):
    """tshark could not read a capture (it exited with an error)."""


def check_pcap(
    path: str | os.PathLike[str],
    *,
    tshark: str | None = None,
    timeout: float = 600.0,
    env: dict[str, str] | None = None,
) -> list[Finding]:
    """Read ``path`` with tshark, checksum validation on, and return what it flags: every
    expert item of severity Warning or Error and every TCP analysis flag, except the
    :data:`BENIGN` kinds, in frame order.  ``env``: a :func:`tshark_profile`'s environment
    (default: a fresh one).  :class:`TsharkError` if tshark fails (a file it cannot read is
    a finding of its own: a pcap netsim wrote must be readable); ``FileNotFoundError`` if
    there is no tshark."""
    tshark = tshark or find_tshark()
    if tshark is None:
        raise FileNotFoundError("tshark not found (apt-get install tshark)")
    if env is None:
        with tshark_profile(tshark) as fresh:
            return check_pcap(path, tshark=tshark, timeout=timeout, env=fresh)
    path = Path(path)
    proc = subprocess.run(
        tshark_command(tshark, path),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
    if proc.returncode != 0:
        err = "\n".join(
            line for line in proc.stderr.splitlines() if "Running as user" not in line
        ).strip()
        raise TsharkError(f"tshark exited with {proc.returncode} on {path}: {err}")
    return parse_tshark_json(proc.stdout, path)


def parse_tshark_json(text: str, path: Path) -> list[Finding]:
    """The findings in tshark's ``-T json --no-duplicate-keys`` output for ``path``."""
    if not text.strip():
        return []
    out: list[Finding] = []
    for packet in json.loads(text):
        layers = packet["_source"]["layers"]
        frame = int(_first(layers.get("frame", {}).get("frame.number", "0")))
        for item, quoted in _experts(layers):
            kind = next((k for k in item if not k.startswith("_ws.expert")), "_ws.expert")
            if kind.endswith(".expert") and kind.startswith("_ws.malformed"):
                kind = "_ws.malformed"
            severity_value = int(_first(item.get("_ws.expert.severity", "0")))
            group_value = int(_first(item.get("_ws.expert.group", "0")))
            if kind in BENIGN:
                continue
            if severity_value < _WARNING and not kind.startswith("tcp.analysis."):
                continue
            out.append(
                Finding(
                    path=path,
                    frame=frame,
                    kind=kind,
                    severity=SEVERITIES.get(severity_value, hex(severity_value)),
                    group=GROUPS.get(group_value, hex(group_value)),
                    message=str(_first(item.get("_ws.expert.message", ""))),
                    quoted=quoted,
                )
            )
    return out


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def _experts(node: Any, quoted: bool = False) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every expert item in a packet's tree (``_ws.expert`` objects, at any depth), and
    whether it sits inside an ICMP or ICMPv6 layer below that layer's own fields (the
    quoted packet of an error: ``icmp`` → ``ip``, ``udp``…)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "_ws.expert":
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, dict):
                        yield item, quoted
            elif quoted or key not in ("icmp", "icmpv6"):
                yield from _experts(value, quoted)
            else:  # the ICMP layer: its own fields, then the packet it quotes
                yield from _icmp_experts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _experts(value, quoted)


def _icmp_experts(layer: Any) -> Iterator[tuple[dict[str, Any], bool]]:
    if not isinstance(layer, dict):
        yield from _experts(layer, False)
        return
    for key, value in layer.items():
        if key == "_ws.expert" or key.startswith(("icmp.", "icmpv6.")):
            yield from _experts({key: value}, False)
        else:  # ip, ipv6, udp, tcp… of the quoted packet
            yield from _experts(value, True)


# -- many captures, few tshark runs -------------------------------------------------------------
#
# tshark takes ~0.2 s to start, and a suite writes thousands of small captures; reading them
# one process each would cost minutes.  So the captures are concatenated, a batch of up to
# _MAX_BATCH files per tshark run.  Concatenated as they are, the files would mix: tests reuse
# addresses and ports, so one capture's connection would continue another's in Wireshark's TCP
# analysis (and fragments would meet in reassembly).  Each file in a batch therefore gets
# addresses of its own, changed so that no checksum changes: file d of the batch adds d to
# the first 16-bit word of every address it carries and takes d from the second (IPv4: its
# two words; IPv6: the last two), in ones' complement arithmetic.  Each address's ones'
# complement sum stays what it was, and with it every checksum that covers it (the IPv4
# header's, the TCP and UDP pseudo-headers', ICMPv6's) — a right checksum stays right, a
# wrong one stays wrong by the same amount (RFC 1624's incremental update, with a zero net
# change).  The addresses inside the packet an ICMP error quotes change the same way (the
# ICMP checksum covers them).  Timestamps are shifted so that the batch's time runs forward.
# Each file's clock is shifted to start a second after the previous one ends (the gaps inside
# it are kept to the microsecond).  A finding's frame is mapped back to its file and frame;
# tshark messages that print an address show the shifted one.

_MAX_BATCH: Final = 255  # IPv4's first word grows by at most 255: 10.0.x.x stays 10.x.x.x
_PCAP_HEADER: Final = struct.Struct("<IHHiIII")
_RECORD: Final = struct.Struct("<IIII")
_MAGIC_LE: Final = 0xA1B2C3D4
_ICMP_ERRORS: Final = frozenset({3, 4, 5, 11, 12})


def _shift_word_pair(buf: memoryview, offset: int, d: int) -> None:
    """Add ``d`` to the 16-bit word at ``offset`` and take it from the next one, in ones'
    complement arithmetic (modulo 0xffff): the pair's ones' complement sum is unchanged."""
    a = (buf[offset] << 8 | buf[offset + 1]) + d
    if a > 0xFFFF:
        a -= 0xFFFF
    b = (buf[offset + 2] << 8 | buf[offset + 3]) - d
    if b < 0:
        b += 0xFFFF
    buf[offset : offset + 4] = bytes((a >> 8, a & 0xFF, b >> 8, b & 0xFF))


def shift_addresses(packet: memoryview, d: int, *, quoted: bool = False) -> None:
    """Give ``packet`` (an IPv4 or IPv6 packet, changed in place) the addresses of batch
    member ``d`` without changing any checksum (see the comment above); the packet an ICMP
    or ICMPv6 error quotes is changed too.  Anything too short to parse is left alone."""
    n = len(packet)
    if n < 20:
        return
    version = packet[0] >> 4
    if version == 4:
        ihl = (packet[0] & 0x0F) * 4
        _shift_word_pair(packet, 12, d)
        _shift_word_pair(packet, 16, d)
        first = not (packet[6] & 0x1F or packet[7])
        if (
            not quoted
            and first
            and packet[9] == 1
            and n >= ihl + 8 + 20
            and packet[ihl] in _ICMP_ERRORS
        ):
            shift_addresses(packet[ihl + 8 :], d, quoted=True)
    elif version == 6 and n >= 40:
        _shift_word_pair(packet, 20, d)
        _shift_word_pair(packet, 36, d)
        nexthdr, off = packet[6], 40
        while nexthdr in (0, 43, 44, 60) and off + 8 <= n:
            if nexthdr == 44:
                if (packet[off + 2] << 8 | packet[off + 3]) & 0xFFF8:
                    return  # a later fragment: no ICMPv6 header here
                nexthdr, off = packet[off], off + 8
            else:
                nexthdr, off = packet[off], off + (packet[off + 1] + 1) * 8
        if not quoted and nexthdr == 58 and off + 8 + 40 <= n and 1 <= packet[off] <= 4:
            shift_addresses(packet[off + 8 :], d, quoted=True)


class _Batch:
    """Several netsim captures concatenated into one pcap file for one tshark run."""

    def __init__(self) -> None:
        self.paths: list[Path] = []
        self.starts: list[int] = []  # the batch's frame number of each file's frame 1
        self.frames = 0
        self.size = 0

    def add(self, path: Path, size: int) -> None:
        self.paths.append(path)
        self.size += size

    def write(self, out: Path) -> None:
        """Write the batch to ``out`` (a file that is not a netsim capture: ValueError)."""
        # microseconds, integers, so the gaps within a file stay exact; the first file starts
        # at 1 s, not 0: Wireshark takes a SYN at time 0 for no SYN time at all (its first-RTT
        # estimate, which decides "out of order" against "retransmission", stays unset)
        clock = 1_000_000
        most = 0
        with out.open("wb") as dst:
            dst.write(bytes(_PCAP_HEADER.size))  # written at the end, with the largest snaplen
            for d, path in enumerate(self.paths, 1):
                data = path.read_bytes()
                if len(data) < _PCAP_HEADER.size:
                    raise ValueError(f"{path}: too short for a pcap file")
                magic, major, minor, _zone, _sig, snaplen, linktype = _PCAP_HEADER.unpack_from(data)
                if (magic, major, minor, linktype) != (_MAGIC_LE, 2, 4, LINKTYPE_RAW):
                    raise ValueError(f"{path}: not a netsim capture (little-endian, LINKTYPE_RAW)")
                most = max(most, snaplen)
                self.starts.append(self.frames + 1)
                buf = bytearray(data)
                view = memoryview(buf)
                pos = _PCAP_HEADER.size
                base: int | None = None
                last = clock
                while pos + _RECORD.size <= len(buf):
                    sec, usec, incl, orig = _RECORD.unpack_from(buf, pos)
                    body = pos + _RECORD.size
                    if body + incl > len(buf):
                        raise ValueError(f"{path}: the record at byte {pos} is cut short")
                    t = sec * 1_000_000 + usec
                    if base is None:
                        base = t
                    last = clock + t - base
                    _RECORD.pack_into(buf, pos, *divmod(last, 1_000_000), incl, orig)
                    shift_addresses(view[body : body + incl], d)
                    self.frames += 1
                    pos = body + incl
                if pos != len(buf):
                    raise ValueError(f"{path}: {len(buf) - pos} stray bytes at its end")
                view.release()
                dst.write(buf[_PCAP_HEADER.size :])
                clock = last + 1_000_000
            dst.seek(0)
            snaplen = most or MAXIMUM_SNAPLEN
            dst.write(_PCAP_HEADER.pack(_MAGIC_LE, 2, 4, 0, 0, snaplen, LINKTYPE_RAW))

    def locate(self, frame: int) -> tuple[Path, int]:
        """The file and its own frame number of the batch's ``frame``."""
        i = bisect.bisect_right(self.starts, frame) - 1
        return self.paths[i], frame - self.starts[i] + 1


def _plan_batches(paths: Sequence[Path], jobs: int) -> list[_Batch]:
    """Cut ``paths`` into batches of at most :data:`_MAX_BATCH` files, enough of them and
    of even enough size that ``jobs`` tshark processes share the work."""
    sizes = [p.stat().st_size for p in paths]
    total = sum(sizes)
    target = max(total // (4 * jobs), 1 << 20)
    target = min(target, 64 << 20)
    batches: list[_Batch] = []
    current = _Batch()
    for path, size in zip(paths, sizes, strict=True):
        if current.paths and (len(current.paths) >= _MAX_BATCH or current.size + size > target):
            batches.append(current)
            current = _Batch()
        current.add(path, size)
    if current.paths:
        batches.append(current)
    return batches


def check_pcaps(
    paths: Sequence[str | os.PathLike[str]],
    *,
    tshark: str | None = None,
    jobs: int | None = None,
    timeout: float = 600.0,
    batch: bool = True,
) -> dict[Path, list[Finding] | BaseException]:
    """:func:`check_pcap` on each of ``paths``, ``jobs`` tshark processes at a time (default:
    the CPUs this process may use); each path maps to its findings, or to the exception
    that kept tshark from reading it.  With ``batch`` (the default) netsim's captures are
    read many to a tshark run, each with addresses of its own (see the comment above
    ``_Batch``): what Wireshark finds is what it finds in each file alone, in a fraction of
    the time.  A batch tshark cannot read is read again file by file."""
    tshark = tshark or find_tshark()
    if tshark is None:
        raise FileNotFoundError("tshark not found (apt-get install tshark)")
    if jobs is None:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    jobs = max(1, jobs)
    files = [Path(p) for p in paths]
    results: dict[Path, list[Finding] | BaseException] = {}

    with tshark_profile(tshark) as env, _scratch_dir() as scratch:

        def one(path: Path) -> None:
            try:
                results[path] = check_pcap(path, tshark=tshark, timeout=timeout, env=env)
            except (OSError, subprocess.SubprocessError, TsharkError, ValueError) as exc:
                results[path] = exc

        def many(n: int, group: _Batch) -> None:
            merged = scratch / f"batch{n}.pcap"
            try:
                group.write(merged)
                found = check_pcap(merged, tshark=tshark, timeout=timeout, env=env)
            except (OSError, subprocess.SubprocessError, TsharkError, ValueError):
                for path in group.paths:
                    one(path)
                return
            finally:
                with contextlib.suppress(OSError):
                    merged.unlink()
            per_file: dict[Path, list[Finding]] = {path: [] for path in group.paths}
            for finding in found:
                path, frame = group.locate(finding.frame)
                per_file[path].append(dataclasses.replace(finding, path=path, frame=frame))
            results.update(per_file)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            if batch:
                work = [pool.submit(many, n, g) for n, g in enumerate(_plan_batches(files, jobs))]
            else:
                work = [pool.submit(one, path) for path in files]
            for future in work:
                future.result()
    return {path: results[path] for path in files}


@contextmanager
def _scratch_dir() -> Iterator[Path]:
    """A scratch directory, removed at the end of the block."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="netsim-captures-") as name:
        yield Path(name)


def explained(
    finding: Finding, capture: CaptureFile, findings: Sequence[Finding] = ()
) -> str | None:
    """Why ``finding`` in ``capture`` (whose findings are ``findings``) is what Linux does and
    no fault of netsim's, or ``None``:

    * a flow-control flag (:data:`FLOW_CONTROL`);
    * a keep-alive (and its ACK) in a capture that shows a zero window: Linux probes a zero
      window with no data at ``snd_una - 1`` (``tcp_xmit_probe_skb``), which is what Wireshark
      takes for a keep-alive;
    * ``tcp.checksum.ffff``: a TCP checksum of 0xffff where 0x0000 would do — Linux's
      ``skb_checksum_help`` writes ``CSUM_MANGLED_0`` (0xffff) for a sum of zero whatever the
      protocol, and so do netsim's software checksum and a capture's completion of a
      ``CHECKSUM_PARTIAL`` one; it verifies either way (a Warning in Wireshark, not "Bad");
    * a bad TCP or UDP checksum in the packet an ICMP error quotes, on loopback — the error
      quotes the packet as it was received, and on loopback that is the ``CHECKSUM_PARTIAL``
      skb whose checksum field holds only the pseudo-header sum (``icmp_send`` copies it as it
      is; a capture completes the checksum of the packet itself, not of the copy inside the
      error)."""
    kind = finding.kind
    if kind in FLOW_CONTROL:
        return "flow control"
    if kind in ("tcp.analysis.keep_alive", "tcp.analysis.keep_alive_ack") and any(
        f.kind == "tcp.analysis.zero_window" for f in findings
    ):
        return "a zero-window probe (snd_una - 1, no data), which Wireshark calls a keep-alive"
    if kind == "tcp.checksum.ffff":
        return "CSUM_MANGLED_0, as Linux's skb_checksum_help writes it"
    if finding.quoted and finding.group == "Checksum" and capture.dev_kind == "loopback":
        return "an ICMP error on loopback quotes a CHECKSUM_PARTIAL packet"
    return None


def fault_allowances(faults: Iterable[str]) -> tuple[str, ...]:
    """The kinds (patterns) ``faults`` explain: any lost, late, doubled or reordered frame
    explains :data:`LOSS_EXPLAINS`; corruption explains anything in the receiver's
    capture."""
    out: list[str] = []
    for fault in sorted(set(faults)):
        for pattern in _FAULT_ALLOWS.get(fault, ()):
            if pattern not in out:
                out.append(pattern)
    return tuple(out)


def allowed(finding: Finding, patterns: Iterable[str]) -> str | None:
    """The first of ``patterns`` that allows ``finding``, or ``None``.  A pattern is matched
    (``fnmatch``) against the finding's kind (``"tcp.analysis.*"``,
    ``"tcp.analysis.zero_window"``) or, written ``group:NAME``, against its expert group
    (``"group:Checksum"``, ``"group:Malformed"``)."""
    for pattern in patterns:
        if pattern.startswith("group:"):
            if finding.group.lower() == pattern[6:].lower():
                return pattern
        elif fnmatch.fnmatchcase(finding.kind, pattern):
            return pattern
    return None


def judge(
    findings: Sequence[Finding], capture: CaptureFile, patterns: Sequence[str]
) -> list[tuple[Finding, str | None]]:
    """Each of ``findings`` (one capture's) with the reason it is allowed — an explanation
    (:func:`explained`) or the pattern that allows it (:func:`allowed`) — or ``None``: a
    problem."""
    out: list[tuple[Finding, str | None]] = []
    for finding in findings:
        why = explained(finding, capture, findings)
        if why is None:
            pattern = allowed(finding, patterns)
            why = None if pattern is None else f"allowed: {pattern}"
        out.append((finding, why))
    return out
