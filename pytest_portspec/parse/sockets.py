"""Listening sockets from `ss -H -tulpn` (or `netstat -tulpn` where ss is missing) (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import netaddr

_PROCESS = re.compile(r'\("([^"]*)",pid=(\d+)')


@dataclass(frozen=True)
class Socket:
    proto: Literal["tcp", "udp"]
    address: str  # "0.0.0.0", "::", "127.0.0.1", "198.18.1.2", "*"
    port: int
    processes: tuple[tuple[str, int], ...]  # (name, pid); empty when ss could not see the owner
    interface: str | None  # ss shows "0.0.0.0%eth0" for sockets bound to a device
    text: str  # the line it came from: evidence

    @property
    def v6(self) -> bool:
        return ":" in self.address

    @property
    def wildcard(self) -> bool:
        return self.address in ("0.0.0.0", "::", "*")

    @property
    def loopback(self) -> bool:
        if self.wildcard:
            return False
        try:
            return bool(netaddr.IPAddress(self.address).is_loopback())
        except (netaddr.AddrFormatError, ValueError):
            return False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for name, _ in self.processes))

    def describe(self) -> str:
        owner = ",".join(self.names) or "unknown process"
        where = f"[{self.address}]" if self.v6 else self.address
        return f"{self.proto} {where}:{self.port} ({owner})"


def _split_endpoint(text: str) -> tuple[str, str | None, int] | None:
    """'0.0.0.0:22', '[::]:22', '*:22', '127.0.0.1%lo:53' -> (address, interface, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]")
    interface = None
    if "%" in host:
        host, interface = host.split("%", 1)
    return host, interface, int(port)


def parse_ss(text: str) -> list[Socket]:
    """Lines of `ss -H -tulpn` (a header line, if present, is skipped)."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] not in ("tcp", "udp") or fields[1] not in ("LISTEN", "UNCONN"):
            continue
        endpoint = _split_endpoint(fields[4])
        if endpoint is None:
            continue
        address, interface, port = endpoint
        processes = tuple((name, int(pid)) for name, pid in _PROCESS.findall(line))
        found.append(Socket(fields[0], address, port, processes, interface, line.strip()))  # type: ignore[arg-type]
    return found


def parse_netstat(text: str) -> list[Socket]:
    """Lines of `netstat -tulpn` (net-tools): 'tcp 0 0 0.0.0.0:22 0.0.0.0:* LISTEN 812/sshd'."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or not fields[0].startswith(("tcp", "udp")) or len(fields) < 6:
            continue
        proto: Literal["tcp", "udp"] = "tcp" if fields[0].startswith("tcp") else "udp"
        if proto == "tcp" and "LISTEN" not in fields:
            continue
        endpoint = _split_endpoint(fields[3])
        if endpoint is None:
            continue
        address, interface, port = endpoint
        if fields[0].endswith("6") and address == "::":
            address = "::"
        owner = re.search(r"\s(\d+)/([^\s:]+)", line)  # "812/sshd", "900/nginx: master"
        processes = ((owner.group(2), int(owner.group(1))),) if owner else ()
        found.append(Socket(proto, address, port, processes, interface, line.strip()))
    return found


def read_listening(text: str) -> tuple[list[Socket], list[str]]:
    """The listening sockets of `ss -H -tulpn`, else of `netstat -tulpn`, and the socket lines
    neither could read."""
    found = parse_ss(text) or parse_netstat(text)
    read = {s.text for s in found}
    return found, [
        line.strip() for line in text.splitlines() if _is_listener(line) and line.strip() not in read
    ]


def _is_listener(line: str) -> bool:
    fields = line.split()
    if not fields or not fields[0].startswith(("tcp", "udp")):
        return False  # a header, a blank line
    return not fields[0].startswith("tcp") or "LISTEN" in fields  # netstat lists udp without a state


def parse_listening(text: str) -> list[Socket]:
    """Like read_listening, but ValueError if a socket line could not be read: a socket left out
    would vanish from the exposure audit, a pass it did not earn."""
    found, unread = read_listening(text)
    if unread:
        raise ValueError(f"{len(unread)} socket line(s) in a form this tool cannot read, e.g. {unread[0]!r}")
    return found
