"""Errors of the wire layer.

:class:`WireError` is what a parser raises for bytes that are not a valid header — too short,
the wrong version, a length field that contradicts itself — and what an emitter raises for a
header value that cannot be put on the wire (a field out of range, options of the wrong size).
It is a :class:`ValueError`: the input is wrong, not netsim.  The message names the header and
says what was expected and what was found, with the offset into the buffer.

A *bad checksum* is not a parse error: parsers do not verify checksums (a header quoted inside
an ICMP error, or captured before checksum offload, is still worth reading); the
``verify_checksum`` / ``*_verify`` helpers answer that question with a ``bool``.
"""

from __future__ import annotations

from ..errors import WireError as WireError

__all__ = ["WireError"]
