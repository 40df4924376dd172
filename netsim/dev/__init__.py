"""Devices: loopback, point-to-point links and pcap taps, as sans-IO objects
(net/core/dev.c, drivers/net/loopback.c)."""

from .device import NetDevice as NetDevice
from .device import dev_queue_xmit as dev_queue_xmit
from .loopback import Loopback as Loopback
from .pcap import LINKTYPE_RAW as LINKTYPE_RAW
from .pcap import PcapWriter as PcapWriter

__all__ = ["LINKTYPE_RAW", "Loopback", "NetDevice", "PcapWriter", "dev_queue_xmit"]
