"""Jump hosts (OpenSSH's ProxyJump) with paramiko: which hops, and the chain of connections through them.

    parse_jumps("admin@bastion:22,ops@[2001:2::5]:2222") -> [("admin", "bastion", 22), ...]
    plan(spec, lookup, keys)  -> (Hop, ...)    each hop's own ssh_config applied, as OpenSSH does
    open_chain(hops, hop_settings) -> Chain    one SSHClient per hop; chain.channel_to(host, port)

Each hop is an SSHClient whose socket is a `direct-tcpip` channel of the previous hop's transport
(the first hop's is a TCP connection, or its own ssh_config ProxyCommand). A hop's settings: the
user and port the ProxyJump entry names, else its ssh_config's; its ssh_config HostName,
IdentityFile (else --ssh-key) and IdentitiesOnly; the first hop's own ProxyJump is followed (as
`ssh -J` would reach it), at most MAX_HOPS hops in all. Every hop's host key is checked with the
device's --host-key-policy and known_hosts (a HostKeyCheck of its own). Every step has a timeout:
TCP, banner, key exchange and authentication --connect-timeout each, a channel open the channel
timeout. Every failure is one sentence naming the hop: `jump host admin@bastion:22: ...`.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import paramiko

from pytest_portspec.addresses import is_hostname, is_ip
from pytest_portspec.device.known_hosts import HostKeyCheck, checking_client, connect_failure
from pytest_portspec.device.sshconfig import HostConfig
from pytest_portspec.device.waiting import readable
from pytest_portspec.text import clip, printable

MAX_HOPS = 8
_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
_USER = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._@-]{0,63}")

Lookup = Callable[[str, "int | None", "str | None"], HostConfig | None]  # (name, port, user): its ssh_config


class JumpFailed(Exception):
    """A hop could not be reached or used; the message is the sentence to show."""


@dataclass(frozen=True)
class Hop:
    name: str  # as the ProxyJump names it
    host: str  # what is connected to (its ssh_config HostName, else the name)
    port: int
    user: str | None
    keys: tuple[str, ...] = ()
    identities_only: bool = False
    proxy_command: str | None = None  # the first hop's own ssh_config ProxyCommand

    @property
    def label(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.name}:{self.port}"


def parse_jumps(text: str) -> list[tuple[str | None, str, int | None]]:
    """(user, host, port) of each entry of `[user@]host[:port][,...]` (`ssh://` allowed); [] for
    `none`; ValueError saying what is wrong (the caller names where the text came from)."""
    if text.strip().lower() == "none":
        return []
    entries = [_entry(part.strip()) for part in text.split(",")]
    if len(entries) > MAX_HOPS:
        raise ValueError(f"more than {MAX_HOPS} jump hosts")
    return entries


def _entry(text: str) -> tuple[str | None, str, int | None]:
    where = text.removeprefix("ssh://")
    user, at, where = where.rpartition("@")
    if at and not _USER.fullmatch(user):
        raise ValueError(f"{clip(printable(user))!r} is not a user name")
    if where.startswith("["):
        host, bracket, rest = where[1:].partition("]")
        port_text = rest.removeprefix(":")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{clip(printable(text))!r} is not [user@]host[:port]")
    else:
        host, _, port_text = where.partition(":")
    if not (is_ip(host) or is_hostname(host) or _ALIAS.fullmatch(host)):
        raise ValueError(f"{clip(printable(text))!r} is not [user@]host[:port]")
    if port_text and (not port_text.isdigit() or not 1 <= int(port_text) <= 65535):
        raise ValueError(f"{clip(printable(text))!r}: the port is not a number 1-65535")
    return (user or None), host, (int(port_text) if port_text else None)


def plan(spec: str, source: str, lookup: Lookup, keys: tuple[str, ...], depth: int = 0) -> tuple[Hop, ...]:
    """The hops of a ProxyJump spec, first first (module docstring); ValueError with one sentence
    that names `source` (where the spec came from: an option, an inventory, a file:line)."""
    try:
        entries = parse_jumps(spec)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    hops: list[Hop] = []
    for index, (user, name, port) in enumerate(entries):
        config = lookup(name, port, user) or HostConfig(None, None, None)
        if index == 0 and config.proxy_jump:  # how the first hop itself is reached
            if depth >= MAX_HOPS:
                raise ValueError(
                    f"{config.proxy_where}: ProxyJump chains more than {MAX_HOPS} jump hosts (a loop?)"
                )
            hops.extend(plan(config.proxy_jump, f"{config.proxy_where}: ProxyJump", lookup, keys, depth + 1))
        hops.append(
            Hop(
                name=name,
                host=config.hostname or name,
                port=port or config.port or 22,
                user=user or config.user,
                keys=config.identity_files or keys,
                identities_only=config.identities_only,
                proxy_command=config.proxy_command if index == 0 and not config.proxy_jump else None,
            )
        )
    if len(hops) > MAX_HOPS:
        raise ValueError(f"ProxyJump chains more than {MAX_HOPS} jump hosts (a loop in ssh_config?)")
    return tuple(hops)


@dataclass(frozen=True)
class HopSettings:
    """How every hop is connected to: the device's timeouts, agent use and host key check."""

    connect_timeout: float
    channel_timeout: float
    allow_agent: bool
    new_check: Callable[[], HostKeyCheck]  # a check of its own for each hop (it records the outcome)


@dataclass
class Chain:
    """The open hops, first first; closing it closes every one, the last first."""

    hops: tuple[Hop, ...]
    settings: HopSettings
    clients: list[paramiko.SSHClient] = field(default_factory=list)
    checks: list[HostKeyCheck] = field(default_factory=list)

    @property
    def last(self) -> Hop:
        return self.hops[-1]

    def channel_to(self, host: str, port: int, through: int | None = None) -> paramiko.Channel:
        """A direct-tcpip channel from hop `through` (the last by default) to host:port."""
        index = len(self.clients) - 1 if through is None else through
        hop, transport = self.hops[index], self.clients[index].get_transport()
        timeout = self.settings.channel_timeout
        if transport is None or not transport.is_active():
            raise JumpFailed(f"jump host {hop.label}: the SSH connection was lost")
        try:
            return transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout)
        except paramiko.ChannelException as exc:
            why = clip(printable(exc.text or "refused"))
            hint = " (is AllowTcpForwarding off there?)" if exc.code == 1 else ""
            raise JumpFailed(
                f"jump host {hop.label} could not open a connection to {host}:{port}: {why}{hint}"
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if "timeout" in str(exc).lower():
                raise JumpFailed(
                    f"jump host {hop.label} did not open a connection to {host}:{port} within {timeout:g} s"
                ) from None
            raise JumpFailed(f"jump host {hop.label}: the SSH connection was lost: {_said(exc)}") from None

    def notes(self) -> list[str]:
        """Each hop's host key note ("jump host X: host key NOT verified ..."), for the report."""
        return [
            f"jump host {h.label}: {c.note}" for h, c in zip(self.hops, self.checks, strict=False) if c.note
        ]

    def verified(self) -> bool:
        return all(c.verified is not False for c in self.checks)

    def close(self) -> None:
        clients, self.clients = self.clients, []
        for client in reversed(clients):
            with contextlib.suppress(Exception):  # a hop already gone: nothing left to close
                client.close()


def open_chain(hops: tuple[Hop, ...], settings: HopSettings) -> Chain:
    """Connect to every hop in turn; JumpFailed naming the hop (every hop opened is closed then)."""
    chain = Chain(hops, settings)
    try:
        for index, hop in enumerate(hops):
            sock = chain.channel_to(hop.host, hop.port) if index else _first_socket(hop)
            chain.clients.append(_connect(hop, sock, settings, chain))
    except BaseException:
        chain.close()
        raise
    return chain


class ProxyCommand(paramiko.ProxyCommand):
    """paramiko's, but closing a command that has already exited is no error: paramiko 5.1 kills
    its pid regardless and raises ProcessLookupError, from our close and from its own clean-up
    at exit."""

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()

    def recv(self, size: int) -> bytes:
        """paramiko's waits with select(), which fails on a descriptor above 1023 (device/waiting.py)."""
        buffer, started, out = b"", time.monotonic(), self.process.stdout
        assert out is not None  # paramiko starts the command with stdout=PIPE
        while len(buffer) < size:
            left = None if self.timeout is None else self.timeout - (time.monotonic() - started)
            if left is not None and left <= 0:
                if buffer:
                    return buffer  # a partial read, as paramiko's
                raise TimeoutError
            try:
                if readable(out, left):
                    buffer += os.read(out.fileno(), size - len(buffer))
            except OSError as exc:  # as paramiko's: the command's failure
                raise paramiko.ProxyCommandFailure(" ".join(self.cmd), str(exc)) from None
        return buffer


def _first_socket(hop: Hop) -> paramiko.ProxyCommand | None:
    if hop.proxy_command is None:
        return None
    try:
        return ProxyCommand(hop.proxy_command)
    except (OSError, ValueError) as exc:
        raise JumpFailed(f"jump host {hop.label}: its ProxyCommand cannot be started: {_said(exc)}") from None


def _connect(
    hop: Hop, sock: paramiko.Channel | paramiko.ProxyCommand | None, settings: HopSettings, chain: Chain
) -> paramiko.SSHClient:
    check = settings.new_check()
    try:
        client = open_client(hop, sock, check, settings)
    except Exception as exc:  # paramiko raises many types: each becomes one sentence
        timeout = settings.connect_timeout
        reason = check.explain(exc) or connect_failure(exc, hop.host, hop.port, hop.user, timeout)
        raise JumpFailed(f"jump host {hop.label}: {reason}") from None
    chain.checks.append(check)
    return client


class Endpoint(Protocol):
    """What an SSH connection is opened to: a hop, or the device's route."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def user(self) -> str | None: ...
    @property
    def keys(self) -> tuple[str, ...]: ...
    @property
    def identities_only(self) -> bool: ...


def open_client(
    to: Endpoint,
    sock: paramiko.Channel | paramiko.ProxyCommand | None,
    check: HostKeyCheck,
    settings: HopSettings,
) -> paramiko.SSHClient:
    """An authenticated client whose host key `check` judged; on failure closed, the exception raised."""
    client = checking_client(check)
    timeout = settings.connect_timeout
    try:
        client.connect(
            to.host,
            port=to.port,
            username=to.user,
            key_filename=key_files(to.keys),
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            channel_timeout=settings.channel_timeout,
            allow_agent=settings.allow_agent and not to.identities_only,
            look_for_keys=not to.keys,
            sock=sock,
        )
    except BaseException:
        client.close()
        raise
    return client


def key_files(keys: tuple[str, ...]) -> Any:
    """What SSHClient.connect takes for several key files: a list (its type stubs say one string)."""
    return list(keys) or None


def _said(exc: BaseException) -> str:
    return clip(printable(str(exc))) or type(exc).__name__
