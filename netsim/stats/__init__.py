"""Counters and frozen snapshots (``/proc/net/snmp`` and ``/proc/vmstat``, netsim-sized)."""

from .counters import ALL_NAMES as ALL_NAMES
from .counters import COUNTER_NAMES as COUNTER_NAMES
from .counters import MAX_PAGE_ORDER as MAX_PAGE_ORDER
from .counters import MIB_NAMES as MIB_NAMES
from .counters import PER_ORDER_NAMES as PER_ORDER_NAMES
from .counters import RX_ACCOUNT_SUFFIX as RX_ACCOUNT_SUFFIX
from .counters import TX_FRAG_ACCOUNT as TX_FRAG_ACCOUNT
from .counters import Counters as Counters
from .counters import StatsSnapshot as StatsSnapshot
from .trace import TRACE_KINDS as TRACE_KINDS
from .trace import TraceEvent as TraceEvent
from .trace import Tracer as Tracer

__all__ = [
    "ALL_NAMES",
    "COUNTER_NAMES",
    "MAX_PAGE_ORDER",
    "MIB_NAMES",
    "PER_ORDER_NAMES",
    "RX_ACCOUNT_SUFFIX",
    "TX_FRAG_ACCOUNT",
    "Counters",
    "StatsSnapshot",
    "TRACE_KINDS",
    "TraceEvent",
    "Tracer",
]
