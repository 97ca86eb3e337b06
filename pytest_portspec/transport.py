"""Device access behind one small interface: an SSH transport (paramiko) and a fake for tests.

    transport.run("ufw status verbose", stdin=None, timeout=30) -> CommandResult

Every failure to reach or use the device becomes a DeviceError with one sentence; the
command count is kept so the report can prove how few remote commands a device took.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import paramiko

from pytest_portspec.device import HostKeyPolicy
from pytest_portspec.errors import DeviceError

CHANNEL_OPEN_TIMEOUT = 15.0  # seconds for the server to confirm a new session channel


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str
    seconds: float


class Transport(Protocol):
    commands_run: int

    def run(self, command: str, stdin: str | None = None, timeout: float = 60.0) -> CommandResult: ...

    def close(self) -> None: ...


@dataclass
class SSHSettings:
    host: str
    port: int | None = None
    user: str | None = None
    key: str | None = None
    ssh_config: str | None = None
    known_hosts: str | None = None
    host_key_policy: HostKeyPolicy = "strict"
    connect_timeout: float = 10.0
    allow_agent: bool = True


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """Like OpenSSH's accept-new: remember an unknown key; a changed key still fails."""

    def __init__(self, known_hosts: str | None) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        if self.known_hosts:
            with open(self.known_hosts, "a", encoding="utf-8") as handle:
                handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


class _Ignore(paramiko.MissingHostKeyPolicy):
    """--host-key-policy ignore: accept any key, remember nothing (known_hosts is never written)."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        return None


class SSHTransport:
    """One SSH connection per device, opened on first use and reused for every command."""

    def __init__(self, label: str, settings: SSHSettings) -> None:
        self.label = label
        self.settings = settings
        self.commands_run = 0
        self._client: paramiko.SSHClient | None = None

    def _resolved(self) -> tuple[str, int, str | None, str | None]:
        s = self.settings
        host, port, user = s.host, s.port, s.user
        key = os.path.expanduser(s.key) if s.key else None
        config_path = Path(os.path.expanduser(s.ssh_config)) if s.ssh_config else None
        if config_path is not None and config_path.is_file():
            config = paramiko.SSHConfig.from_path(str(config_path)).lookup(s.host)
            host = config.get("hostname", host)
            port = port or int(config.get("port", 22))
            user = user or config.get("user")
            files = config.get("identityfile")
            key = key or (os.path.expanduser(files[0]) if files else None)
        return host, port or 22, user, key

    def endpoint(self) -> tuple[str, int]:
        """The host (or address) and port `connect` uses, known without connecting."""
        host, port, _, _ = self._resolved()
        return host, port

    def connect(self) -> paramiko.SSHClient:
        if self._client is not None:
            return self._client
        host, port, user, key = self._resolved()
        client = paramiko.SSHClient()
        known = self.settings.known_hosts
        if self.settings.host_key_policy == "ignore":
            pass  # no known keys at all: every key is accepted and none is saved
        elif known and Path(known).is_file():
            client.load_host_keys(known)
        elif self.settings.host_key_policy == "strict":
            client.load_system_host_keys()
        policy: paramiko.MissingHostKeyPolicy = {
            "strict": paramiko.RejectPolicy(),
            "accept-new": _AcceptNew(known),
            "ignore": _Ignore(),
        }[self.settings.host_key_policy]
        client.set_missing_host_key_policy(policy)
        timeout = self.settings.connect_timeout
        try:
            client.connect(
                host,
                port=port,
                username=user,
                key_filename=key,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                allow_agent=self.settings.allow_agent,
                look_for_keys=key is None,
            )
        except Exception as exc:  # paramiko raises many types: each becomes one sentence
            client.close()
            raise DeviceError(self.label, _connect_failure(exc, host, port, user, timeout)) from None
        self._client = client
        return client

    def run(self, command: str, stdin: str | None = None, timeout: float = 60.0) -> CommandResult:
        started = time.monotonic()
        channel = self._session()
        self.commands_run += 1
        try:
            channel.settimeout(timeout)
            channel.exec_command(command)
            channel_in = channel.makefile_stdin("wb")
            stdout, stderr = channel.makefile("r"), channel.makefile_stderr("r")
            if stdin is not None:
                channel_in.write(stdin)
            channel_in.channel.shutdown_write()
            out = stdout.read().decode("utf-8", errors="replace")
            err = stderr.read().decode("utf-8", errors="replace")
            status = stdout.channel.recv_exit_status()
            if status == -1:  # the channel closed without an exit status: the connection is gone
                raise paramiko.SSHException("the session closed without an exit status")
        except TimeoutError:
            raise DeviceError(self.label, f"a remote command did not finish within {timeout:g} s") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise DeviceError(
                self.label, f"the SSH connection was lost: {exc or type(exc).__name__}"
            ) from None
        return CommandResult(status, out, err, time.monotonic() - started)

    def _session(self) -> paramiko.Channel:
        """A new session channel; once more on a new connection when the server does not confirm
        one in time (seen now and then under load): every command is read-only, so that is safe."""
        failure: BaseException | None = None
        for _ in range(2):
            transport = self.connect().get_transport()
            try:
                if transport is not None:
                    return transport.open_session(timeout=CHANNEL_OPEN_TIMEOUT)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                failure = exc
            self.close()
        reason = (
            (str(failure) or type(failure).__name__) if failure is not None else "the connection is closed"
        )
        raise DeviceError(self.label, f"the SSH connection was lost: {reason}")

    def host_key_fingerprint(self) -> str | None:
        if self._client is None or self._client.get_transport() is None:
            return None
        transport = self._client.get_transport()
        assert transport is not None
        key = transport.get_remote_server_key()
        return f"{key.get_name()} SHA256:{key.fingerprint.split(':', 1)[-1]}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _connect_failure(exc: Exception, host: str, port: int, user: str | None, timeout: float) -> str:
    where = f"{host}:{port}"
    if isinstance(exc, paramiko.BadHostKeyException):
        return (
            f"the host key of {where} does not match known_hosts: refusing to connect "
            f"(if the appliance was re-imaged, check and update known_hosts)"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        who = user or "the default user"
        return f"SSH authentication as {who} failed on {where} (check --ssh-user and --ssh-key)"
    if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in str(exc):
        return (
            f"{where} is not in known_hosts: add its key, pass --known-hosts, or "
            f"--host-key-policy accept-new to trust it on first use"
        )
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no SSH answer from {where} within {timeout:g} s (unreachable or filtered)"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused the SSH connection (is sshd running?)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host name {host!r}"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        codes = {getattr(e, "errno", None) for e in exc.errors.values()}
        if codes & {errno.EHOSTUNREACH, errno.ENETUNREACH}:
            return f"no route to {where} (host or network unreachable)"
        return f"{where} refused the SSH connection (is sshd running?)"
    if isinstance(exc, OSError):
        return f"cannot connect to {where}: {exc.strerror or exc}"
    return f"SSH to {where} failed: {exc or type(exc).__name__}"


@dataclass
class FakeTransport:
    """A first-class fake device for unit tests: answers commands from a table of responders.

    `responses` maps a substring of the command to a CommandResult, or to a callable that
    builds one from (command, stdin); the first key found in the command answers.
    """

    responses: Mapping[str, CommandResult | Callable[[str, str | None], CommandResult]]
    commands_run: int = 0
    commands: list[str] = field(default_factory=list)

    def run(self, command: str, stdin: str | None = None, timeout: float = 60.0) -> CommandResult:
        self.commands_run += 1
        self.commands.append(command)
        for needle, answer in self.responses.items():
            if needle in command:
                return answer(command, stdin) if callable(answer) else answer
        return CommandResult(127, "", f"fake device: no response for {command[:60]!r}", 0.0)

    def close(self) -> None:
        pass
