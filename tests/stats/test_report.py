"""The report's formats, as the tools they imitate print them: dd's summary line and
iperf3's Transfer and Bitrate columns."""

from __future__ import annotations

import pytest

from netsim.stats.report import dd_line, iperf_bitrate, iperf_bytes


@pytest.mark.parametrize(
    ("nbytes", "seconds", "line"),
    [
        (
            67108864,
            0.75,
            "67108864 bytes (67 MB, 64 MiB) copied, 0.75 s, 89.5 MB/s, 85.3 MiB/s",
        ),
        (0, 0.0001, "0 bytes copied, 0.0001 s, 0.0 MB/s, 0.0 MiB/s"),
        (1, 0.5, "1 byte copied, 0.5 s, 0.0 MB/s, 0.0 MiB/s"),
        (999, 1.0, "999 bytes copied, 1 s, 0.0 MB/s, 0.0 MiB/s"),
        (1000, 1.0, "1000 bytes (1.0 kB, 1000 B) copied, 1 s, 0.0 MB/s, 0.0 MiB/s"),
    ],
)
def test_dd_line(nbytes: int, seconds: float, line: str) -> None:
    assert dd_line(nbytes, seconds) == line


def test_iperf_columns() -> None:
    """unit_snprintf(): 2 decimals below 10, 1 below 100, none above."""
    assert iperf_bytes(0) == "0 Bytes"
    assert iperf_bytes(1 << 20) == "1.00 MBytes"
    assert iperf_bytes(58_511_360) == "55.8 MBytes"
    assert iperf_bytes(256 << 20) == "256 MBytes"
    assert iperf_bitrate(468e6) == "468 Mbits/sec"
    assert iperf_bitrate(55.8e6) == "55.8 Mbits/sec"
    assert iperf_bitrate(1.1e9) == "1.10 Gbits/sec"
