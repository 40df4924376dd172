"""``recv`` flags on TCP: ``MSG_TRUNC``, ``MSG_PEEK``, ``MSG_WAITALL`` (net/ipv4/tcp.c
``tcp_recvmsg_locked``).  Each test is a minimal reproduction of a difference from Linux that
the property tests (tests/property/test_socket_ops.py) found.
"""

from __future__ import annotations

import trio
import trio.testing

import netsim
from netsim import MSG_PEEK, MSG_TRUNC, MSG_WAITALL


async def test_msg_trunc_discards_and_returns_the_count(
    netsim_tcp_pair: tuple[netsim.Socket, netsim.Socket],
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Linux discards the bytes and returns their count; CPython's ``recv`` then returns a
    buffer of that length.  netsim returned ``b""``, which reads as end of stream."""
    client, server = netsim_tcp_pair
    await client.send(b"abcdefghij" * 3)  # on loopback, in the receive queue on return
    assert await server.recv(4, MSG_TRUNC | MSG_PEEK) == bytes(4)  # a peek discards nothing
    assert await server.recv(4, MSG_TRUNC) == bytes(4)
    assert await server.recv(2) == b"ef"
    buf = bytearray(b"x" * 8)
    assert await server.recv_into(buf, 8, MSG_TRUNC) == 8
    assert buf == b"x" * 8  # nothing copied
    data, _, msg_flags, _ = await server.recvmsg(3, 0, MSG_TRUNC)
    assert (data, msg_flags) == (bytes(3), 0)
    assert await server.recv(100) == b"hij" + b"abcdefghij"


async def test_a_cancelled_waitall_read_returns_what_it_has_read(
    netsim_tcp_pair: tuple[netsim.Socket, netsim.Socket],
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``MSG_WAITALL`` waits for the rest after a short read; cancelled there, it returns
    the bytes it took (a signal-interrupted ``recv(2)`` returns them too).  netsim raised
    ``Cancelled`` and the bytes, already consumed, were lost."""
    client, server = netsim_tcp_pair
    await client.send(b"a" * 100)
    with trio.move_on_after(1) as scope:
        data = await server.recv(1000, MSG_WAITALL)
    assert scope.cancel_called
    assert data == b"a" * 100
    await client.send(b"b" * 100)
    buf = bytearray(1000)
    with trio.move_on_after(1) as scope:
        n = await server.recv_into(buf, 1000, MSG_WAITALL)
    assert scope.cancel_called
    assert buf[:n] == b"b" * 100
    await client.send(b"c")
    assert await server.recv(1000) == b"c"  # nothing in between went missing
    with trio.move_on_after(1) as scope:
        await server.recv(1000, MSG_WAITALL)  # nothing read: cancelled as usual
    assert scope.cancelled_caught


async def test_peek_waitall_waits_for_the_bytes_and_peeks_them_once(
    netsim_tcp_pair: tuple[netsim.Socket, netsim.Socket],
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``MSG_PEEK | MSG_WAITALL`` peeks ``bufsize`` bytes of the stream, waiting for them.
    netsim's loop peeked again from the start after each short peek and appended the
    result: 30 bytes available, a 50-byte request returned ``abc…abc…`` — data that was
    never sent."""
    client, server = netsim_tcp_pair
    await client.send(b"abcdefghij" * 3)

    async def send_later() -> None:
        await trio.sleep(1)
        await client.send(b"0123456789" * 3)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_later)
        assert (
            await server.recv(50, MSG_PEEK | MSG_WAITALL) == b"abcdefghij" * 3 + b"0123456789" * 2
        )
    assert trio.current_time() >= 1
    buf = bytearray(60)
    assert await server.recv_into(buf, 60, MSG_PEEK | MSG_WAITALL) == 60
    assert buf == b"abcdefghij" * 3 + b"0123456789" * 3
    with trio.move_on_after(1) as scope:  # more than there is: cancelled, a short peek
        data = await server.recv(100, MSG_PEEK | MSG_WAITALL)
    assert scope.cancel_called
    assert data == b"abcdefghij" * 3 + b"0123456789" * 3
    client.close()  # EOF: a short peek, no waiting
    assert await server.recv(100, MSG_PEEK | MSG_WAITALL) == data
    assert await server.recv(100, MSG_WAITALL) == data
    assert await server.recv(100) == b""
