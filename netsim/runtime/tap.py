"""A netsim host on a Linux TAP device: the real kernel as netsim's peer.

``open_tap_link(host, "nstap0")`` creates the TAP interface (``/dev/net/tun``,
``IFF_TAP | IFF_NO_PI``: Ethernet frames, no packet-information prefix), gives ``host`` an
:class:`~netsim.dev.ether.EtherDevice` on it with the addresses asked for, and carries frames
between the fd and the device for the duration of the block: a reader task
(``trio.lowlevel.wait_readable`` on the fd, every frame handed to the device in the host's
softirq) and a writer task (the device's TX ring written to the fd, then TX completion).

The kernel's side of the interface is configured by whoever owns it — ``ip link set nstap0
netns NS``, ``ip -n NS addr add 198.18.0.1/24 dev nstap0``, ``ip -n NS link set nstap0 up`` —
or by :func:`configure_kernel_side`, which runs exactly those commands.  Needs
``CAP_NET_ADMIN`` (root) and ``/dev/net/tun``.

This is real I/O: run it with trio's real clock, never under an autojump ``MockClock``.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import struct
import subprocess
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Final

import trio

from ..dev.ether import EtherDevice
from .host import Host

__all__ = [
    "KERNEL_ADDRS",
    "NETSIM_ADDRS",
    "TUN_PATH",
    "TapLink",
    "configure_kernel_side",
    "open_tap_link",
]

TUN_PATH = "/dev/net/tun"
_TUNSETIFF = 0x400454CA
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000
_READ = 65536
_BATCH = 64


class TapLink:
    """The running TAP link: its device (``dev``), the interface name the kernel gave
    (``ifname``), the addresses of both ends (``local_addrs``, ``peer_addrs``: IPv4, IPv6),
    and frame counts.  It answers what ``netsim nc`` asks of a link to another process
    (:class:`~netsim.runtime.StreamLink`): the peer is the kernel, always there
    (``carrier``), gone only when the fd reports end of file (``finished``)."""

    def __init__(
        self,
        host: Host,
        dev: EtherDevice,
        fd: int,
        ifname: str,
        local_addrs: tuple[str, str],
        peer_addrs: tuple[str, str],
    ) -> None:
        self.host = host
        self.dev = dev
        self.fd = fd
        self.ifname = ifname
        self.local_addrs = local_addrs
        self.peer_addrs = peer_addrs
        self.peer_name = f"the kernel on {ifname}"
        self.peers = 1
        self.refused: list[OSError] = []
        self.on_refused: Callable[[OSError], None] | None = None
        self.frames_sent = 0
        self.frames_received = 0
        self.write_errors = 0
        #: set when the TAP fd reports end of file (the interface went away)
        self.finished = trio.Event()
        self._doorbell = trio.Event()
        self._drained = trio.Event()
        dev.on_xmit = self._doorbell.set

    @property
    def mtu(self) -> int:
        """The link's MTU."""
        return self.dev.mtu

    @property
    def carrier(self) -> bool:
        """The kernel is always there while the fd is open."""
        return self.dev.carrier

    async def wait_carrier(self, on: bool = True) -> None:
        """Return at once while the link is up (``on``); else wait for the end."""
        if not on:
            await self.finished.wait()

    async def wait_gone(self, peer: int) -> None:
        """The kernel leaves only with the interface."""
        await self.finished.wait()

    async def drain(self) -> None:
        """Wait until every frame on the device's TX ring has been written to the fd."""
        while self.dev.txring:
            self._drained = trio.Event()
            await self._drained.wait()

    async def _pump_out(self) -> None:
        dev = self.dev
        net = self.host.net
        while True:
            if not dev.txring:
                self._doorbell = trio.Event()
                dev.on_xmit = self._doorbell.set
                await self._doorbell.wait()
            frames = dev.tx_frames(_BATCH)
            for frame in frames:
                while True:
                    try:
                        os.write(self.fd, frame)
                        self.frames_sent += 1
                        break
                    except BlockingIOError:
                        await trio.lowlevel.wait_writable(self.fd)
                    except OSError as exc:  # EIO: the kernel side is down; the frame is lost
                        if exc.errno not in (errno.EIO, errno.EINVAL):
                            raise
                        self.write_errors += 1
                        break
            net.run_softirq(trio.current_time(), functools.partial(dev.tx_complete, len(frames)))
            if not dev.txring:
                self._drained.set()
            await trio.lowlevel.checkpoint()

    async def _pump_in(self) -> None:
        dev = self.dev
        net = self.host.net
        while True:
            await trio.lowlevel.wait_readable(self.fd)
            frames: list[bytes] = []
            while len(frames) < _BATCH:
                try:
                    frame = os.read(self.fd, _READ)
                except BlockingIOError:
                    break
                if not frame:
                    self.finished.set()
                    return
                frames.append(frame)
            self.frames_received += len(frames)
            net.run_softirq(trio.current_time(), functools.partial(_deliver, dev, frames))

    def __repr__(self) -> str:
        return f"<TapLink {self.host.name}:{self.dev.name} on {self.ifname}>"


def _deliver(dev: EtherDevice, frames: list[bytes]) -> None:
    for frame in frames:
        dev.rx_ether(frame)


def _open_tap(ifname: str) -> tuple[int, str]:
    fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        ifr = struct.pack("16sH", ifname.encode(), _IFF_TAP | _IFF_NO_PI)
        got = fcntl.ioctl(fd, _TUNSETIFF, ifr)
    except BaseException:
        os.close(fd)
        raise
    return fd, got[:16].rstrip(b"\0").decode()


#: the addresses of the two ends, netsim's and the kernel's: 198.18.0.0/15 is the
#: benchmarking range of RFC 2544, fd00:198:18::/64 a unique-local prefix
NETSIM_ADDRS: Final = ("198.18.0.2/24", "fd00:198:18::2/64")
KERNEL_ADDRS: Final = ("198.18.0.1/24", "fd00:198:18::1/64")


@asynccontextmanager
async def open_tap_link(
    host: Host,
    ifname: str = "nstap0",
    *,
    netns: str | None = None,
    configure: bool = True,
    addrs: tuple[str, str] = NETSIM_ADDRS,
    kernel_addrs: tuple[str, str] = KERNEL_ADDRS,
    devname: str = "eth0",
    mac: bytes = b"\x02\x00\x00\x00\x00\x02",
    mtu: int = 1500,
    default_route: bool = True,
) -> AsyncIterator[TapLink]:
    """Create the TAP interface ``ifname`` and attach ``host`` to it through a device
    ``devname`` with ``addrs`` (IPv4, IPv6); the default route goes through it unless
    ``default_route=False``.  With ``configure`` (the default) the kernel's side is set up
    as well (:func:`configure_kernel_side`: moved into ``netns`` if given, ``kernel_addrs``,
    the MTU, up).  Leaving the block closes the fd, and the interface goes away."""
    try:
        fd, name = _open_tap(ifname)
    except PermissionError as exc:
        raise PermissionError(
            exc.errno, f"a TAP interface needs CAP_NET_ADMIN (root): {exc.strerror}"
        ) from None
    dev = EtherDevice(devname, mac=mac, mtu=mtu)
    try:
        host.net.add_device(dev, addrs)
        if default_route:
            host.net.set_default_route(devname)
        dev.set_carrier(True)
        if configure:
            await trio.to_thread.run_sync(
                functools.partial(configure_kernel_side, name, netns, kernel_addrs, mtu)
            )
        link = TapLink(
            host,
            dev,
            fd,
            name,
            (addrs[0].split("/")[0], addrs[1].split("/")[0]),
            (kernel_addrs[0].split("/")[0], kernel_addrs[1].split("/")[0]),
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(link._pump_in)
            nursery.start_soon(link._pump_out)
            try:
                yield link
            finally:
                nursery.cancel_scope.cancel()
    finally:
        host.net.run_softirq(trio.current_time(), functools.partial(dev.set_carrier, False))
        trio.lowlevel.notify_closing(fd)
        os.close(fd)


def configure_kernel_side(
    ifname: str,
    netns: str | None = None,
    addrs: Sequence[str] = KERNEL_ADDRS,
    mtu: int = 1500,
) -> None:
    """The kernel's end of the TAP interface: move it into ``netns`` (if given), give it
    ``addrs`` (IPv6 without duplicate address detection), set the MTU and bring it up —
    ``ip link set … netns``, ``ip addr add``, ``ip link set … up``.  Blocking: call it before
    traffic starts (or from a thread)."""

    def ip(*args: str) -> None:
        prefix = ["ip", "-n", netns] if netns is not None else ["ip"]
        subprocess.run([*prefix, *args], check=True, capture_output=True)

    if netns is not None:
        subprocess.run(
            ["ip", "link", "set", ifname, "netns", netns], check=True, capture_output=True
        )
    for addr in addrs:
        extra = ["nodad"] if ":" in addr else []
        ip("addr", "add", addr, "dev", ifname, *extra)
    ip("link", "set", ifname, "mtu", str(mtu), "up")
