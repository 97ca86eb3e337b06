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
  confirmed: `connect_allowance` = 2 x (hops + 1) x (4 x connect timeout + CHANNEL_OPEN_TIMEOUT)
  (+ the jump host's probe commands with --inbound-from jump), the part the per-device deadline
  (deadline.py) allows for reaching the device.
- Where: the options and ssh_config resolved once (route.py); through jump hosts (jump.py), each
  hop a connection of its own whose socket is a direct-tcpip channel of the previous one, or a
  ProxyCommand; `jump` then tells the engine to send no probe of the tester's (jump_inbound.py).
  Closing the device's connection closes its jump hosts' too.
- The host key: known_hosts.py, the same check for every hop; `host_key_policy`,
  `host_key_verified` (every hop's and the device's) and `host_key_note` say what was done.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from typing import cast

import paramiko

from pytest_portspec.device.address import HostKeyPolicy
from pytest_portspec.device.contract import CommandResult, Connection
from pytest_portspec.device.exchange import OUTPUT_CAP, Broken, Late, Overflow, exchange
from pytest_portspec.device.jump import Chain, HopSettings, JumpFailed, open_chain, open_client
from pytest_portspec.device.jump_inbound import JumpRoute, device_socket, jump_probe_allowance
from pytest_portspec.device.known_hosts import HostKeyCheck, connect_failure, host_key_check
from pytest_portspec.device.route import Route, resolve
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
    proxy_jump: str | None = None  # --ssh-proxy-jump or the inventory's; "none": not ssh_config's either
    inbound_from_jump: bool = False  # --inbound-from jump: inbound probes from the last jump host
    probe_timeout: float = 3.0  # for the jump host's inbound probes
    config_may_set: frozenset[str] = frozenset()  # "known_hosts", "host_key_policy": left at their defaults


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
        self._route: Route | None = None
        self.chain: Chain | None = None  # the open jump hosts, when the route has any

    @property
    def connect_allowance(self) -> float:
        """The longest reaching the device may take (module docstring): each jump host is one more
        connection, and with --inbound-from jump the jump host's probe commands are part of it."""
        try:
            route = self.route()
        except DeviceError:
            route = None  # connecting fails at once, with the sentence
        s, hops = self.settings, len(route.hops) if route is not None else 0
        one = CONNECT_STEPS * s.connect_timeout + s.channel_open_timeout
        probing = jump_probe_allowance(s.probe_timeout) if hops and s.inbound_from_jump else 0.0
        return 2 * (hops + 1) * one + probing

    def route(self) -> Route:
        """Where and how the device is reached (route.py), resolved once; DeviceError with its sentence."""
        if self._route is None:
            try:
                self._route = resolve(self.settings)
            except ValueError as exc:
                raise DeviceError(self.label, str(exc)) from None
        return self._route

    def endpoint(self) -> tuple[str, int]:
        """The host (or address) and port `connect` uses, known without connecting."""
        route = self.route()
        return route.host, route.port

    def connection(self) -> Connection | None:
        """Connect if not yet (the contract's), and where to: the socket's peer and own address.
        Through a jump host or a ProxyCommand: the device's host as that reaches it, and no tester
        address (the device sees the jump host's, which is not known here)."""
        channel = self.connect().get_transport()
        if channel is None:
            return None
        route = self.route()
        if route.through:
            return Connection(route.host, route.port, "")
        peer = channel.getpeername()  # (address, port) or, for IPv6, (address, port, flow, scope)
        own = cast(socket.socket, channel.sock)  # a direct route passes no sock=: paramiko opened a socket
        return Connection(str(peer[0]), int(peer[1]), str(own.getsockname()[0]))

    def connect(self) -> paramiko.SSHClient:
        if self._aborted is not None:
            raise DeviceError(self.label, self._aborted)
        if self._client is not None:
            return self._client
        route = self.route()
        chain = self._open_chain(route)
        try:
            client, check = self._connect_device(route, chain)
        except BaseException:
            if chain is not None:
                chain.close()
            raise
        notes = [*(chain.notes() if chain else []), *([check.note] if check.note else [])]
        self.host_key_verified = check.verified is not False and (chain is None or chain.verified())
        self.host_key_note = route.trust_note(notes)
        self._client, self.chain = client, chain
        return client

    @property
    def jump(self) -> JumpRoute | None:
        """How the device is reached when not directly (jump_inbound.py), known before connecting:
        the engine then sends no probe of the tester's (None when the route cannot be resolved:
        connecting fails with that sentence)."""
        try:
            route = self.route()
        except DeviceError:
            return None
        if not route.through:
            return None
        s = self.settings
        return JumpRoute(self.label, route, self.chain, s.inbound_from_jump, s.channel_open_timeout)

    def _new_check(self) -> HostKeyCheck:
        route = self.route()
        try:
            return host_key_check(route.host_key_policy, route.known_hosts)
        except OSError as exc:
            reason = f"cannot read known_hosts {route.known_hosts}: {exc.strerror or exc}"
            raise DeviceError(self.label, reason) from None

    def _hop_settings(self) -> HopSettings:
        """How the device and every jump host are connected to (each with a host key check of its own)."""
        s = self.settings
        return HopSettings(s.connect_timeout, s.channel_open_timeout, s.allow_agent, self._new_check)

    def _open_chain(self, route: Route) -> Chain | None:
        if not route.hops:
            return None
        try:
            return open_chain(route.hops, self._hop_settings())
        except JumpFailed as exc:
            raise DeviceError(self.label, str(exc)) from None

    def _connect_device(self, route: Route, chain: Chain | None) -> tuple[paramiko.SSHClient, HostKeyCheck]:
        check = self._new_check()
        self.host_key_policy = route.host_key_policy
        try:
            client = open_client(route, device_socket(route, chain), check, self._hop_settings())
        except JumpFailed as exc:
            raise DeviceError(self.label, str(exc)) from None
        except Exception as exc:  # paramiko raises many types: each becomes one sentence
            timeout = self.settings.connect_timeout
            reason = check.explain(exc) or connect_failure(exc, route.host, route.port, route.user, timeout)
            raise DeviceError(
                self.label, f"{reason}{' (through ' + route.through + ')' if route.through else ''}"
            ) from None
        return client, check

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
        """The device's connection, then its jump hosts' (the last first)."""
        client, self._client = self._client, None
        chain, self.chain = self.chain, None
        if client is not None:
            client.close()
        if chain is not None:
            chain.close()


def _close_quietly(channel: paramiko.Channel) -> None:
    """The watchdog's close: the connection may be going already (a traceback in a thread is noise)."""
    with contextlib.suppress(Exception):
        channel.close()
