"""A capture whose file fails (a full disk) stops the capture, never the traffic: the tap
detaches, keeps the error and says so once; the flow delivers every byte, with no
retransmission caused by the capture, and every page comes back."""

from __future__ import annotations

import errno
import io
import random

import dpkt
import pytest
import trio
import trio.testing

import netsim
from netsim.dev.tap import PcapTap
from netsim.sock.constants import AF_INET, AF_INET6

FAMILIES = pytest.mark.parametrize("family", [AF_INET, AF_INET6], ids=["ipv4", "ipv6"])


class FullDisk(io.BytesIO):
    """A file that takes ``room`` bytes and then fails with ``ENOSPC``, as a file on a full
    disk does (a write that does not fit is refused whole here).  ``buffered``: writes are
    kept back and only a flush meets the disk, as a buffered file's do."""

    def __init__(self, room: int, *, buffered: bool = False) -> None:
        super().__init__()
        self.room = room
        self.buffered = buffered
        self.pending = bytearray()
        self.refused = 0

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self.buffered:
            self.pending += b
            return len(memoryview(b))
        return self._store(bytes(b))

    def flush(self) -> None:
        if self.pending:
            data, self.pending = bytes(self.pending), bytearray()
            self._store(data)

    def _store(self, data: bytes) -> int:
        if len(data) > self.room - len(self.getbuffer()):
            self.refused += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


async def _transfer(host: netsim.Host, family: int, payload: bytes, *, udp: bool = False) -> bytes:
    addr = "::1" if family == AF_INET6 else "127.0.0.1"
    if udp:
        rx = host.socket(family, netsim.SOCK_DGRAM)
        await rx.bind((addr, 9))
        tx = host.socket(family, netsim.SOCK_DGRAM)
        await tx.connect((addr, 9))
        got = bytearray()
        for off in range(0, len(payload), 1000):
            await tx.send(payload[off : off + 1000])
            got += await rx.recv(2000)
        tx.close()
        rx.close()
        return bytes(got)
    listener = host.socket(family, netsim.SOCK_STREAM)
    await listener.bind((addr, 0))
    listener.listen(1)
    client = host.socket(family, netsim.SOCK_STREAM)
    await client.connect(listener.getsockname())
    server, _ = await listener.accept()
    listener.close()
    received = bytearray()

    async def read() -> None:
        while data := await server.recv(65536):
            received.extend(data)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        view = memoryview(payload)
        while view:
            view = view[await client.send(view) :]
        client.shutdown(netsim.SHUT_WR)
    client.close()
    server.close()
    return bytes(received)


@FAMILIES
async def test_a_capture_that_fills_its_disk_stops_and_the_flow_goes_on(
    family: int, autojump_clock: trio.testing.MockClock
) -> None:
    payload = random.Random(9).randbytes(300_000)
    disk = FullDisk(room=20_000)
    told: list[PcapTap] = []
    async with netsim.open_host() as host:
        lo = host.net.devices["lo"]
        with host.capture(disk, on_error=told.append) as tap:
            assert await _transfer(host, family, payload) == payload
        assert told == [tap], "on_error is called once"
        assert isinstance(tap.error, OSError)
        assert tap.error.errno == errno.ENOSPC
        assert tap not in lo.taps, "the tap detached itself"
        assert tap.writer.closed
        assert disk.refused == 1, "nothing was written after the first failure"
        assert 0 < tap.records < 30
        stats = host.stats()
        assert stats["TcpRetransSegs"] == 0, "the capture's failure is not a drop"
    # the records written before the failure are a readable capture; the one the disk
    # filled up in may follow, cut short (here: its header, without the packet)
    records = [raw for _ts, raw in dpkt.pcap.Reader(io.BytesIO(disk.getvalue()))]
    assert all(records[: tap.records])
    assert records[tap.records :] in ([], [b""])


async def test_a_udp_send_does_not_see_the_captures_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """udp_sendmsg would return the error of a failed transmit to the caller: a capture's
    I/O error must not be one."""
    payload = random.Random(10).randbytes(50_000)
    async with netsim.open_host() as host:
        with host.capture(FullDisk(room=3_000)) as tap:
            assert await _transfer(host, AF_INET, payload, udp=True) == payload
        assert isinstance(tap.error, OSError)
        assert host.stats()["UdpOutDatagrams"] == 50


@pytest.mark.netsim_no_capture(reason="asserts the exact list of lo's taps")
async def test_the_other_taps_of_a_device_keep_recording(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Two captures of one device: the first one's file fills up and it leaves the tap list
    in the middle of a packet's round of taps; the second still sees every packet."""
    payload = random.Random(11).randbytes(100_000)
    good = io.BytesIO()
    async with netsim.open_host() as host:
        with host.capture(FullDisk(room=5_000)) as failing, host.capture(good) as tap:
            assert host.net.devices["lo"].taps == [failing, tap]
            assert await _transfer(host, AF_INET, payload) == payload
        assert failing.error is not None
        assert tap.error is None
        total = host.net.devices["lo"].tx_packets
    assert tap.records == total == len(list(dpkt.pcap.Reader(io.BytesIO(good.getvalue()))))


async def test_a_flush_that_fails_at_the_end_is_the_captures_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A buffered file may fail only when it is flushed at the block's end: that too is the
    tap's error, not an exception out of the ``with``."""
    told: list[PcapTap] = []
    async with netsim.open_host() as host:
        disk = FullDisk(room=100, buffered=True)
        with host.capture(disk, on_error=told.append) as tap:
            assert await _transfer(host, AF_INET, b"x" * 1000) == b"x" * 1000
        assert isinstance(tap.error, OSError)
        assert tap.error.errno == errno.ENOSPC
        assert told == [tap]
        assert disk.refused == 1


@pytest.mark.netsim_no_capture(reason="asserts that lo has no tap")
async def test_a_capture_that_cannot_start_raises_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Opening the capture (the file header) fails in ``capture()`` itself, as ``open``
    does: nothing was attached."""
    async with netsim.open_host() as host:
        with pytest.raises(OSError, match="No space left") as info, host.capture(FullDisk(10)):
            pass
        assert info.value.errno == errno.ENOSPC
        assert host.net.devices["lo"].taps == []
