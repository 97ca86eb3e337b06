"""The user's OpenSSH files, read without surprises: ssh_config and known_hosts (no network, no commands).

    host_config(path, alias) -> HostConfig        ValueError with one sentence naming file:line
    load_known_hosts(path)   -> KnownHosts         unreadable lines skipped, as OpenSSH does
    known.judge(name, key)   -> "match" | "mismatch" | "other-type" | "unknown" | "revoked"
    HostKeyCheck             paramiko's missing-host-key policy for strict, accept-new and ignore
    connect_failure(exc,...) the one sentence for a connection that failed

ssh_config is read with paramiko's parser, after a look of our own, because paramiko would run
the command of a `Match exec` line while looking a host up: such a file is refused, naming the
line. `Port` must be 1-65535. `ProxyCommand` / `ProxyJump` for the host are refused rather than
ignored (connecting directly would go past the jump host the user configured): not supported yet.

known_hosts: `@revoked` marks a key that is never accepted, for any host and under every
--host-key-policy (even `ignore`). `@cert-authority` lines are not supported: they are skipped, and
an unknown host that such a line names is told so. Hashed host names (`|1|...`) are understood.
The file named (--known-hosts, default ~/.ssh/known_hosts) is the only one read: when it does not
exist, strict refuses every key saying so, accept-new creates it with the first key (not its
directory), ignore has nothing to compare with. Under ignore the key is still compared, never
refused: `verified` and `note` say whether it matched ("host key does not match known_hosts").
"""

from __future__ import annotations

import errno
import os
import re
import shlex
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import paramiko

from pytest_portspec.text import clip, printable

KeyVerdict = Literal["match", "mismatch", "other-type", "unknown", "revoked"]
_MATCH = re.compile(r"\s*match(\s+|\s*=\s*)(?P<criteria>.*)", re.IGNORECASE)
_LONE_CRITERIA = {"all", "canonical", "final"}  # Match criteria without an argument
_PROXY_KEYS = ("proxycommand", "proxyjump")


@dataclass(frozen=True)
class HostConfig:
    """What ssh_config says about one host (None: not set there)."""

    hostname: str | None
    port: int | None
    user: str | None
    identity_file: str | None


def host_config(path: Path, alias: str) -> HostConfig:
    """The settings of `alias` in the ssh_config file at `path`; ValueError with one sentence."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ValueError(f"cannot read the ssh_config file {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(text.splitlines(), 1):
        if _runs_command(line):
            raise ValueError(
                f"{path}:{number}: `Match exec` would run a command: portspec does not run commands "
                "from ssh_config (pass --ssh-config with a file without it)"
            )
    try:
        found = paramiko.SSHConfig.from_text(text).lookup(alias)
    except Exception as exc:  # paramiko's parser raises several types: each is a sentence
        raise ValueError(f"{path}: cannot read the ssh_config file: {clip(printable(str(exc)))}") from None
    for key in _PROXY_KEYS:
        if found.get(key):
            raise ValueError(
                f"{path}: {key} is set for {alias}: reaching a device through a jump host is not "
                "supported yet, and connecting directly would bypass it"
            )
    return HostConfig(found.get("hostname"), _port(path, found.get("port")), found.get("user"), _first(found))


def _runs_command(line: str) -> bool:
    """Whether a line is a `Match` with an `exec` criterion (criteria are keyword-argument pairs,
    so `Match host exec` names a host called exec). An unparsable Match line is taken as one."""
    found = _MATCH.fullmatch(line)
    if found is None:
        return False
    try:
        words = shlex.split(found.group("criteria"), comments=True)
    except ValueError:
        return "exec" in line.lower()
    index = 0
    while index < len(words):
        keyword = words[index].lstrip("!").lower()
        if keyword == "exec":
            return True
        index += 1 if keyword in _LONE_CRITERIA else 2
    return False


def _port(path: Path, text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{path}: Port {clip(printable(text))!r} is not a port number 1-65535")
    return int(text)


def _first(found: paramiko.SSHConfigDict) -> str | None:
    files = found.get("identityfile")
    return os.path.expanduser(files[0]) if files else None


@dataclass
class KnownHosts:
    """The keys of a known_hosts file (revoked ones taken out), and what it marks."""

    keys: paramiko.HostKeys = field(default_factory=paramiko.HostKeys)
    revoked: set[tuple[str, str]] = field(default_factory=set)  # (key type, base64)
    authorities: list[str] = field(default_factory=list)  # host patterns of @cert-authority lines

    def judge(self, name: str, key: paramiko.PKey) -> KeyVerdict:
        """How the key a server presented under `name` ("host" or "[host]:port") compares."""
        if (key.get_name(), key.get_base64()) in self.revoked:
            return "revoked"
        entries = self.keys.lookup(name)
        if entries is None:
            return "unknown"
        known = entries.get(key.get_name())
        if known is None:
            return "other-type"
        return "match" if known.get_base64() == key.get_base64() else "mismatch"

    def authority_note(self, name: str) -> str:
        """A clause saying that @cert-authority lines name this host, or ""."""
        host = name[1:].split("]:")[0] if name.startswith("[") else name
        if any(_pattern_matches(p, host) or _pattern_matches(p, name) for p in self.authorities):
            return " (known_hosts names a @cert-authority for it: host certificates are not supported)"
        return ""


def load_known_hosts(path: Path) -> KnownHosts:
    """Every usable line of the file; OSError if it cannot be read."""
    known = KnownHosts()
    plain: list[tuple[list[str], paramiko.PKey]] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if fields[0] == "@revoked" and len(fields) >= 4:
                known.revoked.add((fields[2], fields[3]))
            elif fields[0] == "@cert-authority" and len(fields) >= 2:
                known.authorities.extend(fields[1].split(","))
            elif not fields[0].startswith("@"):
                entry = _entry(" ".join(fields[:3]))
                if entry is not None:
                    plain.append(entry)
    for names, key in plain:
        if (key.get_name(), key.get_base64()) not in known.revoked:
            for name in names:
                known.keys.add(name, key.get_name(), key)
    return known


def _entry(line: str) -> tuple[list[str], paramiko.PKey] | None:
    try:
        entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
    except Exception:  # a line paramiko cannot read (bad base64, unknown key type): skipped, as OpenSSH does
        return None
    if entry is None or entry.key is None:
        return None
    return list(entry.hostnames), entry.key


def _pattern_matches(pattern: str, host: str) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return not pattern.startswith("!") and re.fullmatch(regex, host) is not None


class HostKeyRefused(paramiko.SSHException):
    """The host key is not accepted; the message is the sentence to show."""


class HostKeyCheck(paramiko.MissingHostKeyPolicy):
    """Decides on a host key the client holds no entry for, and records the outcome.

    strict and accept-new: the client holds the known keys (paramiko compares a known host's key
    itself, preferring its type; a mismatch is BadHostKeyException), so this sees unknown hosts
    only. ignore: the client holds none, so this sees every key, compares it without ever
    refusing (a revoked key excepted) and says how it compared.
    """

    def __init__(self, policy: str, known: KnownHosts, path: Path) -> None:
        self.policy, self.known, self.path = policy, known, path
        self.verified: bool | None = None  # None: paramiko compared the key itself (it matched)
        self.note: str | None = None  # a sentence for the report when the key was not verified

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        verdict = self.known.judge(hostname, key)
        if verdict == "revoked":
            raise HostKeyRefused(revoked(hostname))
        if self.policy == "strict" and not self.path.exists():
            raise HostKeyRefused(
                f"the known_hosts file {self.path} does not exist, so the host key of {hostname} cannot be "
                "verified: pass --known-hosts FILE, or --host-key-policy accept-new to record it on first use"
            )
        if self.policy == "strict":
            raise HostKeyRefused(
                f"{hostname} is not in known_hosts ({self.path}){self.known.authority_note(hostname)}: "
                "add its key, pass --known-hosts, or --host-key-policy accept-new to trust it on first use"
            )
        if self.policy == "accept-new":
            self._record(hostname, key)
            self.verified = False
            self.note = (
                f"host key NOT verified: first use, recorded in {self.path} (--host-key-policy accept-new)"
            )
            return
        self.verified = verdict == "match"
        self.note = {
            "match": None,
            "mismatch": "host key does not match known_hosts (ignored: --host-key-policy ignore)",
            "other-type": "host key NOT verified: known_hosts has keys of other types only for it "
            "(--host-key-policy ignore)",
            "unknown": "host key NOT verified: not in known_hosts (--host-key-policy ignore)",
        }[verdict]

    def _record(self, hostname: str, key: paramiko.PKey) -> None:
        """OpenSSH's accept-new: the key is appended; the file is created if missing (not its directory)."""
        try:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        except OSError as exc:
            raise HostKeyRefused(
                f"cannot record the host key of {hostname} in {self.path}: {exc.strerror or exc}"
            ) from None

    def explain(self, exc: BaseException) -> str | None:
        """The sentence for a refusal of this check's making, or for a changed key that is revoked."""
        if isinstance(exc, HostKeyRefused):
            return str(exc)
        if (
            isinstance(exc, paramiko.BadHostKeyException)
            and (exc.key.get_name(), exc.key.get_base64()) in self.known.revoked
        ):
            return revoked(exc.hostname)
        return None


def revoked(hostname: str) -> str:
    return f"the host key of {hostname} is marked @revoked in known_hosts: refusing to connect"


def connect_failure(exc: Exception, host: str, port: int, user: str | None, timeout: float) -> str:
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
