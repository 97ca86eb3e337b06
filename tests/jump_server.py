"""A jump host for tests: hostile_server's SSH server on 127.0.0.1 that also forwards `direct-tcpip`.

    with JumpServer(keys, allow_forwarding=True) as jump:    # jump.port; jump.forwarded: where to
        ...  # a client's direct-tcpip channel to 127.0.0.1:PORT is piped to that port

Forwarding goes to 127.0.0.1 only (anything else is refused as "connect failed"), as every packet a
test sends must. `local_shell` is a behaviour that runs the command asked on this machine (the
read-only probe program, sent to a listener on 127.0.0.1), so a test sees probes really leave from
the "jump host".
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading

import paramiko
from hostile_server import HOLD, Behaviour, HostileServer, Keys, Session, _Interface, answering


class _Forwarding(_Interface):
    def __init__(self, server: JumpServer, transport: paramiko.Transport) -> None:
        super().__init__(server)
        self.jump, self.transport = server, transport

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "direct-tcpip":
            return paramiko.OPEN_SUCCEEDED
        return super().check_channel_request(kind, chanid)

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        if self.jump.hang:  # never answers the open request (the client's wait for it ends first)
            self.jump.stop.wait(HOLD)
        if not self.jump.allow_forwarding:
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        host, port = destination
        self.jump.forwarded.append(f"{host}:{port}")
        if host != "127.0.0.1":
            return paramiko.OPEN_FAILED_CONNECT_FAILED
        try:
            sock = socket.create_connection((host, port), timeout=5.0)
        except OSError:
            return paramiko.OPEN_FAILED_CONNECT_FAILED
        self.jump.opened.append(sock)  # closed at the end whatever happens to its channel
        self.jump.pending[(id(self.transport), chanid)] = sock
        return paramiko.OPEN_SUCCEEDED


class JumpServer(HostileServer):
    def __init__(
        self,
        keys: Keys,
        behaviour: Behaviour | None = None,
        *,
        allow_forwarding: bool = True,
        hang: bool = False,
    ) -> None:
        super().__init__(behaviour or answering(""), keys)
        self.allow_forwarding, self.hang = allow_forwarding, hang
        self.forwarded: list[str] = []
        # (the transport's id, its channel id) -> the socket: channel ids are per connection
        self.pending: dict[tuple[int, int], socket.socket] = {}
        self.opened: list[socket.socket] = []

    def interface(self, transport: paramiko.Transport) -> paramiko.ServerInterface:
        return _Forwarding(self, transport)

    def serving(self, transport: paramiko.Transport) -> None:
        self.spawn(self._channels, transport)

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)  # type: ignore[arg-type]
        for sock in list(self.opened):  # the threads are joined: every forwarded socket, once
            sock.close()

    def _channels(self, transport: paramiko.Transport) -> None:
        """Pipe each forwarded channel to its socket (session channels answer exec requests)."""
        while not self.stop.is_set() and transport.is_active():
            channel = transport.accept(0.2)
            key = (id(transport), channel.get_id()) if channel is not None else None
            if channel is not None and key in self.pending:
                sock = self.pending.pop(key)
                self.spawn(_pipe, channel, sock, self.stop)
                self.spawn(_pipe_back, sock, channel, self.stop)


def _pipe(channel: paramiko.Channel, sock: socket.socket, stop: threading.Event) -> None:
    channel.settimeout(0.2)
    while not stop.is_set():
        try:
            data = channel.recv(65536)
        except TimeoutError:
            continue
        if not data:
            break
        sock.sendall(data)
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


def _pipe_back(sock: socket.socket, channel: paramiko.Channel, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    try:
        while not stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            channel.sendall(data)
    finally:
        channel.close()
        sock.close()


def local_shell(session: Session) -> None:
    """Run the command asked here (tests send only the read-only probe program and its tools check)."""
    stdin = session.read_stdin()
    done = subprocess.run(["sh", "-c", session.command], input=stdin, capture_output=True, timeout=HOLD)
    session.send(done.stdout)
    session.send(done.stderr, stderr=True)
    session.finish(done.returncode)
