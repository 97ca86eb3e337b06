"""How the SSH transport reaches a device: its options and its ssh_config entry, resolved once.

    resolve(settings) -> Route      ValueError: one sentence naming the option or the file:line

Precedence, as in OpenSSH (the command line first): --device's port, --ssh-user, --ssh-key over
ssh_config's Port, User, IdentityFile; --ssh-proxy-jump (or the inventory's proxy_jump; `none`
turns a configured one off) over ssh_config's ProxyJump / ProxyCommand; --known-hosts and
--host-key-policy, when the user gave them, over UserKnownHostsFile and StrictHostKeyChecking
(`SSHSettings.config_may_set` names those left at their defaults).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_portspec.device.address import HostKeyPolicy
from pytest_portspec.device.jump import Hop, plan
from pytest_portspec.device.sshconfig import HostConfig, host_config
from pytest_portspec.text import clip, printable

if TYPE_CHECKING:
    from pytest_portspec.device.ssh import SSHSettings

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


@dataclass(frozen=True)
class Route:
    host: str  # what the last hop (or the tester) connects to
    port: int
    user: str | None
    keys: tuple[str, ...]
    identities_only: bool
    known_hosts: Path
    host_key_policy: HostKeyPolicy
    hops: tuple[Hop, ...] = ()  # the jump hosts, first first
    proxy_command: str | None = None
    proxy_where: str = ""  # the ssh_config line of the ProxyCommand
    policy_where: str = ""  # the ssh_config line the host key policy came from ("": the options)

    @property
    def through(self) -> str:
        """ "jump host X" / "jump hosts X, Y" / "the ProxyCommand of FILE:LINE"; "" for a direct route."""
        if self.hops:
            labels = ", ".join(h.label for h in self.hops)
            return f"jump host{'s' if len(self.hops) > 1 else ''} {labels}"
        return f"the ProxyCommand of {self.proxy_where}" if self.proxy_command else ""

    def trust_note(self, notes: list[str]) -> str | None:
        """The hops' and the device's host key notes as one, naming the ssh_config line of the policy."""
        if not notes:
            return None
        origin = f" (the policy is ssh_config's StrictHostKeyChecking, {self.policy_where})"
        return "; ".join(notes) + (origin if self.policy_where else "")


def resolve(s: SSHSettings) -> Route:
    key = os.path.expanduser(s.key) if s.key else None
    config_path = Path(os.path.expanduser(s.ssh_config)) if s.ssh_config else None
    lookup = partial(_lookup, config_path)
    config = lookup(s.host, s.port, s.user) or HostConfig(None, None, None)
    keys = (key,) if key else config.identity_files
    hops, command = _proxy(s, config, lookup, (key,) if key else ())
    known = s.known_hosts if "known_hosts" not in s.config_may_set else None
    policy, policy_where = s.host_key_policy, ""
    if "host_key_policy" in s.config_may_set and config.host_key_policy is not None:
        policy, policy_where = config.host_key_policy, config.policy_where
    return Route(
        host=config.hostname or s.host,
        port=s.port or config.port or 22,
        user=s.user or config.user,
        keys=keys,
        identities_only=config.identities_only,
        known_hosts=Path(
            os.path.expanduser(known or config.known_hosts_file or s.known_hosts or DEFAULT_KNOWN_HOSTS)
        ),
        host_key_policy=policy,
        hops=hops,
        proxy_command=command,
        proxy_where=config.proxy_where if command else "",
        policy_where=policy_where,
    )


def _lookup(path: Path | None, name: str, port: int | None, user: str | None) -> HostConfig | None:
    if path is None or not path.is_file():
        return None
    return host_config(path, name, port, user)


def _proxy(
    s: SSHSettings, config: HostConfig, lookup: partial[HostConfig | None], keys: tuple[str, ...]
) -> tuple[tuple[Hop, ...], str | None]:
    """(the jump hosts, the ProxyCommand): the option's, else ssh_config's."""
    if s.proxy_jump is not None:
        source = f"the proxy jump {clip(printable(s.proxy_jump))!r}"
        return plan(s.proxy_jump, source, lookup, keys), None
    if config.proxy_jump:
        return plan(config.proxy_jump, f"{config.proxy_where}: ProxyJump", lookup, keys), None
    return (), config.proxy_command
