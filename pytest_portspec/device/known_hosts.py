"""known_hosts, read without surprises, and the host key check every SSH hop uses (no network).

    load_known_hosts(path)   -> KnownHosts         unreadable lines skipped, as OpenSSH does
    known.judge(name, key)   -> "match" | "mismatch" | "other-type" | "unknown" | "revoked"
    HostKeyCheck             paramiko's missing-host-key policy for strict, accept-new and ignore
    connect_failure(exc,...) the one sentence for a connection that failed

`@revoked` marks a key that is never accepted, for any host and under every --host-key-policy
(even `ignore`). `@cert-authority` lines are not supported: they are skipped, and an unknown host
that such a line names is told so. Hashed host names (`|1|...`) are understood. The file named
(--known-hosts, else ssh_config's UserKnownHostsFile, else ~/.ssh/known_hosts) is the only one
read: when it does not exist, strict refuses every key saying so, accept-new creates it with the
first key (not its directory), ignore has nothing to compare with. Under ignore the key is still
compared, never refused: `verified` and `note` say whether it matched. A jump host's key is
checked by the same rules, with the same file, as the device's (jump.py).
"""

from __future__ import annotations

import errno
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import paramiko

KeyVerdict = Literal["match", "mismatch", "other-type", "unknown", "revoked"]


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


def host_key_check(policy: str, path: Path) -> HostKeyCheck:
    """The check for one connection, known_hosts read for the policy; OSError when it cannot be read.
    A missing file is no fallback to another one: under strict nothing can then be verified (the
    check says so once the host presents its key), under accept-new it is created with the first
    key (as OpenSSH does), under ignore nothing is compared."""
    return HostKeyCheck(policy, load_known_hosts(path) if path.exists() else KnownHosts(), path)


def checking_client(check: HostKeyCheck) -> paramiko.SSHClient:
    """A client that checks the host key by `check` (ignore: the check sees, and compares, every key)."""
    client = paramiko.SSHClient()
    if check.policy != "ignore":
        for name in list(check.known.keys):
            for kind, known in check.known.keys[name].items():
                client.get_host_keys().add(name, kind, known)
    client.set_missing_host_key_policy(check)
    return client
