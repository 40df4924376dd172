"""Devices: loopback, point-to-point links and pcap taps, as sans-IO objects
(net/core/dev.c, drivers/net/loopback.c)."""

from .device import NetDevice as NetDevice
from .device import dev_queue_xmit as dev_queue_xmit
from .link import Link as Link
from .link import LinkDevice as LinkDevice
from .link import WireDevice as WireDevice
from .loopback import Loopback as Loopback
from .pcap import LINKTYPE_RAW as LINKTYPE_RAW
from .pcap import PcapWriter as PcapWriter
from .remote import RemoteLinkDevice as RemoteLinkDevice
from .tap import PcapTap as PcapTap

__all__ = [
    "LINKTYPE_RAW",
    "Link",
    "LinkDevice",
    "Loopback",
    "NetDevice",
    "PcapTap",
    "PcapWriter",
    "RemoteLinkDevice",
    "WireDevice",
    "dev_queue_xmit",
]
