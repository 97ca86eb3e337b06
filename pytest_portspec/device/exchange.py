"""One remote command on an SSH session channel, bounded in time and in size (no device knowledge).

    exchange(channel, command, stdin, deadline, cap, alive) -> (exit status, stdout, stderr)

`deadline` (time.monotonic) bounds the whole exchange, not each read: stdout and stderr are read
together as they come (select on the channel), so a device trickling one byte at a time ends at
the deadline all the same (Late). `cap` bounds stdout and stderr together: beyond it the channel
is closed and nothing is kept (Overflow); the bytes read are held once, decoded once at the end.
A session that ends without an exit status is Broken, saying whether the connection dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import paramiko

from pytest_portspec.device.waiting import readable

OUTPUT_CAP = 8 * 1024 * 1024  # bytes of stdout + stderr one remote command may answer (8 MB)
_CHUNK = 32768  # bytes per read from a channel


class Late(Exception):
    """The deadline passed before the command's exit status came."""


class Overflow(Exception):
    """The answer outgrew the cap; the message is the cap, e.g. "8 MB (stdout and stderr ...)"."""


class Broken(Exception):
    """The session ended without an exit status: the connection dropped, or the device closed it."""

    def __init__(self, dropped: bool) -> None:
        super().__init__("dropped" if dropped else "closed")
        self.dropped = dropped


def exchange(
    channel: paramiko.Channel,
    command: str,
    stdin: str | None,
    deadline: float,
    cap: int = OUTPUT_CAP,
    alive: Callable[[], bool] = lambda: True,
) -> tuple[int, str, str]:
    channel.settimeout(max(deadline - time.monotonic(), 0.001))  # bounds exec and stdin writes
    channel.exec_command(command)
    if stdin is not None:
        channel.sendall(stdin.encode("utf-8"))
    channel.shutdown_write()
    out, err = bytearray(), bytearray()  # never more than the cap plus one read
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Late
        readable(channel, min(remaining, 1.0))
        if not _drain(channel, out, err, cap) and (channel.eof_received or channel.closed):
            break
    if not channel.status_event.wait(max(deadline - time.monotonic(), 0.0)):
        raise Late
    if not channel.exit_status_ready() or channel.exit_status == -1:
        if time.monotonic() >= deadline:
            raise Late  # closed at the deadline (by the caller's watchdog)
        raise Broken(dropped=not alive())
    return channel.exit_status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _drain(channel: paramiko.Channel, out: bytearray, err: bytearray, cap: int) -> bool:
    """Read what is buffered on both streams; the cap is checked before a chunk is kept."""
    got = False
    for ready, recv, into in (
        (channel.recv_ready, channel.recv, out),
        (channel.recv_stderr_ready, channel.recv_stderr, err),
    ):
        while ready():
            chunk = recv(_CHUNK)
            if not chunk:
                break
            got = True
            if len(out) + len(err) + len(chunk) > cap:
                channel.close()
                raise Overflow(
                    f"{size(cap)} (stdout and stderr together): reading stopped, the answer is not used"
                )
            into += chunk
    return got


def size(cap: int) -> str:
    return f"{cap / 1024 / 1024:g} MB" if cap >= 1024 * 1024 else f"{cap} bytes"
