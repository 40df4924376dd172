"""Event counters a host keeps, and the frozen snapshots it hands out.

Model
-----
The kernel keeps per-netns MIB counters (``/proc/net/snmp``, read with ``nstat``) and, for the
page allocator, ``/proc/vmstat``.  netsim keeps one :class:`Counters` object per host: the page
allocator, the fragment allocators, the skb helpers and (later) the protocols all increment the
same plain ``int`` attributes.  Plain ints in ``__slots__`` are the cheapest counter Python has,
and the hot path (copy into a frag, free an skb) bumps several of them per call.

Every counter counts **calls, not references**: ``page_ref_add(page, 32768)`` is one
``page_ref_add``.  The four refcount counters (``page_get``, ``page_put``, ``page_ref_add``,
``page_ref_sub_and_test``) are the atomic operations the page_frag_cache series saves; reports
give them per MiB sent.

``snapshot()`` returns a :class:`StatsSnapshot`: a read-only ``Mapping[str, int]`` frozen at the
moment it was taken (trio's ``statistics()`` convention), plus ``per_order`` for the counters
that the page allocator also breaks down by allocation order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from .snapshot import MAX_SKB_FRAGS_LIMIT as MAX_SKB_FRAGS_LIMIT
from .snapshot import StatsSnapshot
from .trace import Tracer

__all__ = [
    "ALL_NAMES",
    "COUNTER_NAMES",
    "MAX_PAGE_ORDER",
    "MIB_NAMES",
    "PER_ORDER_NAMES",
    "RX_ACCOUNT_SUFFIX",
    "TLS_COUNTER_NAMES",
    "TLS_STAT_NAMES",
    "TX_FRAG_ACCOUNT",
    "Counters",
    "StatsSnapshot",
]

#: Highest allocation order the buddy allocator serves (``MAX_PAGE_ORDER``, include/linux/mmzone.h).
MAX_PAGE_ORDER: Final = 10

#: The page-allocator account of a host's ``sk_page_frag()`` allocators (every task's and
#: socket's): the transmit side's pages and frag counters.  A NIC's RX buffers are the account
#: ``"<device> rx"`` (see :meth:`netsim.mm.PageAllocator.account`).
TX_FRAG_ACCOUNT: Final = "sk_page_frag"
RX_ACCOUNT_SUFFIX: Final = " rx"

#: netsim's own kTLS counters, in report order (``netsim nc --tls``).
TLS_COUNTER_NAMES: Final[tuple[str, ...]] = (
    "tls_records",
    "tls_record_frags",
    "tls_record_coalesce",
    "tls_dev_encrypt",
    "tls_sw_encrypt",
    "tls_tx_ooo",
    "tls_tx_resync_bytes",
    "tls_sw_fallback_segs",
    "tls_tx_no_record",
    "tls_rx_records",
)

#: The kernel's ``/proc/net/tls_stat`` (``LINUX_MIB_TLS*``), in its order.
TLS_STAT_NAMES: Final[tuple[str, ...]] = (
    "TlsCurrTxSw",
    "TlsCurrRxSw",
    "TlsCurrTxDevice",
    "TlsCurrRxDevice",
    "TlsTxSw",
    "TlsRxSw",
    "TlsTxDevice",
    "TlsRxDevice",
    "TlsDecryptError",
    "TlsRxDeviceResync",
    "TlsDecryptRetry",
    "TlsRxNoPadViolation",
    "TlsRxRekeyOk",
    "TlsRxRekeyError",
    "TlsTxRekeyOk",
    "TlsTxRekeyError",
    "TlsRxRekeyReceived",
)

#: Scalar counters, in report order.  Names are public API (DESIGN.md).
COUNTER_NAMES: Final[tuple[str, ...]] = (
    # page allocator (mm/page_alloc.c)
    "page_alloc",
    "page_free",
    "page_alloc_fail",
    "page_alloc_pfmemalloc",
    # page refcount operations (include/linux/page_ref.h, include/linux/mm.h)
    "page_get",
    "page_put",
    "page_ref_add",
    "page_ref_sub_and_test",
    # fragment allocators
    "frag_refill",
    "frag_recycle",
    "frag_abandon",
    "frag_reuse",
    "frag_commit",
    "frag_commit_noref",
    "frag_abort",
    "frag_alloc_fail",
    # skbs
    "skb_alloc",
    "skb_free",
    "skb_clone",
    "skb_coalesce",
    "skb_new_frag",
    # bytes copied from senders' buffers into page frags (TCP's skb_add_frag_nocache, UDP's
    # getfrag into frags, kTLS's copies into record frags)
    "skb_copy_bytes",
    # kTLS (netsim/tls): records pushed to TCP and their frags, appends merged into a record's
    # last frag, records the software path encrypted, records the emulated NIC encrypted,
    # segments it met out of order (retransmissions) and the record bytes it re-read to
    # resync, segments encrypted by tls_sw_fallback, segments with no record, records received
    *TLS_COUNTER_NAMES,
)

#: MIB counters with the kernel's nstat names (/proc/net/snmp, /proc/net/snmp6, netstat).
MIB_NAMES: Final[tuple[str, ...]] = (
    # IPv4 (IPSTATS_MIB_*)
    "IpInReceives",
    "IpInHdrErrors",
    "IpInAddrErrors",
    "IpInUnknownProtos",
    "IpInDiscards",
    "IpInDelivers",
    "IpOutRequests",
    "IpOutDiscards",
    "IpOutNoRoutes",
    "IpReasmTimeout",
    "IpReasmReqds",
    "IpReasmOKs",
    "IpReasmFails",
    "IpFragOKs",
    "IpFragFails",
    "IpFragCreates",
    # IPv6
    "Ip6InReceives",
    "Ip6InHdrErrors",
    "Ip6InAddrErrors",
    "Ip6InUnknownProtos",
    "Ip6InDiscards",
    "Ip6InDelivers",
    "Ip6OutRequests",
    "Ip6OutDiscards",
    "Ip6OutNoRoutes",
    "Ip6ReasmTimeout",
    "Ip6ReasmReqds",
    "Ip6ReasmOKs",
    "Ip6ReasmFails",
    "Ip6FragOKs",
    "Ip6FragFails",
    "Ip6FragCreates",
    # ICMP / ICMPv6
    "IcmpInMsgs",
    "IcmpInErrors",
    "IcmpInDestUnreachs",
    "IcmpOutMsgs",
    "IcmpOutDestUnreachs",
    "Icmp6InMsgs",
    "Icmp6InErrors",
    "Icmp6InDestUnreachs",
    "Icmp6InPktTooBigs",
    "Icmp6OutMsgs",
    "Icmp6OutDestUnreachs",
    # UDP / UDPv6 (UDP_MIB_*)
    "UdpInDatagrams",
    "UdpNoPorts",
    "UdpInErrors",
    "UdpOutDatagrams",
    "UdpRcvbufErrors",
    "UdpSndbufErrors",
    "UdpInCsumErrors",
    "Udp6InDatagrams",
    "Udp6NoPorts",
    "Udp6InErrors",
    "Udp6OutDatagrams",
    "Udp6RcvbufErrors",
    "Udp6SndbufErrors",
    "Udp6InCsumErrors",
    # kTLS (/proc/net/tls_stat, LINUX_MIB_TLS*): the Curr* are gauges
    *TLS_STAT_NAMES,
    # TCP (TCP_MIB_*, and LINUX_MIB_* shown by nstat as TcpExt*)
    "TcpActiveOpens",
    "TcpPassiveOpens",
    "TcpAttemptFails",
    "TcpEstabResets",
    "TcpInSegs",
    "TcpOutSegs",
    "TcpRetransSegs",
    "TcpInErrs",
    "TcpOutRsts",
    "TcpInCsumErrors",
    "TcpExtTCPAutoCorking",
    "TcpExtTCPRcvCoalesce",
    "TcpExtDelayedACKs",
    "TcpExtTCPTimeouts",
    "TcpExtTCPTimeoutRehash",
    "TcpExtListenOverflows",
    "TcpExtListenDrops",
    "TcpExtTCPOrigDataSent",
    "TcpExtTCPDelivered",
    "TcpExtTW",
    "TcpExtTWRecycled",
    "TcpExtTCPACKSkippedTimeWait",
    "TcpExtTCPACKSkippedFinWait2",
    "TcpExtTCPAbortOnData",
    "TcpExtTCPAbortOnClose",
    "TcpExtTCPAbortOnLinger",
    "TcpExtTCPOFOQueue",
    "TcpExtPruneCalled",
    "TcpExtRcvPruned",
    "TcpExtOfoPruned",
    "TcpExtTCPRcvCollapsed",
    "TcpExtTCPOFODrop",
    "TcpExtTCPPureAcks",
    "TcpExtTCPHPAcks",
    "TcpExtTCPWantZeroWindowAdv",
    "TcpExtTCPToZeroWindowAdv",
    "TcpExtTCPFromZeroWindowAdv",
    "TcpExtTCPRcvQDrop",
    "TcpExtTCPBacklogCoalesce",
    "TcpExtTCPWinProbe",
    "TcpExtTCPSlowStartRetrans",
    "TcpExtTCPLossUndo",
    "TcpExtTCPZeroWindowDrop",
    "TcpExtTCPDSACKOldSent",
    "TcpExtTCPDSACKOfoSent",
    "TcpExtDelayedACKLost",
    "TcpExtTCPOFOMerge",
    "TcpExtTCPDSACKRecv",
    "TcpExtTCPSACKDiscard",
    "TcpExtTCPFastRetrans",
    "TcpExtTCPSackRecovery",
    "TcpExtTCPLostRetransmit",
    "TcpExtTCPRenoRecovery",
    "TcpExtTCPSackRecoveryFail",
    "TcpExtTCPRenoRecoveryFail",
    "TcpExtTCPLossFailures",
    "TcpExtTCPSackFailures",
    "TcpExtTCPRenoFailures",
    "TcpExtTCPFullUndo",
    "TcpExtTCPPartialUndo",
    "TcpExtTCPDSACKUndo",
    "TcpExtTCPSpuriousRTOs",
    "TcpExtTCPTSReorder",
    "TcpExtTCPSACKReorder",
    "TcpExtTCPRenoReorder",
    "TcpExtTCPSACKReneging",
    "TcpExtTCPDSACKOfoRecv",
    "TcpExtTCPDSACKIgnoredDubious",
    "TcpExtTCPDSACKRecvSegs",
    "TcpExtTCPLossProbes",
    "TcpExtTCPLossProbeRecovery",
    "TcpExtTSQThrottled",
    "TcpExtTCPMemoryPressures",
    "TcpExtTCPHystartTrainDetect",
    "TcpExtTCPHystartTrainCwnd",
    "TcpExtTCPHystartDelayDetect",
    "TcpExtTCPHystartDelayCwnd",
)


#: Counters that are also kept per allocation order.
PER_ORDER_NAMES: Final[tuple[str, ...]] = ("page_alloc", "page_free", "page_alloc_fail")

#: Every scalar counter, netsim's own first, then the MIB.
ALL_NAMES: Final[tuple[str, ...]] = COUNTER_NAMES + MIB_NAMES


class Counters:
    """Mutable counters, one plain ``int`` attribute per name in :data:`ALL_NAMES`.

    Cores increment attributes directly (``stats.page_get += 1``).  Readers call
    :meth:`snapshot`; they never hold on to the live object.
    """

    __slots__ = (
        *ALL_NAMES,
        "page_alloc_order",
        "page_free_order",
        "page_alloc_fail_order",
        "tx_nr_frags",
        "tracer",
    )

    page_alloc: int
    page_free: int
    page_alloc_fail: int
    page_alloc_pfmemalloc: int
    page_get: int
    page_put: int
    page_ref_add: int
    page_ref_sub_and_test: int
    frag_refill: int
    frag_recycle: int
    frag_abandon: int
    frag_reuse: int
    frag_commit: int
    frag_commit_noref: int
    frag_abort: int
    frag_alloc_fail: int
    skb_alloc: int
    skb_free: int
    skb_clone: int
    skb_coalesce: int
    skb_new_frag: int
    skb_copy_bytes: int
    IpInReceives: int
    IpInHdrErrors: int
    IpInAddrErrors: int
    IpInUnknownProtos: int
    IpInDiscards: int
    IpInDelivers: int
    IpOutRequests: int
    IpOutDiscards: int
    IpOutNoRoutes: int
    IpReasmTimeout: int
    IpReasmReqds: int
    IpReasmOKs: int
    IpReasmFails: int
    IpFragOKs: int
    IpFragFails: int
    IpFragCreates: int
    Ip6InReceives: int
    Ip6InHdrErrors: int
    Ip6InAddrErrors: int
    Ip6InUnknownProtos: int
    Ip6InDiscards: int
    Ip6InDelivers: int
    Ip6OutRequests: int
    Ip6OutDiscards: int
    Ip6OutNoRoutes: int
    Ip6ReasmTimeout: int
    Ip6ReasmReqds: int
    Ip6ReasmOKs: int
    Ip6ReasmFails: int
    Ip6FragOKs: int
    Ip6FragFails: int
    Ip6FragCreates: int
    IcmpInMsgs: int
    IcmpInErrors: int
    IcmpInDestUnreachs: int
    IcmpOutMsgs: int
    IcmpOutDestUnreachs: int
    Icmp6InMsgs: int
    Icmp6InErrors: int
    Icmp6InDestUnreachs: int
    Icmp6InPktTooBigs: int
    Icmp6OutMsgs: int
    Icmp6OutDestUnreachs: int
    UdpInDatagrams: int
    UdpNoPorts: int
    UdpInErrors: int
    UdpOutDatagrams: int
    UdpRcvbufErrors: int
    UdpSndbufErrors: int
    UdpInCsumErrors: int
    Udp6InDatagrams: int
    Udp6NoPorts: int
    Udp6InErrors: int
    Udp6OutDatagrams: int
    Udp6RcvbufErrors: int
    Udp6SndbufErrors: int
    Udp6InCsumErrors: int
    TcpActiveOpens: int
    TcpPassiveOpens: int
    TcpAttemptFails: int
    TcpEstabResets: int
    TcpInSegs: int
    TcpOutSegs: int
    TcpRetransSegs: int
    TcpInErrs: int
    TcpOutRsts: int
    TcpInCsumErrors: int
    TcpExtTCPAutoCorking: int
    TcpExtTCPRcvCoalesce: int
    TcpExtDelayedACKs: int
    TcpExtTCPTimeouts: int
    TcpExtTCPTimeoutRehash: int
    TcpExtListenOverflows: int
    TcpExtListenDrops: int
    TcpExtTCPOrigDataSent: int
    TcpExtTCPDelivered: int
    TcpExtTW: int
    TcpExtTWRecycled: int
    TcpExtTCPACKSkippedTimeWait: int
    TcpExtTCPACKSkippedFinWait2: int
    TcpExtTCPAbortOnData: int
    TcpExtTCPAbortOnClose: int
    TcpExtTCPAbortOnLinger: int
    TcpExtTCPOFOQueue: int
    TcpExtPruneCalled: int
    TcpExtRcvPruned: int
    TcpExtOfoPruned: int
    TcpExtTCPRcvCollapsed: int
    TcpExtTCPOFODrop: int
    TcpExtTCPPureAcks: int
    TcpExtTCPHPAcks: int
    TcpExtTCPWantZeroWindowAdv: int
    TcpExtTCPToZeroWindowAdv: int
    TcpExtTCPFromZeroWindowAdv: int
    TcpExtTCPRcvQDrop: int
    TcpExtTCPBacklogCoalesce: int
    TcpExtTCPWinProbe: int
    TcpExtTCPSlowStartRetrans: int
    TcpExtTCPLossUndo: int
    TcpExtTCPZeroWindowDrop: int
    TcpExtTCPDSACKOldSent: int
    TcpExtTCPDSACKOfoSent: int
    TcpExtDelayedACKLost: int
    TcpExtTCPOFOMerge: int
    TcpExtTCPDSACKRecv: int
    TcpExtTCPSACKDiscard: int
    TcpExtTCPFastRetrans: int
    TcpExtTCPSackRecovery: int
    TcpExtTCPLostRetransmit: int
    TcpExtTCPRenoRecovery: int
    TcpExtTCPSackRecoveryFail: int
    TcpExtTCPRenoRecoveryFail: int
    TcpExtTCPLossFailures: int
    TcpExtTCPSackFailures: int
    TcpExtTCPRenoFailures: int
    TcpExtTCPFullUndo: int
    TcpExtTCPPartialUndo: int
    TcpExtTCPDSACKUndo: int
    TcpExtTCPSpuriousRTOs: int
    TcpExtTCPTSReorder: int
    TcpExtTCPSACKReorder: int
    TcpExtTCPRenoReorder: int
    TcpExtTCPSACKReneging: int
    TcpExtTCPDSACKOfoRecv: int
    TcpExtTCPDSACKIgnoredDubious: int
    TcpExtTCPDSACKRecvSegs: int
    TcpExtTCPLossProbes: int
    TcpExtTCPLossProbeRecovery: int
    TcpExtTSQThrottled: int
    TcpExtTCPMemoryPressures: int
    TcpExtTCPHystartTrainDetect: int
    TcpExtTCPHystartTrainCwnd: int
    TcpExtTCPHystartDelayDetect: int
    TcpExtTCPHystartDelayCwnd: int
    tls_records: int
    tls_record_frags: int
    tls_record_coalesce: int
    tls_sw_encrypt: int
    tls_dev_encrypt: int
    tls_tx_ooo: int
    tls_tx_resync_bytes: int
    tls_sw_fallback_segs: int
    tls_tx_no_record: int
    tls_rx_records: int
    TlsCurrTxSw: int
    TlsCurrRxSw: int
    TlsCurrTxDevice: int
    TlsCurrRxDevice: int
    TlsTxSw: int
    TlsRxSw: int
    TlsTxDevice: int
    TlsRxDevice: int
    TlsDecryptError: int
    TlsRxDeviceResync: int
    TlsDecryptRetry: int
    TlsRxNoPadViolation: int
    TlsRxRekeyOk: int
    TlsRxRekeyError: int
    TlsTxRekeyOk: int
    TlsTxRekeyError: int
    TlsRxRekeyReceived: int
    page_alloc_order: list[int]
    page_free_order: list[int]
    page_alloc_fail_order: list[int]
    #: histogram of ``nr_frags`` over the data skbs the protocols hand to IP (a TCP skb with
    #: payload on its first transmission, each skb of a UDP datagram): ``tx_nr_frags[n]`` skbs
    #: had n frags
    tx_nr_frags: list[int]
    #: the attached :class:`~netsim.stats.trace.Tracer`, or ``None`` (the cores test it once
    #: per decision; ``reset()`` leaves it alone)
    tracer: Tracer | None

    def __init__(self) -> None:
        self.tracer = None
        self.reset()

    def reset(self) -> None:
        """Set every counter back to zero."""
        for name in ALL_NAMES:
            setattr(self, name, 0)
        for name in PER_ORDER_NAMES:
            setattr(self, name + "_order", [0] * (MAX_PAGE_ORDER + 1))
        self.tx_nr_frags = [0] * (MAX_SKB_FRAGS_LIMIT + 1)

    def snapshot(self, accounts: Mapping[str, Counters] | None = None) -> StatsSnapshot:
        """Freeze the current values into a read-only :class:`StatsSnapshot`.

        With ``accounts`` (the counters of a page allocator's accounts, by name), the snapshot
        holds the totals — these counters plus every account's — and each account's own
        snapshot in ``accounts``."""
        values = {name: getattr(self, name) for name in ALL_NAMES}
        per_order = {name: list(getattr(self, name + "_order")) for name in PER_ORDER_NAMES}
        hist = list(self.tx_nr_frags)
        shares: dict[str, StatsSnapshot] = {}
        for key, counters in (accounts or {}).items():
            share = shares[key] = counters.snapshot()
            for name, value in share._values.items():
                values[name] += value
            for name, orders in share.per_order.items():
                total = per_order[name]
                for order, n in enumerate(orders):
                    total[order] += n
            for n, count in enumerate(share.tx_nr_frags):
                hist[n] += count
        return StatsSnapshot(
            values, {k: tuple(v) for k, v in per_order.items()}, tuple(hist), shares
        )

    def __repr__(self) -> str:
        nonzero = ", ".join(f"{n}={getattr(self, n)}" for n in ALL_NAMES if getattr(self, n))
        return f"Counters({nonzero})"
