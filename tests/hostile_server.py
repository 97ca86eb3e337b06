"""A hostile SSH device for tests and benchmarks: paramiko's server classes on 127.0.0.1 only.

    with HostileServer(behaviour, keys) as server:       # server.port; keys.client for --ssh-key
        SSHTransport(..., SSHSettings(host="127.0.0.1", port=server.port, key=str(keys.client)))

Every exec request is answered by `behaviour(session)` in a thread of its own; a behaviour may
trickle, flood, close without an exit status, drop the connection, or answer like a device.
`confirm=False` never confirms a session channel; `answer_exec=False` never answers an exec
request. Every loop is bounded and every wait ends when the server stops (leaving the `with`),
so no thread outlives a test by more than a fraction of a second.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HOLD = 60.0  # the longest a server thread waits for anything (the server stopping ends it sooner)


@dataclass(frozen=True)
class Keys:
    """A throwaway host key (the server's) and client key, as OpenSSH private key files."""

    host: Path
    client: Path

    @property
    def host_key(self) -> paramiko.PKey:
        return paramiko.Ed25519Key(filename=str(self.host))

    def known_hosts_line(self, port: int) -> str:
        key = self.host_key
        return f"[127.0.0.1]:{port} {key.get_name()} {key.get_base64()}\n"


def make_keys(directory: Path) -> Keys:
    """Ed25519 keys (instant, unlike RSA): written once per directory."""
    files = []
    for name in ("host_key", "client_key"):
        path = directory / name
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
            )
            path.write_bytes(pem)
            path.chmod(0o600)
        files.append(path)
    return Keys(files[0], files[1])


@dataclass
class Session:
    """One exec request: what was asked, and the channel to answer on."""

    command: str
    channel: paramiko.Channel
    stop: threading.Event

    def read_stdin(self, limit: int = 1 << 20) -> bytes:
        data = b""
        self.channel.settimeout(5.0)
        while len(data) < limit and not self.stop.is_set():
            chunk = self.channel.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

    def send(self, data: str | bytes, stderr: bool = False) -> None:
        raw = data.encode() if isinstance(data, str) else data
        (self.channel.sendall_stderr if stderr else self.channel.sendall)(raw)

    def finish(self, status: int = 0) -> None:
        self.channel.send_exit_status(status)
        self.channel.close()


Behaviour = Callable[[Session], None]


class _Interface(paramiko.ServerInterface):
    def __init__(self, server: HostileServer) -> None:
        self.server = server

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if not self.server.confirm:
            self.server.stop.wait(HOLD)  # the client's wait for a confirmation ends first
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_UNKNOWN_CHANNEL_TYPE

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        if not self.server.answer_exec:
            self.server.stop.wait(HOLD)
            return False
        session = Session(command.decode("utf-8", "replace"), channel, self.server.stop)
        self.server.commands.append(session.command)
        self.server.spawn(self.server.answer, session)
        return True


class HostileServer:
    def __init__(
        self, behaviour: Behaviour, keys: Keys, *, confirm: bool = True, answer_exec: bool = True
    ) -> None:
        self.behaviour, self.keys = behaviour, keys
        self.confirm, self.answer_exec = confirm, answer_exec
        self.stop = threading.Event()
        self.commands: list[str] = []
        self._threads: list[threading.Thread] = []
        self._transports: list[paramiko.Transport] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))  # loopback only, an ephemeral port
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]

    def __enter__(self) -> HostileServer:
        self.spawn(self._accept)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop.set()
        for transport in list(self._transports):
            transport.close()
        self._listener.close()
        for thread in list(self._threads):
            thread.join(timeout=5.0)

    def spawn(self, target: Callable[..., None], *args: object) -> None:
        def quietly() -> None:
            with contextlib.suppress(Exception):  # the client closed its end: a hostile device does not care
                target(*args)

        thread = threading.Thread(target=quietly, daemon=True)
        self._threads.append(thread)
        thread.start()

    def answer(self, session: Session) -> None:
        # after paramiko has confirmed the exec request (it does once this method's caller returns)
        if not self.stop.wait(0.05):
            self.behaviour(session)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            transport = paramiko.Transport(connection)
            transport.add_server_key(self.keys.host_key)
            self._transports.append(transport)
            transport.start_server(event=threading.Event(), server=self.interface(transport))
            self.serving(transport)

    def interface(self, transport: paramiko.Transport) -> paramiko.ServerInterface:
        """What answers a connection's requests (a jump host's forwards too: jump_server.py)."""
        return _Interface(self)

    def serving(self, transport: paramiko.Transport) -> None:
        """Called once a connection is served (a jump host pipes its forwarded channels)."""


# --- behaviours ---------------------------------------------------------------------------------


def answering(state: str, outbound: str = "", proof: str | None = None, status: int = 0) -> Behaviour:
    """A device that answers: the state command, the outbound probes' command, the proof's."""

    def behave(session: Session) -> None:
        if "probe-tools" in session.command:
            text = state
        elif "fingerprint" in session.command:
            text = proof if proof is not None else state
        else:
            session.read_stdin()
            text = outbound
        session.send(text)
        session.finish(status)

    return behave


def trickling(interval: float, byte: bytes = b"x") -> Behaviour:
    """One byte every `interval` seconds, never finishing (until the client or the server stops)."""

    def behave(session: Session) -> None:
        for _ in range(int(HOLD / interval) + 1):
            if session.channel.closed or session.stop.wait(interval):
                return
            session.send(byte)

    return behave


def flooding(total: int, chunk: int = 1 << 16) -> Behaviour:
    """`total` bytes of output as fast as the client takes them, stopped when it closes the channel."""

    def behave(session: Session) -> None:
        block = b"A" * (chunk - 1) + b"\n"
        for _ in range(total // chunk):
            if session.channel.closed or session.stop.is_set():
                return
            session.send(block)
        session.finish(0)

    return behave


def closing_without_status(output: str = "partial output\n") -> Behaviour:
    def behave(session: Session) -> None:
        session.send(output)
        session.channel.close()

    return behave


def dropping(output: str = "==portspec==probe-tools\npython3 ") -> Behaviour:
    """Some output, then the whole connection goes (as a device rebooting mid-answer)."""

    def behave(session: Session) -> None:
        session.send(output)
        session.stop.wait(0.2)
        session.channel.get_transport().close()

    return behave
