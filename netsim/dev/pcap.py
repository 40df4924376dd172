"""Classic libpcap capture files: a writer for what a pcap tap sees.

Format (pcap-savefile(5); draft-ietf-opsawg-pcap), each integer in the byte order the magic
number reveals — netsim always writes **little-endian**, so the same capture gives the same
bytes on every machine::

    global header, 24 bytes
        magic_number   u32  0xa1b2c3d4 (microsecond timestamps)
        version_major  u16  2
        version_minor  u16  4
        thiszone       i32  0 (timestamps are UTC)
        sigfigs        u32  0
        snaplen        u32  the most bytes of a packet kept in a record
        network        u32  the link type: LINKTYPE_RAW (101), packets start at the IP header
    then per packet, a 16-byte record header and the captured bytes
        ts_sec         u32  seconds
        ts_usec        u32  microseconds (0..999999)
        incl_len       u32  bytes captured, min(orig_len, snaplen)
        orig_len       u32  the packet's length on the wire

The default snap length is 262144 (libpcap's ``MAXIMUM_SNAPLEN``, what ``tcpdump -s 0``
uses), so GSO super-packets and 64 KiB loopback packets are kept whole; dpkt's writer defaults
to 1500, which would cut them.  ``LINKTYPE_RAW`` suits netsim's devices, which carry IP
packets without a link header; readers tell IPv4 from IPv6 by the version nibble.

:class:`PcapWriter` is the sink only.  A capture point (the tap device that wraps another
device, as smoltcp's ``phy/pcap_writer.rs`` and gVisor's ``link/sniffer`` do) gives it bytes
and the emulated time; it does no I/O of its own besides ``fileobj.write``.  Timestamps are
rounded to the nearest microsecond.  Like ``dpkt.pcap.Writer``, :meth:`PcapWriter.close` closes
the file object.
"""

from __future__ import annotations

import struct
from types import TracebackType
from typing import BinaryIO, Final

__all__ = ["LINKTYPE_RAW", "PcapWriter"]

LINKTYPE_RAW: Final = 101
"""Raw IPv4 or IPv6 packets, no link-layer header (the file format's value; libpcap's
``DLT_RAW`` is 12 or 14 depending on the platform, and is mapped to 101 in files)."""

TCPDUMP_MAGIC: Final = 0xA1B2C3D4
PCAP_VERSION_MAJOR: Final = 2
PCAP_VERSION_MINOR: Final = 4
MAXIMUM_SNAPLEN: Final = 262144

_FILE_HEADER: Final = struct.Struct("<IHHiIII")
_RECORD_HEADER: Final = struct.Struct("<IIII")


class PcapWriter:
    """Writes a classic pcap file to ``fileobj``: the global header at construction, one
    record per :meth:`write`.  Usable as a context manager (closing on exit)."""

    def __init__(
        self,
        fileobj: BinaryIO,
        snaplen: int = MAXIMUM_SNAPLEN,
        linktype: int = LINKTYPE_RAW,
        close_file: bool = True,
    ) -> None:
        self.fileobj = fileobj
        self.snaplen = snaplen
        self.linktype = linktype
        self.close_file = close_file
        #: how many records were written
        self.records = 0
        self._closed = False
        if not 0 < self.snaplen <= 0xFFFFFFFF:
            raise ValueError(f"pcap snaplen must be a positive 32-bit value: {self.snaplen}")
        self.fileobj.write(
            _FILE_HEADER.pack(
                TCPDUMP_MAGIC,
                PCAP_VERSION_MAJOR,
                PCAP_VERSION_MINOR,
                0,
                0,
                self.snaplen,
                self.linktype,
            )
        )

    def __repr__(self) -> str:
        return (
            f"PcapWriter(fileobj={self.fileobj!r}, snaplen={self.snaplen}, "
            f"linktype={self.linktype}, records={self.records})"
        )

    @property
    def closed(self) -> bool:
        """:meth:`close` was called."""
        return self._closed

    def write(
        self, timestamp: float, data: bytes | bytearray | memoryview, orig_len: int | None = None
    ) -> None:
        """Append a record for the packet ``data`` seen at ``timestamp`` seconds (emulated
        time, ≥ 0).  ``orig_len`` is the packet's length on the wire if ``data`` is already
        only part of it (default ``len(data)``); the record keeps at most ``snaplen`` bytes."""
        if self._closed:
            raise ValueError("write to a closed PcapWriter")
        mv = memoryview(data).cast("B")
        size = len(mv)
        if orig_len is None:
            orig_len = size
        elif orig_len < size:
            raise ValueError(f"orig_len {orig_len} is less than the {size} bytes given")
        if timestamp < 0:
            raise ValueError(f"pcap timestamps cannot be negative: {timestamp}")
        sec, usec = divmod(round(timestamp * 1_000_000), 1_000_000)
        caplen = min(size, self.snaplen)
        self.fileobj.write(_RECORD_HEADER.pack(sec, usec, caplen, orig_len))
        self.fileobj.write(mv[:caplen])
        self.records += 1

    def close(self) -> None:
        """Flush and close the file object.  Closing twice is harmless."""
        if not self._closed:
            self._closed = True
            if self.close_file:
                self.fileobj.close()
            else:
                self.fileobj.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
