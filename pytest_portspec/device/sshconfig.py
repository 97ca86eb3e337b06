"""The user's ssh_config, read without surprises (no network, no command run while reading it).

    host_config(path, alias, port=None, user=None) -> HostConfig    ValueError: one sentence, file:line

The file is read with paramiko's parser after `Include` is expanded (sshconfig_include.py, which
also refuses any `Match exec`, naming its file:line). What portspec honours, as OpenSSH does:

    HostName, Port (1-65535), User
    IdentityFile          every one, in order (tokens %d %u %h %r %p %n %% and ~)
    IdentitiesOnly        yes: no agent, no keys but the IdentityFile ones
    ProxyJump             [user@]host[:port][,...] or none: reach the host through jump hosts (jump.py)
    ProxyCommand          a command whose stdin/stdout is the connection (paramiko.ProxyCommand, run
                          without a shell; tokens %h %p %r %n %%), or none; of ProxyJump and
                          ProxyCommand the first one set wins, as in OpenSSH
    UserKnownHostsFile    the first file (~, %d, %u, %h, %r, %p, %n, %%); --known-hosts wins over it
    StrictHostKeyChecking yes / ask -> strict, accept-new / no / off -> accept-new (OpenSSH's "no"
                          records new keys too, but connects through a changed one: a sign-off
                          never does); --host-key-policy, when given, wins over it

Tokens are expanded here, not by paramiko (it has no `%%`): every `%` is hidden from its parser
and expanded with the host's final values (the command line's port and user win over the file's).
An unknown token is an error naming its line. known_hosts and the host key check: known_hosts.py.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass
from pathlib import Path

import paramiko

from pytest_portspec.device.address import STRICT_HOST_KEY_CHECKING, HostKeyPolicy
from pytest_portspec.device.known_hosts import (  # the names this module had before known_hosts.py
    HostKeyCheck,
    HostKeyRefused,
    KeyVerdict,
    KnownHosts,
    connect_failure,
    load_known_hosts,
    revoked,
)
from pytest_portspec.device.sshconfig_include import Expanded, expand, split_line
from pytest_portspec.text import clip, printable

__all__ = [
    "HostConfig",
    "HostKeyCheck",
    "HostKeyRefused",
    "KeyVerdict",
    "KnownHosts",
    "connect_failure",
    "host_config",
    "load_known_hosts",
    "revoked",
]

_PERCENT = "\ue000"  # stands for "%" while paramiko reads the text: it expands no token then
_TOKEN = re.compile(re.escape(_PERCENT) + "(.?)")
_STRICT = STRICT_HOST_KEY_CHECKING
_BOOLEAN = {"yes": True, "true": True, "no": False, "false": False}
_NAMES = {  # how the keywords are spelt in errors
    "identityfile": "IdentityFile",
    "identitiesonly": "IdentitiesOnly",
    "proxycommand": "ProxyCommand",
    "proxyjump": "ProxyJump",
    "userknownhostsfile": "UserKnownHostsFile",
}


@dataclass(frozen=True)
class HostConfig:
    """What ssh_config says about one host (None or empty: not set there)."""

    hostname: str | None
    port: int | None
    user: str | None
    identity_files: tuple[str, ...] = ()
    identities_only: bool = False
    proxy_jump: str | None = None  # as written (tokens expanded); "none" is None
    proxy_command: str | None = None  # tokens expanded; "none" is None
    known_hosts_file: str | None = None  # the first UserKnownHostsFile, expanded
    host_key_policy: HostKeyPolicy | None = None  # from StrictHostKeyChecking
    proxy_where: str = ""  # "file:line" of the ProxyJump or ProxyCommand, for its errors
    policy_where: str = ""  # "file:line" of the StrictHostKeyChecking, for the report

    @property
    def identity_file(self) -> str | None:
        return self.identity_files[0] if self.identity_files else None


@dataclass(frozen=True)
class _Lookup:
    """One host's raw values, the text they came from, and the values tokens stand for."""

    found: paramiko.SSHConfigDict
    expanded: Expanded
    tokens: dict[str, str]

    def raw(self, key: str) -> str | None:
        value = self.found.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        return None if value is None else str(value).replace(_PERCENT, "%")

    def where(self, key: str) -> tuple[int, str]:
        """(index, "file:line") of the line that set `key`: the first of that keyword whose value
        is the one found (else the first of that keyword at all); (-1, path) when none is."""
        wanted = _same(self.raw(key) or "")
        first = -1
        for index, line in enumerate(self.expanded.lines):
            parsed = split_line(line)
            if parsed is None or parsed[0] != key:
                continue
            first = index if first < 0 else first
            if _same(parsed[1]) == wanted:
                return index, self.expanded.where(index)
        return first, self.expanded.where(first) if first >= 0 else str(self.expanded.origins[0][0])

    def expanded_value(self, key: str, value: str) -> str:
        """`value` with its tokens expanded; ValueError naming the line for an unknown token."""

        def token(found: re.Match[str]) -> str:
            name = found.group(1).replace(_PERCENT, "%")
            if name not in self.tokens:
                at = self.where(key)[1]
                raise ValueError(f"{at}: {_NAMES[key]} uses the token %{name}, which portspec cannot expand")
            return self.tokens[name]

        return os.path.expanduser(_TOKEN.sub(token, value.replace("%", _PERCENT)))


def _same(value: str) -> str:
    """A value as paramiko keeps it (quotes off, `~` expanded), to find the line that set it."""
    value = value.strip()
    value = value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value
    return value.replace("~", os.path.expanduser("~"))


def host_config(path: Path, alias: str, port: int | None = None, user: str | None = None) -> HostConfig:
    """The settings of `alias` in the ssh_config file at `path`; `port` and `user` are the command
    line's (they win, and tokens stand for them); ValueError with one sentence naming file:line."""
    expanded = expand(path)
    hidden = expanded.text.replace("%", _PERCENT)
    try:
        found = paramiko.SSHConfig.from_text(hidden).lookup(alias)
    except Exception as exc:  # paramiko's parser raises several types: each is a sentence
        raise ValueError(f"{path}: cannot read the ssh_config file: {clip(printable(str(exc)))}") from None
    look = _Lookup(found, expanded, {})
    port = port or _port(look)
    hostname = look.raw("hostname")
    final_host = hostname.replace("%h", alias) if hostname else alias
    local = getpass.getuser()
    tokens = {
        "%": "%",
        "h": final_host,
        "n": alias,
        "p": str(port or 22),
        "r": user or look.raw("user") or local,
    }
    look = _Lookup(found, expanded, tokens | {"d": os.path.expanduser("~"), "u": local})
    proxy_key = _proxy_key(look)
    return HostConfig(
        hostname=final_host if hostname else None,
        port=port,
        user=look.raw("user"),
        identity_files=tuple(look.expanded_value("identityfile", f) for f in found.get("identityfile", [])),
        identities_only=_boolean(look, "identitiesonly"),
        proxy_jump=_proxy(look, "proxyjump") if proxy_key == "proxyjump" else None,
        proxy_command=_proxy(look, "proxycommand") if proxy_key == "proxycommand" else None,
        known_hosts_file=_known_hosts_file(look),
        host_key_policy=_policy(look),
        proxy_where=look.where(proxy_key)[1] if proxy_key else "",
        policy_where=look.where("stricthostkeychecking")[1] if "stricthostkeychecking" in found else "",
    )


def _port(look: _Lookup) -> int | None:
    text = look.raw("port")
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(
            f"{look.where('port')[1]}: Port {clip(printable(text))!r} is not a port number 1-65535"
        )
    return int(text)


def _proxy_key(look: _Lookup) -> str | None:
    """ProxyJump or ProxyCommand, whichever the file sets first for the host (OpenSSH's rule)."""
    keys = [k for k in ("proxyjump", "proxycommand") if k in look.found]
    return min(keys, key=lambda k: look.where(k)[0]) if keys else None


def _proxy(look: _Lookup, key: str) -> str | None:
    value = look.raw(key)
    if value is None or value.strip().lower() == "none":
        return None
    return look.expanded_value(key, value)


def _boolean(look: _Lookup, key: str) -> bool:
    value = look.raw(key)
    if value is None:
        return False
    if value.lower() not in _BOOLEAN:
        raise ValueError(f"{look.where(key)[1]}: {_NAMES[key]} {clip(printable(value))!r} is not yes or no")
    return _BOOLEAN[value.lower()]


def _known_hosts_file(look: _Lookup) -> str | None:
    value = look.raw("userknownhostsfile")
    if value is None:
        return None
    first = value.split()[0] if value.split() else ""
    if first.lower() == "none":
        return os.devnull  # no file: nothing is known, as OpenSSH has it
    return look.expanded_value("userknownhostsfile", first)


def _policy(look: _Lookup) -> HostKeyPolicy | None:
    value = look.raw("stricthostkeychecking")
    if value is None:
        return None
    if value.lower() not in _STRICT:
        raise ValueError(
            f"{look.where('stricthostkeychecking')[1]}: StrictHostKeyChecking {clip(printable(value))!r} "
            "is not yes, ask, accept-new, no or off"
        )
    return _STRICT[value.lower()]
