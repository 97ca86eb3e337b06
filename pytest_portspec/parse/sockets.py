"""Listening sockets from `ss -H -tulpn` (or `netstat -tulpn` where ss is missing) (pure).

Which families a socket takes: ss prints `*` for an IPv6 socket on `::` that takes IPv4 too
(IPV6_V6ONLY off), `[::]` for one that takes IPv6 only, `0.0.0.0` for IPv4; an IPv6 socket on an
IPv4-mapped address (`::ffff:a.b.c.d`) receives IPv4 to a.b.c.d. Who holds it: parse/owners.py.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from typing import Literal

from pytest_portspec.parse.owners import NO_COLUMN, Entry, confirmed, parse_processes, users_column
from pytest_portspec.text import printable

Family = Literal[4, 6]
BOTH: tuple[Family, ...] = (4, 6)
NOT_CHECKED = "its process was not checked against the kernel's process names (no processes section)"
NETSTAT_NO_COLUMN = NO_COLUMN.replace("ss shows", "netstat shows").replace("ss was", "netstat was")
NO_OWNER = (NO_COLUMN, NETSTAT_NO_COLUMN)  # the listing names no process at all


@dataclass(frozen=True)
class Socket:
    proto: Literal["tcp", "udp"]
    address: str  # "0.0.0.0", "::", "127.0.0.1", "::ffff:127.0.0.1", "198.18.1.2", "*" (IPv4 and IPv6)
    port: int
    processes: tuple[Entry, ...]  # the owners established: (name, pid)
    interface: str | None  # ss shows "0.0.0.0%eth0" for sockets bound to a device
    text: str  # the line it came from, control characters escaped: evidence
    families: tuple[Family, ...] = ()  # the IP versions it takes; () -> from the address
    unclear: str = ""  # why an owner is not established ("" when every process holding it is known)
    claimed: tuple[Entry, ...] = ()  # what the process column names, not (yet) established
    owner_evidence: tuple[str, ...] = ()  # what the kernel said of the owners' pids

    def __post_init__(self) -> None:
        if not self.families:
            object.__setattr__(self, "families", _families(self.address))

    @property
    def wildcard(self) -> bool:
        return self.address in ("0.0.0.0", "::", "*")

    @property
    def local(self) -> str | None:
        """The one address it gets traffic to, in the family it takes (None: any address)."""
        if self.wildcard:
            return None
        return str(_mapped(self.address) or self.address)

    @property
    def loopback(self) -> bool:
        try:
            return self.local is not None and ipaddress.ip_address(self.local).is_loopback
        except ValueError:  # an address cut short (netstat): not known to be loopback
            return False

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the processes established to hold it."""
        return tuple(dict.fromkeys(name for name, _ in self.processes))

    @property
    def endpoint(self) -> str:
        where = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.proto} {where}:{self.port}"

    def describe(self) -> str:
        """'tcp 0.0.0.0:443 (nginx)'; '(unknown process)' when the listing shows none, '(owner
        unclear)' when what it shows could not be established, '(nginx, not checked)' when it was
        never checked against the kernel's names."""
        if self.names:
            owner = ",".join(self.names) + (", owner unclear" if self.unclear else "")
        elif self.claimed:  # the listing's word, never checked (a results file has no processes)
            owner = ",".join(dict.fromkeys(printable(name) for name, _ in self.claimed)) + ", not checked"
        else:
            owner = "unknown process" if not self.unclear or self.unclear in NO_OWNER else "owner unclear"
        both = "; IPv4 and IPv6" if self.families == BOTH else ""
        return f"{self.endpoint} ({owner}{both})"


def _mapped(address: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv6Address(address).ipv4_mapped
    except ValueError:
        return None


def _families(address: str) -> tuple[Family, ...]:
    if address == "*":
        return BOTH  # older ss printed IPv4's 0.0.0.0 as "*" too: both is the safe reading
    if ":" in address and _mapped(address) is None:
        return (6,)
    return (4,)


def _split_endpoint(text: str) -> tuple[str, str | None, int] | None:
    """'0.0.0.0:22', '[::]:22', '*:22', '127.0.0.1%lo:53', '[::1]%lo:631', 'fe80::1%eth0:22'
    -> (address, interface, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host, _, interface = host.partition("%")
    if host.startswith("[") and interface.endswith("]"):  # never from ss: "[fe80::1%eth0]"
        return None
    return host.removeprefix("[").removesuffix("]"), interface or None, int(port)


def _ss_families(address: str, bracketed: bool, line: str) -> tuple[Family, ...]:
    """ss puts IPv6 in brackets since iproute2 4.17, and then prints `*` for a socket on `::` that
    takes IPv4 too; an older ss printed `:::22` whatever IPV6_V6ONLY was (`-e` shows it)."""
    if address != "::" or bracketed:
        return _families(address)
    v6only = re.search(r"\bv6only:([01])\b", line)
    return (6,) if v6only and v6only.group(1) == "1" else BOTH


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
        families = _ss_families(address, fields[4].startswith("["), line)
        entries, problem = users_column(line)
        socket = Socket(fields[0], address, port, (), interface, printable(line.strip()), families)  # type: ignore[arg-type]
        found.append(replace(socket, claimed=entries, unclear=problem or NOT_CHECKED))
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
        # netstat cannot show IPV6_V6ONLY: a tcp6/udp6 socket on `::` may take IPv4 too
        families = BOTH if address == "::" else _families(address)
        owner = re.search(r"\s(\d+)/([^\s:]+)", line)  # "812/sshd", "900/nginx: master"
        claimed = ((owner.group(2), int(owner.group(1))),) if owner else ()
        unclear = NOT_CHECKED if owner else NETSTAT_NO_COLUMN
        socket = Socket(proto, address, port, (), interface, printable(line.strip()), families)
        found.append(replace(socket, claimed=claimed, unclear=unclear))
    return found


def cross_check(sockets: list[Socket], processes: str | None) -> list[Socket]:
    """Each socket's claimed owners established where the kernel's name for the pid is the one the
    listing shows; `processes` is the snapshot's processes section (None: not captured)."""
    if processes is None:
        return sockets
    table = parse_processes(processes)
    checked = []
    for s in sockets:
        if s.unclear != NOT_CHECKED:
            checked.append(s)  # no column, or one that reads more than one way: nothing to check
            continue
        problems = {entry: confirmed(entry, table) for entry in s.claimed}
        known = tuple(entry for entry, problem in problems.items() if not problem)
        evidence = tuple(table[pid].evidence() for _, pid in s.claimed if pid in table)
        unclear = "; ".join(dict.fromkeys(p for p in problems.values() if p))
        checked.append(replace(s, processes=known, claimed=(), unclear=unclear, owner_evidence=evidence))
    return checked


def read_listening(text: str) -> tuple[list[Socket], list[str]]:
    """The listening sockets of `ss -H -tulpn`, else of `netstat -tulpn`, and the socket lines
    neither could read."""
    found = parse_ss(text) or parse_netstat(text)
    read = {s.text for s in found}
    return found, [
        printable(line.strip())
        for line in text.splitlines()
        if _is_listener(line) and printable(line.strip()) not in read
    ]


def _is_listener(line: str) -> bool:
    """Every tcp/udp line of `ss -l` / `netstat -l` is a listener; one without a state this tool
    knows (an older ss's `tcp  0 128 *:25 ...`) is one it cannot read."""
    fields = line.split()
    return bool(fields) and fields[0].startswith(("tcp", "udp"))  # not a header or a blank line


def parse_listening(text: str) -> list[Socket]:
    """Like read_listening, but ValueError if a socket line could not be read: a socket left out
    would vanish from the exposure audit, a pass it did not earn."""
    found, unread = read_listening(text)
    if unread:
        raise ValueError(f"{len(unread)} socket line(s) in a form this tool cannot read, e.g. {unread[0]!r}")
    return found
