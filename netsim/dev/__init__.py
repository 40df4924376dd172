"""Devices: loopback, point-to-point links and pcap taps, as sans-IO objects
(net/core/dev.c, drivers/net/loopback.c)."""

from .device import NETIF_F_FRAGLIST as NETIF_F_FRAGLIST
from .device import NETIF_F_GSO as NETIF_F_GSO
from .device import NETIF_F_GSO_UDP_L4 as NETIF_F_GSO_UDP_L4
from .device import NETIF_F_HIGHDMA as NETIF_F_HIGHDMA
from .device import NETIF_F_HW_CSUM as NETIF_F_HW_CSUM
from .device import NETIF_F_HW_TLS_TX as NETIF_F_HW_TLS_TX
from .device import NETIF_F_IP_CSUM as NETIF_F_IP_CSUM
from .device import NETIF_F_IPV6_CSUM as NETIF_F_IPV6_CSUM
from .device import NETIF_F_LOOPBACK as NETIF_F_LOOPBACK
from .device import NETIF_F_RXCSUM as NETIF_F_RXCSUM
from .device import NETIF_F_SG as NETIF_F_SG
from .device import NETIF_F_TSO as NETIF_F_TSO
from .device import NETIF_F_TSO6 as NETIF_F_TSO6
from .device import NetDevice as NetDevice
from .device import PacketTap as PacketTap
from .device import dev_queue_xmit as dev_queue_xmit
from .device import netdev_features_names as netdev_features_names
from .ether import EtherDevice as EtherDevice
from .faults import FaultPlan as FaultPlan
from .faults import FaultState as FaultState
from .faults import GilbertElliott as GilbertElliott
from .link import Link as Link
from .link import LinkDevice as LinkDevice
from .link import WireDevice as WireDevice
from .loopback import Loopback as Loopback
from .pcap import LINKTYPE_RAW as LINKTYPE_RAW
from .pcap import PcapWriter as PcapWriter
from .remote import RemoteLinkDevice as RemoteLinkDevice
from .tap import PcapTap as PcapTap

__all__ = [
    "FaultPlan",
    "FaultState",
    "GilbertElliott",
    "LINKTYPE_RAW",
    "NETIF_F_FRAGLIST",
    "NETIF_F_GSO",
    "NETIF_F_GSO_UDP_L4",
    "NETIF_F_HIGHDMA",
    "NETIF_F_HW_CSUM",
    "NETIF_F_HW_TLS_TX",
    "NETIF_F_IPV6_CSUM",
    "NETIF_F_IP_CSUM",
    "NETIF_F_LOOPBACK",
    "NETIF_F_RXCSUM",
    "NETIF_F_SG",
    "NETIF_F_TSO",
    "NETIF_F_TSO6",
    "Link",
    "LinkDevice",
    "Loopback",
    "NetDevice",
    "PacketTap",
    "PcapTap",
    "PcapWriter",
    "EtherDevice",
    "RemoteLinkDevice",
    "WireDevice",
    "dev_queue_xmit",
    "netdev_features_names",
]
