"""``netdev_features_t`` bits carry the kernel's numbers (include/linux/netdev_features.h,
6.18), so a feature word read from ``ethtool`` or written by hand means the same here, and
each has its ``ethtool -k`` name."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import netsim
from netsim.dev import (
    NETIF_F_GSO_UDP_L4,
    NETIF_F_HW_CSUM,
    NETIF_F_HW_TLS_TX,
    NETIF_F_IP_CSUM,
    NETIF_F_IPV6_CSUM,
    NETIF_F_LOOPBACK,
    NETIF_F_RXCSUM,
    NETIF_F_SG,
    NETIF_F_TSO,
    NETIF_F_TSO6,
    netdev_features_names,
)


@pytest.mark.parametrize(
    ("feature", "bit"),
    [
        (NETIF_F_SG, 0),
        (NETIF_F_IP_CSUM, 1),
        (NETIF_F_HW_CSUM, 3),  # bit 2 is unused since NETIF_F_NO_CSUM went
        (NETIF_F_IPV6_CSUM, 4),
        (NETIF_F_TSO, 16),  # NETIF_F_GSO_SHIFT + SKB_GSO_TCPV4
        (NETIF_F_TSO6, 20),  # ... + SKB_GSO_TCPV6
        (NETIF_F_GSO_UDP_L4, 33),  # ... + SKB_GSO_UDP_L4
        (NETIF_F_RXCSUM, 40),
        (NETIF_F_LOOPBACK, 42),
        (NETIF_F_HW_TLS_TX, 53),
    ],
)
def test_feature_bits_are_the_kernels(feature: int, bit: int) -> None:
    assert feature == 1 << bit


async def test_devices_name_their_features(autojump_clock: trio.testing.MockClock) -> None:
    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        netsim.link(a, b, csum_offload=True)
        lo = netdev_features_names(a.devices["lo"].features)
        assert "tx-scatter-gather" in lo
        assert "tx-tcp-segmentation" in lo
        assert "loopback" in lo
        assert netdev_features_names(a.devices["eth0"].features) == [
            "tx-scatter-gather",
            "tx-checksum-ip-generic",
            "rx-checksum",
        ]
    assert netdev_features_names(1 << 2 | NETIF_F_SG) == ["tx-scatter-gather", "bit-2"]


@pytest.mark.parametrize("family", [netsim.AF_INET, netsim.AF_INET6])
@pytest.mark.parametrize(("link", "summed"), [(False, 3), (True, 0)], ids=["lo", "link"])
async def test_checksum_offload_follows_the_feature_bits(
    family: int, link: bool, summed: int, autojump_clock: trio.testing.MockClock
) -> None:
    """``__ip_append_data`` leaves the UDP checksum to the device (``CHECKSUM_PARTIAL``)
    when the device has ``NETIF_F_HW_CSUM`` / ``IP_CSUM`` / ``IPV6_CSUM``: loopback does;
    a link without checksum offload gets a datagram summed in software (``CHECKSUM_NONE``)."""
    seen: list[int] = []

    class Summed:
        def record(self, skb: netsim.SkBuff) -> None:
            seen.append(skb.ip_summed)

    async with netsim.open_host(name="a") as a, netsim.open_host(name="b") as b:
        if link:
            netsim.link(a, b)
            dst = "10.0.0.2" if family == netsim.AF_INET else "fd00::2"
            dev, rx_host = a.devices["eth0"], b
        else:
            dst = "127.0.0.1" if family == netsim.AF_INET else "::1"
            dev, rx_host = a.devices["lo"], a
        dev.taps.append(Summed())
        rx = rx_host.socket(family, netsim.SOCK_DGRAM)
        await rx.bind((dst, 7000))
        tx = a.socket(family, netsim.SOCK_DGRAM)
        await tx.sendto(bytes(1000), (dst, 7000))
        assert await rx.recv(2000) == bytes(1000)
        assert seen == [summed]


async def test_features_by_ethtool_name(autojump_clock: trio.testing.MockClock) -> None:
    """``dev.set_feature("tx-scatter-gather", False)`` as ``ethtool -K lo sg off`` would: the
    named bit, not a raw integer; unknown names are refused with the known ones."""
    from netsim.dev import NETIF_F_HW_TLS_TX, NETIF_F_SG

    async with netsim.open_host() as host:
        lo = host.devices["lo"]
        assert lo.feature("tx-scatter-gather")
        lo.set_feature("tx-scatter-gather", False)
        assert not lo.features & NETIF_F_SG
        assert not lo.feature("tx-scatter-gather")
        lo.set_feature("tls-hw-tx-offload")
        assert lo.features & NETIF_F_HW_TLS_TX
        with pytest.raises(ValueError, match="unknown feature 'sg'"):
            lo.set_feature("sg")
