"""The SSH transport (paramiko): one connection per device, opened on first use and reused.

    SSHTransport(label, SSHSettings(host=...)).run("ufw status verbose", timeout=30, name="...")

It keeps the contract of contract.py. Deadlines and caps (a device is untrusted input: slow,
flooding or hostile):
- `timeout` is the TOTAL time a remote command may take, from asking for its session channel to
  its exit status, not a limit per read: one byte every few seconds does not keep it alive.
  stdout and stderr are read together (exchange.py); at the deadline the channel is closed.
- OUTPUT_CAP (8 MiB) bounds stdout and stderr together per command: beyond it reading stops,
  the channel is closed and the device is an error. At most the cap (plus one read) is held in
  memory, as bytes, decoded once at the end.
- connecting: TCP, SSH banner, key exchange and authentication each get --connect-timeout, a new
  session channel CHANNEL_OPEN_TIMEOUT, asked for once more on a new connection when not
  confirmed: `connect_allowance` = 2 x (4 x connect timeout + CHANNEL_OPEN_TIMEOUT), the part
  the per-device deadline (deadline.py) allows for reaching the device.
- The host key: see sshconfig.py; `host_key_policy` and `host_key_verified` say what was done.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import paramiko

from pytest_portspec.device.address import HostKeyPolicy
from pytest_portspec.device.contract import CommandResult, Connection
from pytest_portspec.device.exchange import OUTPUT_CAP, Broken, Late, Overflow, exchange
from pytest_portspec.device.sshconfig import (
    HostKeyCheck,
    KnownHosts,
    connect_failure,
    host_config,
    load_known_hosts,
)
from pytest_portspec.errors import DeviceError
from pytest_portspec.text import clip, printable

CHANNEL_OPEN_TIMEOUT = 15.0  # seconds for the server to confirm a new session channel
CONNECT_STEPS = 4  # TCP connect, banner, key exchange, authentication: each --connect-timeout


@dataclass
class SSHSettings:
    host: str
    port: int | None = None
    user: str | None = None
    key: str | None = None
    ssh_config: str | None = None
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts
    host_key_policy: HostKeyPolicy = "strict"
    connect_timeout: float = 10.0
    allow_agent: bool = True
    channel_open_timeout: float = CHANNEL_OPEN_TIMEOUT
    output_cap: int = OUTPUT_CAP


class SSHTransport:
    """One SSH connection per device, opened on first use and reused for every command."""

    def __init__(self, label: str, settings: SSHSettings) -> None:
        self.label = label
        self.settings = settings
        self.commands_run = 0
        self.host_key_policy: str = settings.host_key_policy
        self.host_key_verified: bool | None = None  # True: matched known_hosts; False: accepted unverified
        self.host_key_note: str | None = None  # why it was not verified, for the report
        self._client: paramiko.SSHClient | None = None
        self._aborted: str | None = None

    @property
    def connect_allowance(self) -> float:
        """The longest reaching the device may take (see the module's docstring)."""
        return 2 * (CONNECT_STEPS * self.settings.connect_timeout + self.settings.channel_open_timeout)

    def _resolved(self) -> tuple[str, int, str | None, str | None]:
        s = self.settings
        host, port, user = s.host, s.port, s.user
        key = os.path.expanduser(s.key) if s.key else None
        config_path = Path(os.path.expanduser(s.ssh_config)) if s.ssh_config else None
        if config_path is not None and config_path.is_file():
            try:
                config = host_config(config_path, s.host)
            except ValueError as exc:
                raise DeviceError(self.label, str(exc)) from None
            host = config.hostname or host
            port = port or config.port
            user = user or config.user
            key = key or config.identity_file
        return host, port or 22, user, key

    def endpoint(self) -> tuple[str, int]:
        """The host (or address) and port `connect` uses, known without connecting."""
        host, port, _, _ = self._resolved()
        return host, port

    def connection(self) -> Connection | None:
        """Connect if not yet (the contract's), and where to: the socket's peer and own address."""
        channel = self.connect().get_transport()
        if channel is None:
            return None
        peer = channel.getpeername()  # (address, port) or, for IPv6, (address, port, flow, scope)
        own = cast(socket.socket, channel.sock)  # connect() passes no sock=: paramiko opened a socket
        return Connection(str(peer[0]), int(peer[1]), str(own.getsockname()[0]))

    def connect(self) -> paramiko.SSHClient:
        if self._aborted is not None:
            raise DeviceError(self.label, self._aborted)
        if self._client is not None:
            return self._client
        host, port, user, key = self._resolved()
        check = self._host_key_check()
        client = paramiko.SSHClient()
        if self.settings.host_key_policy != "ignore":  # ignore: the check sees (and compares) every key
            for name in list(check.known.keys):
                for kind, known in check.known.keys[name].items():
                    client.get_host_keys().add(name, kind, known)
        client.set_missing_host_key_policy(check)
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
            reason = check.explain(exc) or connect_failure(exc, host, port, user, timeout)
            raise DeviceError(self.label, reason) from None
        self.host_key_verified = True if check.verified is None else check.verified
        self.host_key_note = check.note
        self._client = client
        return client

    def _host_key_check(self) -> HostKeyCheck:
        """known_hosts read for the policy. A missing file is no fallback to another one: under strict
        nothing can then be verified (the check says so once the device presents its key), under
        accept-new it is created with the first key (as OpenSSH does), under ignore nothing is compared."""
        path = Path(os.path.expanduser(self.settings.known_hosts or "~/.ssh/known_hosts"))
        known = KnownHosts()
        if path.exists():
            try:
                known = load_known_hosts(path)
            except OSError as exc:
                reason = f"cannot read known_hosts {path}: {exc.strerror or exc}"
                raise DeviceError(self.label, reason) from None
        return HostKeyCheck(self.settings.host_key_policy, known, path)

    def run(
        self, command: str, stdin: str | None = None, timeout: float = 60.0, *, name: str = "a remote command"
    ) -> CommandResult:
        started = time.monotonic()
        deadline = started + timeout
        channel = self._session()
        self.commands_run += 1
        # closing the channel at the deadline wakes every wait paramiko has no timeout for (exec_command's)
        watchdog = threading.Timer(max(deadline - time.monotonic(), 0.0), _close_quietly, (channel,))
        watchdog.daemon = True
        watchdog.start()
        try:
            status, out, err = exchange(
                channel, command, stdin, deadline, self.settings.output_cap, self._alive
            )
        except Late:
            raise DeviceError(self.label, f"{name} did not finish within {timeout:g} s") from None
        except Overflow as exc:
            raise DeviceError(self.label, f"the device's answer to {name} exceeded {exc}") from None
        except Broken as exc:
            if exc.dropped:
                self.close()
                raise DeviceError(self.label, f"the SSH connection dropped before {name} finished") from None
            raise DeviceError(
                self.label, f"the device closed the session of {name} without an exit status"
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if time.monotonic() >= deadline:
                raise DeviceError(self.label, f"{name} did not finish within {timeout:g} s") from None
            self.close()
            detail = clip(printable(str(exc))) or type(exc).__name__
            raise DeviceError(self.label, f"the SSH connection was lost: {detail}") from None
        finally:
            watchdog.cancel()
            channel.close()
        return CommandResult(status, out, err, time.monotonic() - started)

    def _session(self) -> paramiko.Channel:
        """A new session channel; once more on a new connection when the server does not confirm
        one in time (seen now and then under load): every command is read-only, so that is safe."""
        failure: BaseException | None = None
        for _ in range(2):
            transport = self.connect().get_transport()
            try:
                if transport is not None:
                    return transport.open_session(timeout=self.settings.channel_open_timeout)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                failure = exc
            self.close()
        reason = (
            (str(failure) or type(failure).__name__) if failure is not None else "the connection is closed"
        )
        raise DeviceError(self.label, f"the SSH connection was lost: {clip(printable(reason))}")

    def host_key_fingerprint(self) -> str | None:
        if self._client is None or self._client.get_transport() is None:
            return None
        transport = self._client.get_transport()
        assert transport is not None
        key = transport.get_remote_server_key()
        return f"{key.get_name()} SHA256:{key.fingerprint.split(':', 1)[-1]}"

    def _alive(self) -> bool:
        transport = self._client.get_transport() if self._client is not None else None
        return transport is not None and transport.is_active()

    def abort(self, reason: str) -> None:
        """Close the connection for good: every later command is this error (the device's deadline passed)."""
        self._aborted = reason
        self.close()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _close_quietly(channel: paramiko.Channel) -> None:
    """The watchdog's close: the connection may be going already (a traceback in a thread is noise)."""
    with contextlib.suppress(Exception):
        channel.close()
