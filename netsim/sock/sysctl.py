"""A host's sysctls: the ``/proc/sys/net`` tree of one netsim host, under Linux's names.

Model
-----
A Linux network namespace carries its networking knobs as sysctls, read and written through
``/proc/sys/net/...`` or ``sysctl(8)``.  A netsim host owns one :class:`Sysctl`, a
``MutableMapping`` from the dotted name ``sysctl(8)`` prints (``net.core.max_skb_frags``,
``net.ipv4.tcp_wmem``) to its value: an ``int``, a ``tuple`` of ints for the vectors
(``tcp_wmem`` is ``(min, default, max)``), or a ``str`` for the string sysctls — the
congestion control ones: ``tcp_congestion_control`` (the default for new sockets, ``cubic``),
``tcp_available_congestion_control`` (read only: every registered algorithm, ``reno cubic``)
and ``tcp_allowed_congestion_control`` (``reno cubic``).

A netsim host is a whole machine, so it behaves like the *initial* namespace: the sysctls that
Linux keeps global (``net.core.wmem_max``, ``max_skb_frags``, ``tcp_mem``, ``udp_mem``,
``high_order_alloc_disable``, ``netdev_max_backlog``) are per host here and writable, where a
child namespace would see them read-only or shared.

Defaults are Linux 6.18's for x86-64 (4 KiB pages, ``CONFIG_HZ=1000``).  A few depend on the
kernel configuration or on memory, and take constructor arguments:

* ``max_skb_frags`` is ``CONFIG_MAX_SKB_FRAGS`` (17, Kconfig range 17..45).  It is the default
  *and* the maximum of ``net.core.max_skb_frags``, and it sizes ``struct skb_shared_info``, so it
  also moves ``net.core.wmem_default`` / ``rmem_default``: ``SK_WMEM_DEFAULT`` is
  ``256 * SKB_TRUESIZE(256)`` (``include/net/sock.h``), 212992 with 17 frags, 327680 with 45.
* ``nr_free_buffer_pages`` stands for ``nr_free_buffer_pages()`` at boot, in 4 KiB pages.  The
  default, :data:`DEFAULT_NR_FREE_BUFFER_PAGES`, is a 24 GiB machine counted as exactly
  ``24 GiB >> PAGE_SHIFT`` = 6291456 pages (a real machine reports a few percent less: memory the
  firmware and kernel keep, and the zones' high watermarks).  From it, as ``tcp_init()``,
  ``tcp_init_mem()`` and ``udp_init()`` do: ``tcp_mem`` = 3/4, 1, 3/2 of ``pages / 16``
  (294912 393216 589824); ``udp_mem`` the same of ``pages / 8`` (589824 786432 1179648);
  ``tcp_wmem[2]`` = ``max(64 KiB, min(4 MiB, pages << 5))`` = 4 MiB; ``tcp_rmem[2]`` =
  ``max(128 KiB, min(32 MiB, pages << 5))`` = 32 MiB; and ``tcp_max_syn_backlog`` =
  ``max(128, ehash_entries / 128)`` = 2048, with the TCP established hash sized by
  ``alloc_large_system_hash()`` (one bucket per 128 KiB, rounded up to a power of two, at most
  512 Ki buckets: 262144).  netsim uses the same page count where the kernel uses
  ``nr_kernel_pages`` for the hash.

How values reach the cores
--------------------------
:attr:`Sysctl.data` is the live ``dict`` behind the mapping (named as ``UserDict.data``, since
``values`` is ``Mapping.values()``).  Hot paths read it directly: ``data["net.core.max_skb_frags"]``
is one dict lookup, and binding ``data`` once is fine, since the dict is never replaced.  This is
the kernel's ``READ_ONCE()`` of a namespace field at the point of use: a write takes effect at
the next read, and sockets that copied a value at creation (``sk_sndbuf`` from ``tcp_wmem[1]``)
keep their copy.  **Writes must go through** ``sysctl[name] = value``, which validates, stores,
then calls the host's ``on_change(name, value)`` (on every successful write, changed or not), so
the host can propagate what is not read on the fly (``high_order_alloc_disable`` flips the page
allocator's static key).

Validation
----------
Each sysctl carries the rule of its kernel handler (``kernel/sysctl.c``):

* ``proc_dointvec``: any C ``int`` (-2**31 .. 2**31-1), no other check.
* ``proc_dointvec_minmax``: a C ``int`` within ``extra1``..``extra2`` (absent = the ``int``
  limit); for vectors the same limits apply to every element.
* ``proc_dou8vec_minmax``: 0..255 unless ``extra1``/``extra2`` narrow it; no sign allowed.
* ``proc_douintvec`` / ``proc_douintvec_minmax``: 0..2**32-1, optionally narrowed.
* ``proc_doulongvec_minmax``: 0..2**64-1 per element, optionally narrowed.
* ``proc_dointvec_jiffies``: seconds, at most ``INT_MAX / HZ`` in magnitude (negative allowed).
* ``proc_do_static_key``: 0 or 1.
* Custom handlers add cross-checks: ``ip_local_port_range`` needs ``low <= high`` and
  ``low >= ip_unprivileged_port_start`` (and the reverse check on the latter); the frag
  thresholds need ``low_thresh <= high_thresh``; ``tcp_reordering`` is capped by the current
  ``tcp_max_reordering``.
* String sysctls (``proc_dostring`` under a custom handler, net/ipv4/sysctl_net_ipv4.c): the
  text up to a NUL or newline, at most ``maxlen - 1`` characters (the rest is cut off), then
  the handler.  ``tcp_congestion_control`` takes the name of a registered algorithm
  (``tcp_set_default_congestion_control``: ``OSError(ENOENT)`` otherwise), which also becomes
  allowed; ``tcp_allowed_congestion_control`` takes space-separated names, up to the first
  empty one (``strsep``), every one registered (``ENOENT`` otherwise), and reads back in
  registration order; ``tcp_available_congestion_control`` is read only (mode 0444:
  ``OSError(EACCES)`` even for root) and always lists what is registered now.  An empty
  string writes nothing (a write of 0 bytes); anything but a ``str`` is ``EINVAL``.

A value that fails raises ``OSError(EINVAL)`` (from :func:`netsim.errors.kernel_error`), as the
``write(2)`` would, and the old value stays.  An unknown name raises ``KeyError`` with close
names; ``del`` raises ``TypeError``.

A ``str`` is parsed as a write to the ``/proc`` file is (``sysctl -w name="4096 16384 4194304"``):
integers separated by whitespace, in C notation (``0x10`` hex, ``010`` octal), a ``-`` sign only
for signed handlers.  Python values are exact: an ``int`` for a scalar, a ``tuple`` or ``list``
of the full length for a vector.

Where netsim differs
--------------------
* Writes are atomic.  The kernel stores a vector element by element, so ``"4096 0 1"`` into
  ``tcp_wmem`` fails with EINVAL *after* storing 4096; netsim keeps the whole old value.
* Extra values are refused.  The kernel silently ignores values past the vector's length (and
  a second value written to a scalar); netsim raises EINVAL.
* As in the kernel, a string with fewer values than the vector updates only the leading
  elements (``"8192"`` into ``tcp_wmem`` changes ``tcp_wmem[0]``).
* ``ip_local_port_range`` with ``low`` and ``high`` of the same parity is accepted; the kernel
  also accepts it and logs a one-time preference for different parity, which netsim omits.
* ``CAP_SYS_ADMIN`` / ``CAP_NET_ADMIN`` checks are not modelled.
* The allowed congestion controls are a flag on each algorithm in Linux, shared by every
  namespace; netsim keeps the list per host.

Accepted but not acted upon
---------------------------
Every sysctl in the table is either read where the kernel reads it, or listed in
:data:`NOT_MODELLED` with the reason: it is stored, validated and read back as Linux would,
but the behaviour it governs is not emulated (MTU probing, pacing, SYN cookies, IP
reassembly limits, ...).  :meth:`Sysctl.describe` says so for each of them.
"""

from __future__ import annotations

import difflib
import errno
import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from types import MappingProxyType
from typing import Final, TypeAlias

import attrs
from mypy_extensions import mypyc_attr

from netsim.errors import kernel_error
from netsim.mm import PAGE_SHIFT, PAGE_SIZE
from netsim.skb import SIZEOF_SK_BUFF, SKB_DATA_ALIGN, skb_layout_for
from netsim.stats.counters import MAX_SKB_FRAGS_LIMIT  # CONFIG_MAX_SKB_FRAGS's Kconfig maximum

__all__ = [
    "DEFAULT_NR_FREE_BUFFER_PAGES",
    "HZ",
    "MAX_SKB_FRAGS_LIMIT",
    "SOCK_MIN_RCVBUF",
    "SOCK_MIN_SNDBUF",
    "TCP_CA_NAMES",
    "Sysctl",
    "SysctlCheck",
    "SysctlInput",
    "SysctlSpec",
    "SysctlStringHandler",
    "SysctlValue",
    "NOT_MODELLED",
]

#: Sysctls stored and validated but not acted upon: the name, and what netsim does instead.
NOT_MODELLED: Final[dict[str, str]] = {
    "net.core.netdev_max_backlog": "the softirq backlog is unbounded (no netdev budget drops)",
    "net.core.optmem_max": "no ancillary-data or socket-filter memory is charged",
    "net.ipv4.ip_no_pmtu_disc": "sockets start with IP_PMTUDISC_WANT whatever it says",
    "net.ipv4.ip_unprivileged_port_start": "netsim runs as root: every port may be bound",
    "net.ipv4.ipfrag_high_thresh": "IPv4 reassembly memory is not limited",
    "net.ipv4.ipfrag_low_thresh": "IPv4 reassembly memory is not limited",
    "net.ipv4.ipfrag_max_dist": "reassembly does not judge fragment disorder",
    "net.ipv6.ip6frag_high_thresh": "IPv6 reassembly memory is not limited",
    "net.ipv6.ip6frag_low_thresh": "IPv6 reassembly memory is not limited",
    "net.ipv4.tcp_adv_win_scale": "the window comes from the scaling ratio (6.18's default)",
    "net.ipv4.tcp_app_win": "no window share is reserved for the application",
    "net.ipv4.tcp_base_mss": "no MTU probing",
    "net.ipv4.tcp_mtu_probing": "no MTU probing (PLPMTUD)",
    "net.ipv4.tcp_mtu_probe_floor": "no MTU probing",
    "net.ipv4.tcp_probe_interval": "no MTU probing",
    "net.ipv4.tcp_probe_threshold": "no MTU probing",
    "net.ipv4.tcp_comp_sack_nr": "SACKs are not compressed: every out-of-order segment is "
    "answered at once",
    "net.ipv4.tcp_max_syn_backlog": "a listener's SYN queue is bounded by its backlog only",
    "net.ipv4.tcp_syncookies": "no SYN cookies",
    "net.ipv4.tcp_synack_retries": "a SYN-ACK is not retransmitted by a timer",
    "net.ipv4.tcp_min_rtt_wlen": "min RTT is the least sample of the connection, not windowed",
    "net.ipv4.tcp_pacing_ca_ratio": "no pacing (tcp_info reports an unlimited rate)",
    "net.ipv4.tcp_pacing_ss_ratio": "no pacing (tcp_info reports an unlimited rate)",
    "net.ipv4.tcp_retrans_collapse": "retransmissions are not merged with following skbs",
    "net.ipv4.tcp_retries1": "there is no route to recheck (no dst negative advice)",
    "net.ipv4.tcp_tso_win_divisor": "TSO deferral (tcp_tso_should_defer) is not modelled",
    "net.ipv4.udp_mem": "UDP memory is not accounted against a protocol limit",
    "net.ipv4.udp_rmem_min": "UDP memory is not accounted against a protocol limit",
    "net.ipv4.udp_wmem_min": "UDP memory is not accounted against a protocol limit",
}

#: What a sysctl holds: an ``int``, a tuple of ints for a vector such as ``tcp_wmem``, or a
#: ``str`` for a string sysctl such as ``tcp_congestion_control``.
SysctlValue: TypeAlias = int | tuple[int, ...] | str
#: What ``sysctl[name] = ...`` accepts: a value, a list for a vector, or a ``sysctl -w`` string.
SysctlInput: TypeAlias = int | str | tuple[int, ...] | list[int]
#: A cross-sysctl check: ``(new value, current values) -> None`` if fine, else what is wrong.
SysctlCheck: TypeAlias = Callable[[SysctlValue, Mapping[str, SysctlValue]], str | None]
#: A string sysctl's handler: ``(text, current values) -> {name: value}``, what to store (the
#: sysctl itself and any other whose reading it changes), or an ``OSError``.
SysctlStringHandler: TypeAlias = Callable[[str, Mapping[str, SysctlValue]], dict[str, SysctlValue]]

#: ``CONFIG_HZ`` assumed for the jiffies-based limits (``CONFIG_HZ_1000``, as Fedora builds x86-64).
HZ: Final = 1000
_MAX_SKB_FRAGS_DEFAULT: Final = 17

INT_MIN: Final = -(2**31)
INT_MAX: Final = 2**31 - 1
UINT_MAX: Final = 2**32 - 1
ULONG_MAX: Final = 2**64 - 1
U8_MAX: Final = 255

#: ``TCP_SKB_MIN_TRUESIZE`` (include/net/sock.h): 2048 + ``SKB_DATA_ALIGN(sizeof(struct sk_buff))``.
_TCP_SKB_MIN_TRUESIZE: Final = 2048 + SKB_DATA_ALIGN(SIZEOF_SK_BUFF)
#: Smallest ``sk_sndbuf`` (and floor of ``wmem_default`` / ``wmem_max``): 4608 on x86-64.
SOCK_MIN_SNDBUF: Final = 2 * _TCP_SKB_MIN_TRUESIZE
#: Smallest ``sk_rcvbuf`` (and floor of ``rmem_default`` / ``rmem_max``): 2304 on x86-64.
SOCK_MIN_RCVBUF: Final = _TCP_SKB_MIN_TRUESIZE

#: A 24 GiB machine, in pages, standing for ``nr_free_buffer_pages()`` (see the module docstring).
DEFAULT_NR_FREE_BUFFER_PAGES: Final = (24 << 30) >> PAGE_SHIFT

# struct inet_ehash_bucket is one hlist_nulls_head: a pointer.
_EHASH_BUCKET_SIZE: Final = 8

_CORE: Final = "net/core/sysctl_net_core.c"
_IPV4: Final = "net/ipv4/sysctl_net_ipv4.c"
_IPFRAG: Final = "net/ipv4/ip_fragment.c"
_IP6FRAG: Final = "net/ipv6/reassembly.c"
_ADDRCONF: Final = "net/ipv6/addrconf.c"
_SYSCTL6: Final = "net/ipv6/sysctl_net_ipv6.c"
_TCP_SK_INIT: Final = "net/ipv4/tcp_ipv4.c tcp_sk_init()"


@mypyc_attr(native_class=False)  # attrs builds it: a Python class
@attrs.frozen
class SysctlSpec:
    """One sysctl: its default, its limits and where the kernel defines it.

    ``min``/``max`` bound every element (a vector's too); ``length`` is ``None`` for a scalar,
    the element count for a vector.  ``check`` adds what a custom kernel handler tests across
    sysctls.  ``source`` is the file with the ``ctl_table`` entry, ``default_from`` where the
    default is set.

    A string sysctl has a ``maxlen`` (the ``ctl_table``'s buffer, with its NUL; 0 for the
    numeric ones), ``store`` (its handler: what a write stores, see
    :data:`SysctlStringHandler`; None stores the text as it is), ``read`` (a value computed
    at each read, for one that shows kernel state) and ``writable`` (False for mode 0444).
    """

    name: str
    default: SysctlValue
    min: int
    max: int
    handler: str
    doc: str
    source: str
    default_from: str
    unit: str = ""
    length: int | None = None
    check: SysctlCheck | None = attrs.field(default=None, eq=False, repr=False)
    maxlen: int = 0
    writable: bool = True
    store: SysctlStringHandler | None = attrs.field(default=None, eq=False, repr=False)
    read: Callable[[], str] | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def signed(self) -> bool:
        """Whether a written string may carry a ``-`` sign (the ``proc_dou*`` handlers refuse
        one, even on ``-0``)."""
        return not self.handler.startswith("proc_dou")


_LIMIT_NAMES: Final = {
    INT_MIN: "INT_MIN",
    INT_MAX: "INT_MAX",
    UINT_MAX: "UINT_MAX",
    ULONG_MAX: "ULONG_MAX",
}


def _format(value: SysctlValue) -> str:
    """``value`` as ``sysctl(8)`` prints it (vector elements separated by a space)."""
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


# --------------------------------------------------------------------------- table helpers


def _int(
    name: str,
    default: int,
    doc: str,
    *,
    lo: int = INT_MIN,
    hi: int = INT_MAX,
    minmax: bool = True,
    source: str = _IPV4,
    default_from: str = _TCP_SK_INIT,
    unit: str = "",
    check: SysctlCheck | None = None,
) -> SysctlSpec:
    """A C ``int``: ``proc_dointvec_minmax``, or plain ``proc_dointvec`` (any ``int``)."""
    handler = "proc_dointvec_minmax" if minmax else "proc_dointvec"
    return SysctlSpec(name, default, lo, hi, handler, doc, source, default_from, unit, None, check)


def _u8(
    name: str,
    default: int,
    doc: str,
    *,
    lo: int = 0,
    hi: int = U8_MAX,
    default_from: str = _TCP_SK_INIT,
    unit: str = "",
) -> SysctlSpec:
    """A ``u8``: ``proc_dou8vec_minmax`` (0..255 unless ``extra1``/``extra2`` narrow it)."""
    return SysctlSpec(name, default, lo, hi, "proc_dou8vec_minmax", doc, _IPV4, default_from, unit)


def _jiffies(
    name: str, default: int, doc: str, *, source: str = _IPV4, default_from: str = _TCP_SK_INIT
) -> SysctlSpec:
    """Seconds stored as jiffies: ``proc_dointvec_jiffies`` (``|value| <= INT_MAX / HZ``)."""
    bound = INT_MAX // HZ
    return SysctlSpec(
        name, default, -bound, bound, "proc_dointvec_jiffies", doc, source, default_from, " s"
    )


def _ulong(
    name: str,
    default: SysctlValue,
    doc: str,
    *,
    source: str,
    default_from: str,
    unit: str,
    check: SysctlCheck | None = None,
) -> SysctlSpec:
    """``unsigned long`` (or a vector of them): ``proc_doulongvec_minmax``."""
    length = len(default) if isinstance(default, tuple) else None
    return SysctlSpec(
        name,
        default,
        0,
        ULONG_MAX,
        "proc_doulongvec_minmax",
        doc,
        source,
        default_from,
        unit,
        length,
        check,
    )


def _int_vector(
    name: str, default: tuple[int, ...], doc: str, *, lo: int, hi: int = INT_MAX, unit: str = ""
) -> SysctlSpec:
    """A vector of C ``int`` under ``proc_dointvec_minmax``."""
    return SysctlSpec(
        name,
        default,
        lo,
        hi,
        "proc_dointvec_minmax",
        doc,
        _IPV4,
        "net/ipv4/tcp.c tcp_init()",
        unit,
        len(default),
    )


def _scalar(value: SysctlValue) -> int:
    if isinstance(value, tuple):
        return value[0]
    assert not isinstance(value, str)
    return value


def _not_above(other: str) -> SysctlCheck:
    """The value may not exceed the current value of ``other`` (an ``extra2`` that points at
    another sysctl's data)."""

    def check(value: SysctlValue, values: Mapping[str, SysctlValue]) -> str | None:
        limit = _scalar(values[other])
        if _scalar(value) > limit:
            return f"above {other} ({limit})"
        return None

    return check


def _not_below(other: str) -> SysctlCheck:
    """The value may not be below the current value of ``other`` (an ``extra1`` that points at
    another sysctl's data)."""

    def check(value: SysctlValue, values: Mapping[str, SysctlValue]) -> str | None:
        limit = _scalar(values[other])
        if _scalar(value) < limit:
            return f"below {other} ({limit})"
        return None

    return check


_PORT_RANGE: Final = "net.ipv4.ip_local_port_range"
_UNPRIV_PORT: Final = "net.ipv4.ip_unprivileged_port_start"


def _check_port_range(value: SysctlValue, values: Mapping[str, SysctlValue]) -> str | None:
    """``ipv4_local_port_range()``: ``low <= high``, and ``low`` clear of the privileged ports."""
    assert isinstance(value, tuple)
    low, high = value
    if high < low:
        return f"high end {high} below low end {low}"
    start = _scalar(values[_UNPRIV_PORT])
    if low < start:
        return f"low end {low} below {_UNPRIV_PORT} ({start})"
    return None


def _check_unprivileged_port_start(
    value: SysctlValue, values: Mapping[str, SysctlValue]
) -> str | None:
    """``ipv4_privileged_ports()``: the privileged range may not reach the local port range."""
    low = _scalar(values[_PORT_RANGE])
    if _scalar(value) > low:
        return f"above the low end of {_PORT_RANGE} ({low})"
    return None


def _tcp_ehash_entries(pages: int) -> int:
    """Buckets ``alloc_large_system_hash("TCP established", ...)`` gives a machine of ``pages``
    pages with no ``thash_entries=`` (mm/mm_init.c, net/ipv4/tcp.c ``tcp_init()``)."""
    per_mib = (1 << 20) // PAGE_SIZE
    entries = -(-pages // per_mib) * per_mib  # round up to a whole MiB
    entries >>= 17 - PAGE_SHIFT  # one bucket per 128 KiB
    entries = max(entries, PAGE_SIZE // _EHASH_BUCKET_SIZE)  # at least one page of buckets
    entries = 1 << (entries - 1).bit_length()  # roundup_pow_of_two
    return min(entries, 512 * 1024)  # the high_limit tcp_init() passes


def _mem_triple(pages: int, divisor: int) -> tuple[int, int, int]:
    """``tcp_init_mem()`` / ``udp_init()``: pressure thresholds from ``pages / divisor``."""
    limit = max(pages // divisor, 128)
    low = limit // 4 * 3
    return (low, limit, low * 2)


# --------------------------------------------------------------------------- congestion control

_CONG: Final = "net.ipv4.tcp_congestion_control"
_CONG_ALLOWED: Final = "net.ipv4.tcp_allowed_congestion_control"
_TCP_CONG: Final = "net/ipv4/tcp_cong.c"
#: ``TCP_CA_NAME_MAX`` and ``TCP_CA_BUF_MAX`` (include/net/tcp.h): the handlers' buffers
_TCP_CA_NAME_MAX: Final = 16
_TCP_CA_BUF_MAX: Final = 16 * 128


#: ``tcp_cong_list`` as these sysctls see it: the registered congestion controls' names, in
#: registration order, kept by ``netsim.tcp.cong`` as it registers them (this layer does not
#: import TCP: as ``inet_protos``, the upper layer fills it in when it is imported)
TCP_CA_NAMES: Final[list[str]] = []


def _registered() -> list[str]:
    """The registered congestion controls, in registration order."""
    return TCP_CA_NAMES


def _available_congestion_control() -> str:
    """``tcp_get_available_congestion_control()`` (net/ipv4/tcp_cong.c)."""
    return " ".join(TCP_CA_NAMES)


def _set_default_congestion_control(
    text: str, values: Mapping[str, SysctlValue]
) -> dict[str, SysctlValue]:
    """``proc_tcp_congestion_control()`` → ``tcp_set_default_congestion_control()``
    (net/ipv4/tcp_cong.c): a registered name (``ENOENT`` otherwise), which becomes allowed
    (``TCP_CONG_NON_RESTRICTED``)."""
    registered = _registered()
    if text not in registered:
        raise kernel_error(errno.ENOENT, f"{_CONG}: no congestion control {text!r}")
    allowed = str(values[_CONG_ALLOWED]).split(" ")
    allowed_now = " ".join(n for n in registered if n in allowed or n == text)
    return {_CONG: text, _CONG_ALLOWED: allowed_now}


def _set_allowed_congestion_control(
    text: str, values: Mapping[str, SysctlValue]
) -> dict[str, SysctlValue]:
    """``proc_allowed_congestion_control()`` → ``tcp_set_allowed_congestion_control()``
    (net/ipv4/tcp_cong.c): names separated by single spaces, read up to the first empty one
    (``strsep``); all registered (``ENOENT`` otherwise, nothing changed); they replace the
    allowed ones, listed back in registration order."""
    names: list[str] = []
    for name in text.split(" "):
        if not name:
            break
        names.append(name)
    registered = _registered()
    for name in names:
        if name not in registered:
            raise kernel_error(errno.ENOENT, f"{_CONG_ALLOWED}: no congestion control {name!r}")
    return {_CONG_ALLOWED: " ".join(n for n in registered if n in names)}


def _string(
    name: str,
    default: str,
    doc: str,
    handler: str,
    maxlen: int,
    *,
    store: SysctlStringHandler | None = None,
    read: Callable[[], str] | None = None,
    writable: bool = True,
    default_from: str = _TCP_CONG,
) -> SysctlSpec:
    """A string sysctl: ``proc_dostring`` under ``handler``."""
    return SysctlSpec(
        name,
        default,
        0,
        0,
        handler,
        doc,
        _IPV4,
        default_from,
        maxlen=maxlen,
        writable=writable,
        store=store,
        read=read,
    )


def _proc_dostring(text: str, maxlen: int) -> str:
    """What ``_proc_do_string()`` (kernel/sysctl.c) keeps of a write: up to the first NUL or
    newline, at most ``maxlen - 1`` characters."""
    for stop in ("\0", "\n"):
        cut = text.find(stop)
        if cut >= 0:
            text = text[:cut]
    return text[: maxlen - 1]


# --------------------------------------------------------------------------- the table


def _build_table(max_skb_frags: int, pages: int) -> list[SysctlSpec]:
    """Every modelled sysctl, with Linux 6.18's x86-64 defaults for this configuration."""
    # SK_WMEM_DEFAULT / SK_RMEM_DEFAULT
    sk_mem_default = 256 * skb_layout_for(max_skb_frags).truesize(256)
    share = pages << (PAGE_SHIFT - 7)  # 1/128 of free memory, in bytes
    wmem_max = max(64 * 1024, min(4 << 20, share))
    rmem_max = max(131072, min(32 << 20, share))
    syn_backlog = max(128, _tcp_ehash_entries(pages) // 128)
    tcp_init = "net/ipv4/tcp.c tcp_init()"
    sock_c = "net/core/sock.c"
    return [
        # ---------------------------------------------------------------- net.core
        _int(
            "net.core.max_skb_frags",
            max_skb_frags,
            "runtime cap on frags per skb for TCP's copy and splice paths "
            "(ip_append_data and TLS use the compile-time MAX_SKB_FRAGS)",
            lo=1,
            hi=max_skb_frags,
            source=_CORE,
            default_from="net/core/hotdata.c (MAX_SKB_FRAGS)",
        ),
        SysctlSpec(
            "net.core.high_order_alloc_disable",
            0,
            0,
            1,
            "proc_do_static_key",
            "1 stops skb_page_frag_refill() trying an order-3 page first; frags then come "
            "from order-0 pages",
            _CORE,
            "net/core/sock.c (net_high_order_alloc_disable_key, off)",
        ),
        _int(
            "net.core.wmem_default",
            sk_mem_default,
            "initial sk_sndbuf of non-TCP sockets (UDP, raw); 256 * SKB_TRUESIZE(256)",
            lo=SOCK_MIN_SNDBUF,
            source=_CORE,
            default_from=f"{sock_c} (SK_WMEM_DEFAULT, include/net/sock.h)",
            unit=" bytes",
        ),
        _int(
            "net.core.rmem_default",
            sk_mem_default,
            "initial sk_rcvbuf of non-TCP sockets; 256 * SKB_TRUESIZE(256)",
            lo=SOCK_MIN_RCVBUF,
            source=_CORE,
            default_from=f"{sock_c} (SK_RMEM_DEFAULT, include/net/sock.h)",
            unit=" bytes",
        ),
        _int(
            "net.core.wmem_max",
            4 << 20,
            "largest SO_SNDBUF an unprivileged setsockopt may ask for (the kernel doubles it)",
            lo=SOCK_MIN_SNDBUF,
            source=_CORE,
            default_from=sock_c,
            unit=" bytes",
        ),
        _int(
            "net.core.rmem_max",
            4 << 20,
            "largest SO_RCVBUF an unprivileged setsockopt may ask for (the kernel doubles it)",
            lo=SOCK_MIN_RCVBUF,
            source=_CORE,
            default_from=sock_c,
            unit=" bytes",
        ),
        _int(
            "net.core.optmem_max",
            128 * 1024,
            "per-socket cap on ancillary memory (sk_omem_alloc: options, zerocopy notifications)",
            lo=0,
            source=_CORE,
            default_from="net/core/net_namespace.c preinit_net_sysctl()",
            unit=" bytes",
        ),
        _int(
            "net.core.somaxconn",
            4096,
            "cap on a listen() backlog (SOMAXCONN)",
            lo=0,
            source=_CORE,
            default_from="net/core/net_namespace.c preinit_net_sysctl()",
        ),
        _int(
            "net.core.netdev_max_backlog",
            1000,
            "packets a CPU's input backlog (loopback's receive queue) holds before dropping",
            minmax=False,
            source=_CORE,
            default_from="net/core/hotdata.c",
            unit=" packets",
        ),
        SysctlSpec(
            "net.core.txrehash",
            1,
            0,
            1,
            "proc_dou8vec_minmax",
            "1: a socket may draw a new transmit hash (so a new IPv6 flow label) when TCP's "
            "retransmission timer fires (sk_rethink_txhash); new sockets copy it "
            "(SO_TXREHASH changes a TCP socket's copy)",
            _CORE,
            "net/core/net_namespace.c preinit_net_sysctl() (SOCK_TXREHASH_ENABLED)",
        ),
        # ---------------------------------------------------------------- TCP buffers
        _int_vector(
            "net.ipv4.tcp_wmem",
            (PAGE_SIZE, 16 * 1024, wmem_max),
            "TCP send buffer: min kept under memory pressure, initial sk_sndbuf, "
            "autotuning max (max(64K, min(4M, free/128)))",
            lo=1,
            unit=" bytes",
        ),
        _int_vector(
            "net.ipv4.tcp_rmem",
            (PAGE_SIZE, 131072, rmem_max),
            "TCP receive buffer: min kept under memory pressure, initial sk_rcvbuf, "
            "autotuning max (max(128K, min(32M, free/128)))",
            lo=1,
            unit=" bytes",
        ),
        _ulong(
            "net.ipv4.tcp_mem",
            _mem_triple(pages, 16),
            "TCP memory thresholds over all sockets: no pressure below [0], pressure above "
            "[1], hard limit [2]; [1] = free pages / 16",
            source=_IPV4,
            default_from=f"{tcp_init} / tcp_init_mem()",
            unit=" pages",
        ),
        _ulong(
            "net.ipv4.udp_mem",
            _mem_triple(pages, 8),
            "UDP memory thresholds over all sockets, as tcp_mem; [1] = free pages / 8",
            source=_IPV4,
            default_from="net/ipv4/udp.c udp_init()",
            unit=" pages",
        ),
        _int(
            "net.ipv4.udp_rmem_min",
            PAGE_SIZE,
            "receive memory a UDP socket may always use, even under udp_mem pressure",
            lo=1,
            default_from="net/ipv4/udp.c udp_sysctl_init()",
            unit=" bytes",
        ),
        _int(
            "net.ipv4.udp_wmem_min",
            PAGE_SIZE,
            "send memory a UDP socket may always use, even under udp_mem pressure",
            lo=1,
            default_from="net/ipv4/udp.c udp_sysctl_init()",
            unit=" bytes",
        ),
        # ---------------------------------------------------------------- TCP transmit
        _u8(
            "net.ipv4.tcp_autocorking",
            1,
            "hold a small tail skb back while earlier data still sits in the qdisc/device",
            lo=0,
            hi=1,
        ),
        SysctlSpec(
            "net.ipv4.tcp_notsent_lowat",
            UINT_MAX,
            0,
            UINT_MAX,
            "proc_douintvec",
            "the socket stops being writable once this many bytes are queued but unsent "
            "(TCP_NOTSENT_LOWAT's default; UINT_MAX = off)",
            _IPV4,
            _TCP_SK_INIT,
            " bytes",
        ),
        _int(
            "net.ipv4.tcp_limit_output_bytes",
            4 << 20,
            "TCP small queues: bytes one socket may have in the qdisc/device before "
            "tcp_write_xmit waits for completions",
            minmax=False,
            unit=" bytes",
        ),
        _u8(
            "net.ipv4.tcp_min_tso_segs",
            2,
            "fewest segments tcp_tso_autosize() aims to put in one TSO/GSO skb",
            lo=1,
        ),
        _u8(
            "net.ipv4.tcp_tso_win_divisor",
            3,
            "tcp_tso_should_defer() sends at once when an skb would fill 1/divisor of the "
            "window it may use (0 = no such rule)",
        ),
        _u8(
            "net.ipv4.tcp_tso_rtt_log",
            9,
            "tcp_tso_autosize() grows TSO bursts on flows with min_rtt under 2^value usec "
            "(0 = off)",
        ),
        _u8(
            "net.ipv4.tcp_slow_start_after_idle",
            1,
            "collapse cwnd after an idle period longer than the RTO (RFC 2861)",
        ),
        _u8("net.ipv4.tcp_sack", 1, "offer and use selective acknowledgements (RFC 2018)"),
        _u8(
            "net.ipv4.tcp_timestamps",
            1,
            "TCP timestamps (RFC 7323): 1 = with a random per-connection offset, 2 = without; "
            "they take 12 option bytes per segment",
        ),
        _u8("net.ipv4.tcp_window_scaling", 1, "offer and use window scaling (RFC 7323)"),
        _u8(
            "net.ipv4.tcp_retrans_collapse",
            1,
            "merge small skbs when retransmitting",
        ),
        _u8("net.ipv4.tcp_dsack", 1, "send duplicate SACKs (RFC 2883)"),
        _u8(
            "net.ipv4.tcp_stdurg",
            0,
            "read a received urgent pointer as RFC 1122 does (the urgent byte itself) instead "
            "of BSD's one-past-it (tcp_check_urg)",
            default_from="net/ipv4/tcp_ipv4.c (not set: 0)",
        ),
        _u8(
            "net.ipv4.tcp_early_retrans",
            3,
            "tail loss probe: 0 off, 3 and 4 on (1 and 2 are legacy values)",
            lo=0,
            hi=4,
        ),
        _u8("net.ipv4.tcp_recovery", 1, "loss detection flags (0x1 = RACK)"),
        _u8("net.ipv4.tcp_frto", 2, "F-RTO spurious-RTO detection (RFC 5682; 2 = SACK-enhanced)"),
        _int(
            "net.ipv4.tcp_reordering",
            3,
            "initial reordering degree: duplicate ACKs/SACKs before fast retransmit; at most "
            "tcp_max_reordering",
            lo=1,
            default_from=f"{_TCP_SK_INIT} (TCP_FASTRETRANS_THRESH)",
            check=_not_above("net.ipv4.tcp_max_reordering"),
        ),
        _int(
            "net.ipv4.tcp_max_reordering",
            300,
            "largest reordering degree TCP will learn",
            lo=1,
        ),
        # ---------------------------------------------------------------- congestion control
        _string(
            _CONG,
            "cubic",
            "congestion control of new sockets (a registered name); it also becomes allowed",
            "proc_tcp_congestion_control",
            _TCP_CA_NAME_MAX,
            store=_set_default_congestion_control,
            default_from="CONFIG_DEFAULT_TCP_CONG, net/ipv4/tcp_cong.c tcp_congestion_default()",
        ),
        _string(
            "net.ipv4.tcp_available_congestion_control",
            "reno cubic",
            "the registered congestion controls, in registration order (read only)",
            "proc_tcp_available_congestion_control",
            _TCP_CA_BUF_MAX,
            read=_available_congestion_control,
            writable=False,
            default_from=f"{_TCP_CONG} tcp_get_available_congestion_control()",
        ),
        _string(
            _CONG_ALLOWED,
            "reno cubic",
            "congestion controls TCP_CONGESTION may pick without CAP_NET_ADMIN: reno and the "
            "default, unless written (space-separated registered names)",
            "proc_allowed_congestion_control",
            _TCP_CA_BUF_MAX,
            store=_set_allowed_congestion_control,
            default_from=f"{_TCP_CONG} (tcp_reno is TCP_CONG_NON_RESTRICTED; so is the default)",
        ),
        _int(
            "net.ipv4.tcp_pacing_ss_ratio",
            200,
            "pacing rate in slow start, in percent of cwnd/srtt",
            lo=0,
            hi=1000,
            unit=" %",
        ),
        _int(
            "net.ipv4.tcp_pacing_ca_ratio",
            120,
            "pacing rate in congestion avoidance, in percent of cwnd/srtt",
            lo=0,
            hi=1000,
            unit=" %",
        ),
        _int(
            "net.ipv4.tcp_min_rtt_wlen",
            300,
            "window of the windowed min_rtt filter",
            lo=0,
            hi=24 * 3600,
            unit=" s",
        ),
        _u8(
            "net.ipv4.tcp_comp_sack_nr",
            44,
            "most SACKs compressed into one before an ACK must go out (0 = no compression)",
        ),
        _u8(
            "net.ipv4.tcp_pingpong_thresh",
            1,
            "data-carrying ACKs before a connection counts as interactive (delays ACKs)",
            lo=1,
        ),
        _u8(
            "net.ipv4.tcp_moderate_rcvbuf",
            1,
            "receive-buffer autotuning (grows sk_rcvbuf up to tcp_rmem[2])",
        ),
        _int(
            "net.ipv4.tcp_adv_win_scale",
            1,
            "share of rcvbuf advertised as window: buf/2^n if n > 0, buf - buf/2^-n otherwise "
            "(only while the scaling ratio is unknown)",
            lo=-31,
            hi=31,
        ),
        _u8(
            "net.ipv4.tcp_app_win",
            31,
            "reserve max(window/2^n, mss) of the window for the application (0 = none)",
            lo=0,
            hi=31,
        ),
        # ---------------------------------------------------------------- MSS and MTU probing
        _int(
            "net.ipv4.tcp_min_snd_mss",
            48,
            "floor of the MSS TCP will send with, whatever the peer or PMTU says",
            lo=48,
            hi=65535,
            default_from=f"{_TCP_SK_INIT} (TCP_MIN_SND_MSS)",
            unit=" bytes",
        ),
        _u8(
            "net.ipv4.tcp_mtu_probing",
            0,
            "packetization-layer PMTU discovery: 0 off, 1 after an ICMP black hole, 2 always",
            default_from="net/ipv4/tcp_ipv4.c (not set: 0)",
        ),
        _int(
            "net.ipv4.tcp_base_mss",
            1024,
            "MSS an MTU probe search starts from",
            minmax=False,
            default_from=f"{_TCP_SK_INIT} (TCP_BASE_MSS)",
            unit=" bytes",
        ),
        _int(
            "net.ipv4.tcp_mtu_probe_floor",
            48,
            "lowest MSS MTU probing will fall back to",
            lo=48,
            hi=65535,
            default_from=f"{_TCP_SK_INIT} (TCP_MIN_SND_MSS)",
            unit=" bytes",
        ),
        _int(
            "net.ipv4.tcp_probe_threshold",
            8,
            "MTU probing stops once the search range is narrower than this",
            minmax=False,
            default_from=f"{_TCP_SK_INIT} (TCP_PROBE_THRESHOLD)",
            unit=" bytes",
        ),
        SysctlSpec(
            "net.ipv4.tcp_probe_interval",
            600,
            0,
            UINT_MAX // HZ,
            "proc_douintvec_minmax",
            "time before MTU probing searches again after a success",
            _IPV4,
            f"{_TCP_SK_INIT} (TCP_PROBE_INTERVAL)",
            " s",
        ),
        # ---------------------------------------------------------------- timers and retries
        _jiffies(
            "net.ipv4.tcp_fin_timeout",
            60,
            "how long an orphaned connection stays in FIN-WAIT-2 (TCP_FIN_TIMEOUT)",
        ),
        _u8(
            "net.ipv4.tcp_syn_retries",
            6,
            "SYN retransmissions before connect() gives up",
            lo=1,
            hi=127,
        ),
        _u8("net.ipv4.tcp_synack_retries", 5, "SYN-ACK retransmissions for a passive open"),
        _u8(
            "net.ipv4.tcp_retries1",
            3,
            "RTO retransmissions before TCP asks the network layer to recheck the route",
        ),
        _u8(
            "net.ipv4.tcp_retries2",
            15,
            "RTO retransmissions before an established connection is dropped (about 924 s "
            "with the default RTO bounds)",
        ),
        _u8(
            "net.ipv4.tcp_orphan_retries",
            0,
            "retransmissions for an orphaned connection (0 means 8)",
        ),
        _int(
            "net.ipv4.tcp_rto_min_us",
            200000,
            "lowest retransmission timeout (TCP_RTO_MIN = HZ/5)",
            lo=1,
            unit=" us",
        ),
        _int(
            "net.ipv4.tcp_rto_max_ms",
            120000,
            "highest retransmission timeout (TCP_RTO_MAX)",
            lo=1000,
            hi=120000,
            unit=" ms",
        ),
        _jiffies("net.ipv4.tcp_keepalive_time", 7200, "idle time before the first keepalive"),
        _jiffies("net.ipv4.tcp_keepalive_intvl", 75, "time between keepalive probes"),
        _u8("net.ipv4.tcp_keepalive_probes", 9, "unanswered keepalives before the reset"),
        _u8(
            "net.ipv4.tcp_tw_reuse",
            2,
            "reuse TIME-WAIT sockets for new outgoing connections: 0 no, 1 yes, 2 loopback only",
            lo=0,
            hi=2,
        ),
        SysctlSpec(
            "net.ipv4.tcp_tw_reuse_delay",
            1000,
            1,
            60_000,  # TCP_PAWS_MSL seconds
            "proc_douintvec_minmax",
            "how long a TIME-WAIT socket must have waited before tcp_tw_reuse may take it over",
            _IPV4,
            "net/ipv4/tcp_ipv4.c tcp_sk_init()",
            " ms",
        ),
        # ---------------------------------------------------------------- connection setup
        _int(
            "net.ipv4.tcp_max_syn_backlog",
            syn_backlog,
            "cap on half-open connections per listener: max(128, TCP ehash buckets / 128)",
            minmax=False,
            default_from=f"{_TCP_SK_INIT} / tcp_set_hashinfo()",
        ),
        _u8("net.ipv4.tcp_syncookies", 1, "send SYN cookies when a listener's SYN queue is full"),
        # ---------------------------------------------------------------- IPv4
        _u8(
            "net.ipv4.ip_default_ttl",
            64,
            "TTL of IPv4 packets a socket sends without IP_TTL",
            lo=1,
            hi=255,
            default_from="net/ipv4/af_inet.c inet_init_net() (IPDEFTTL)",
        ),
        _u8(
            "net.ipv4.ip_no_pmtu_disc",
            0,
            "non-zero: new IPv4 and IPv6 sockets start with IP_PMTUDISC_DONT (no DF) instead of "
            "IP_PMTUDISC_WANT; 2 and 3 also change how ICMP frag-needed is handled",
            default_from="net/ipv4/af_inet.c (not set: 0)",
        ),
        SysctlSpec(
            _PORT_RANGE,
            (32768, 60999),
            1,
            65535,
            "ipv4_local_port_range",
            "ephemeral ports for connect() and autobind: low high, low <= high, low not below "
            "ip_unprivileged_port_start (same parity is allowed; the kernel only logs a hint)",
            _IPV4,
            "net/ipv4/af_inet.c inet_init_net()",
            "",
            2,
            _check_port_range,
        ),
        SysctlSpec(
            _UNPRIV_PORT,
            1024,
            0,
            65535,
            "ipv4_privileged_ports",
            "first port a process without CAP_NET_BIND_SERVICE may bind; not above the low end "
            "of ip_local_port_range",
            _IPV4,
            "net/ipv4/af_inet.c inet_init_net() (PROT_SOCK)",
            "",
            None,
            _check_unprivileged_port_start,
        ),
        _jiffies(
            "net.ipv4.ipfrag_time",
            30,
            "how long an incomplete IPv4 datagram waits for its fragments (IP_FRAG_TIME)",
            source=_IPFRAG,
            default_from=f"{_IPFRAG} ipv4_frags_init_net()",
        ),
        _ulong(
            "net.ipv4.ipfrag_high_thresh",
            4 << 20,
            "memory for IPv4 reassembly queues; beyond it new fragments are dropped; not below "
            "ipfrag_low_thresh",
            source=_IPFRAG,
            default_from=f"{_IPFRAG} ipv4_frags_init_net()",
            unit=" bytes",
            check=_not_below("net.ipv4.ipfrag_low_thresh"),
        ),
        _ulong(
            "net.ipv4.ipfrag_low_thresh",
            3 << 20,
            "the evictor frees IPv4 reassembly queues down to this; not above ipfrag_high_thresh",
            source=_IPFRAG,
            default_from=f"{_IPFRAG} ipv4_frags_init_net()",
            unit=" bytes",
            check=_not_above("net.ipv4.ipfrag_high_thresh"),
        ),
        _int(
            "net.ipv4.ipfrag_max_dist",
            64,
            "fragments from one source a queue may lag behind before it is dropped (0 = off)",
            lo=0,
            source=_IPFRAG,
            default_from=f"{_IPFRAG} ipv4_frags_init_net()",
        ),
        # ---------------------------------------------------------------- IPv6
        *(
            _int(
                f"net.ipv6.conf.{dev}.hop_limit",
                64,
                what,
                lo=1,
                hi=255,
                source=_ADDRCONF,
                default_from="net/ipv6/addrconf.c (IPV6_DEFAULT_HOPLIMIT, include/net/ipv6.h)",
            )
            for dev, what in (
                (
                    "all",
                    "hop limit used only when the output device has no IPv6 config (inet6_dev); "
                    "a write does not reach the devices",
                ),
                ("default", "hop limit a new device's IPv6 config starts with"),
                ("lo", "hop limit of packets sent through loopback without IPV6_UNICAST_HOPS"),
            )
        ),
        SysctlSpec(
            "net.ipv6.auto_flowlabels",
            1,
            0,
            3,
            "proc_dou8vec_minmax",
            "automatic IPv6 flow labels from the flow's hash: 0 never, 1 on unless a socket "
            "turns IPV6_AUTOFLOWLABEL off, 2 off unless a socket turns it on, 3 always",
            _SYSCTL6,
            "net/ipv6/af_inet6.c inet6_net_init() (IP6_DEFAULT_AUTO_FLOW_LABELS)",
        ),
        SysctlSpec(
            "net.ipv6.flowlabel_state_ranges",
            0,
            0,
            U8_MAX,
            "proc_dou8vec_minmax",
            "non-zero: automatic flow labels keep to the stateless half, 0x80000-0xFFFFF "
            "(their top bit set, RFC 6437); 0: any 20-bit value",
            _SYSCTL6,
            "net/ipv6/af_inet6.c inet6_net_init() (0; ip-sysctl.rst says 1)",
        ),
        _jiffies(
            "net.ipv6.ip6frag_time",
            60,
            "how long an incomplete IPv6 datagram waits for its fragments (IPV6_FRAG_TIMEOUT)",
            source=_IP6FRAG,
            default_from=f"{_IP6FRAG} ipv6_frags_init_net()",
        ),
        _ulong(
            "net.ipv6.ip6frag_high_thresh",
            4 << 20,
            "memory for IPv6 reassembly queues; not below ip6frag_low_thresh",
            source=_IP6FRAG,
            default_from=f"{_IP6FRAG} (IPV6_FRAG_HIGH_THRESH)",
            unit=" bytes",
            check=_not_below("net.ipv6.ip6frag_low_thresh"),
        ),
        _ulong(
            "net.ipv6.ip6frag_low_thresh",
            3 << 20,
            "the evictor frees IPv6 reassembly queues down to this; not above ip6frag_high_thresh",
            source=_IP6FRAG,
            default_from=f"{_IP6FRAG} (IPV6_FRAG_LOW_THRESH)",
            unit=" bytes",
            check=_not_above("net.ipv6.ip6frag_high_thresh"),
        ),
    ]


# --------------------------------------------------------------------------- parsing

# A C integer as strtoul(base 0) reads it, after an optional '-': hex needs a digit after 0x.
_NUMBER: Final = re.compile(r"-?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_SPACE: Final = " \t\n\v\f\r"  # isspace(): skipped before a number
_TRAILER: Final = " \t\n"  # what may follow a number
_TMPBUFLEN: Final = 22  # proc_get_long() refuses a number of TMPBUFLEN - 1 characters or more


def _parse_proc_ints(spec: SysctlSpec, text: str) -> list[int]:
    """The integers a write of ``text`` to the sysctl's ``/proc`` file carries
    (``proc_get_long()`` and ``proc_skip_spaces()``, kernel/sysctl.c)."""
    numbers: list[int] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in _SPACE:
            pos += 1
        if pos == end:
            return numbers
        match = _NUMBER.match(text, pos)
        if (
            match is None
            or match.end() - pos >= _TMPBUFLEN - 1
            or (match.end() < end and text[match.end()] not in _TRAILER)
        ):
            raise kernel_error(errno.EINVAL, f"{spec.name}: cannot parse {text!r}")
        token = match.group()
        negative = token.startswith("-")
        digits = token[1:] if negative else token
        if digits[:2] in ("0x", "0X"):
            value = int(digits, 16)
        elif len(digits) > 1 and digits[0] == "0":
            value = int(digits, 8)
        else:
            value = int(digits)
        if value > ULONG_MAX or (negative and not spec.signed):
            raise kernel_error(errno.EINVAL, f"{spec.name}: {token} is out of range")
        numbers.append(-value if negative else value)
        pos = match.end()


# --------------------------------------------------------------------------- the mapping


class Sysctl(MutableMapping[str, SysctlValue]):
    """The sysctls of one host, as a mapping from dotted name to value.

    ``sysctl[name]`` reads; ``sysctl[name] = value`` validates as the kernel's handler does
    (``OSError(EINVAL)`` and the old value kept otherwise), stores, then calls
    ``on_change(name, value)``.  Iteration is in sorted name order.  ``max_skb_frags`` is the
    host kernel's ``CONFIG_MAX_SKB_FRAGS`` (17..45); ``nr_free_buffer_pages`` the memory the
    memory-dependent defaults are computed from (see the module docstring).
    """

    #: The live values, read directly by the cores on hot paths.  Never write to it: go through
    #: ``sysctl[name] = value``, which validates and notifies the host.  (Named as
    #: ``collections.UserDict.data``; ``values`` would hide ``Mapping.values()``.)
    data: dict[str, SysctlValue]
    #: Every sysctl's :class:`SysctlSpec` (default, limits, kernel file), read-only.
    table: Mapping[str, SysctlSpec]
    #: The host kernel's ``CONFIG_MAX_SKB_FRAGS`` (the compile-time ``MAX_SKB_FRAGS``).
    max_skb_frags: int

    def __init__(
        self,
        *,
        on_change: Callable[[str, SysctlValue], None] | None = None,
        max_skb_frags: int = _MAX_SKB_FRAGS_DEFAULT,
        nr_free_buffer_pages: int = DEFAULT_NR_FREE_BUFFER_PAGES,
    ) -> None:
        if not _MAX_SKB_FRAGS_DEFAULT <= max_skb_frags <= MAX_SKB_FRAGS_LIMIT:
            raise ValueError(
                f"max_skb_frags (CONFIG_MAX_SKB_FRAGS) must be in "
                f"{_MAX_SKB_FRAGS_DEFAULT}..{MAX_SKB_FRAGS_LIMIT}, not {max_skb_frags}"
            )
        if nr_free_buffer_pages < 1:
            raise ValueError(f"nr_free_buffer_pages must be positive, not {nr_free_buffer_pages}")
        specs = sorted(_build_table(max_skb_frags, nr_free_buffer_pages), key=lambda s: s.name)
        self.table = MappingProxyType({spec.name: spec for spec in specs})
        self.data = {spec.name: spec.default for spec in specs}
        #: the sysctls whose value is computed when read (``tcp_available_congestion_control``)
        self._readers: dict[str, Callable[[], str]] = {
            spec.name: spec.read for spec in specs if spec.read is not None
        }
        for name, read in self._readers.items():
            self.data[name] = read()
        self.max_skb_frags = max_skb_frags
        self._on_change = on_change

    # -- Mapping -------------------------------------------------------------------------

    def __getitem__(self, name: object) -> SysctlValue:
        # ``object``: a wrong key type is a KeyError like any unknown name (and the compiled
        # build checks declared types at run time)
        value = self.data.get(name) if isinstance(name, str) else None
        if value is None:
            raise self._unknown(name)
        if self._readers and isinstance(name, str):
            read = self._readers.get(name)
            if read is not None:
                value = self.data[name] = read()
        return value

    def __contains__(self, name: object) -> bool:
        return name in self.data

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    # -- MutableMapping ------------------------------------------------------------------

    def __setitem__(self, name: object, value: object) -> None:
        """``sysctl -w name=value``: an ``int``, a tuple or list for a vector, or a
        ``sysctl -w`` string; anything else is ``EINVAL``, as the kernel's parser says."""
        spec = self.table.get(name) if isinstance(name, str) else None
        if spec is None:
            raise self._unknown(name)
        if spec.maxlen:
            self._write_string(spec, value)
            return
        new = self._convert(spec, value)
        for element in new if isinstance(new, tuple) else (new,):
            if not spec.min <= element <= spec.max:
                raise kernel_error(
                    errno.EINVAL,
                    f"{spec.name}: {element} is outside {spec.min}..{spec.max}",
                )
        if spec.check is not None:
            problem = spec.check(new, self.data)
            if problem is not None:
                raise kernel_error(errno.EINVAL, f"{spec.name}: {problem}")
        self.data[spec.name] = new
        if self._on_change is not None:
            self._on_change(spec.name, new)

    def _write_string(self, spec: SysctlSpec, value: object) -> None:
        """A write to a string sysctl: ``proc_dostring``, then the handler; every sysctl it
        changes is stored, then reported to ``on_change``."""
        if not spec.writable:
            raise kernel_error(errno.EACCES, f"{spec.name} is read-only")
        if not isinstance(value, str):
            raise kernel_error(errno.EINVAL, f"{spec.name} takes a string, not {value!r}")
        current = self[spec.name]
        assert isinstance(current, str)
        # a write of 0 bytes changes nothing: the handler sees the current value
        text = _proc_dostring(value, spec.maxlen) if value else current
        updates = {spec.name: text} if spec.store is None else spec.store(text, self.data)
        self.data.update(updates)
        if self._on_change is not None:
            for name, new in updates.items():
                self._on_change(name, new)

    def __delitem__(self, name: str) -> None:
        raise TypeError(f"sysctls cannot be removed (tried to delete {name!r}); write a value")

    # -- the rest ------------------------------------------------------------------------

    def describe(self, name: str) -> str:
        """One line on ``name``: current value, what it does, default, limits, kernel files."""
        spec = self.table.get(name)
        if spec is None:
            raise self._unknown(name)
        low, high = (_LIMIT_NAMES.get(x, str(x)) for x in (spec.min, spec.max))
        limits = f"{low}..{high}"
        if spec.length is not None:
            limits = f"{spec.length} values, each {limits}"
        if spec.maxlen:
            limits = f"a string of at most {spec.maxlen - 1} characters"
            if not spec.writable:
                limits += ", read only"
        unmodelled = NOT_MODELLED.get(name)
        note = f" — not modelled: {unmodelled}" if unmodelled else ""
        return (
            f"{name} = {_format(self[name])}{spec.unit}: {spec.doc} "
            f"[default {_format(spec.default)}; {limits}; {spec.handler}; "
            f"{spec.source}; default from {spec.default_from}]{note}"
        )

    def __repr__(self) -> str:
        changed = sorted(n for n, v in self.data.items() if v != self.table[n].default)
        return f"<Sysctl: {len(self.data)} sysctls, changed: {changed or 'none'}>"

    def _convert(self, spec: SysctlSpec, value: object) -> int | tuple[int, ...]:
        """``value`` as the sysctl's shape (int or full tuple), range not yet checked."""
        if isinstance(value, str):
            numbers = _parse_proc_ints(spec, value)
            width = spec.length or 1
            if not numbers or len(numbers) > width:
                raise kernel_error(
                    errno.EINVAL, f"{spec.name} takes {width} integer(s), got {value!r}"
                )
            if spec.length is None:
                return numbers[0]
            current = self.data[spec.name]
            assert isinstance(current, tuple)
            return (*numbers, *current[len(numbers) :])
        if spec.length is None:
            if isinstance(value, int):
                return int(value)
            raise kernel_error(errno.EINVAL, f"{spec.name} takes one integer, not {value!r}")
        if (
            isinstance(value, tuple | list)
            and len(value) == spec.length
            and all(isinstance(v, int) for v in value)
        ):
            return tuple(int(v) for v in value)
        raise kernel_error(errno.EINVAL, f"{spec.name} takes {spec.length} integers, not {value!r}")

    def _unknown(self, name: object) -> KeyError:
        """The ``KeyError`` for a name netsim does not model, with close names."""
        close: list[str] = []
        if isinstance(name, str) and name:
            tail = name.replace("/", ".").lstrip(".")
            close = [n for n in self.data if n == tail or n.endswith("." + tail)]
            for n in difflib.get_close_matches(name, self.data, n=3, cutoff=0.7):
                if n not in close:
                    close.append(n)
        hint = f"; did you mean {', '.join(close[:3])}?" if close else ""
        return KeyError(f"unknown sysctl {name!r}{hint}")
