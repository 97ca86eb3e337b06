"""One read-only look at a device: a single batched remote command, split into sections (pure text work).

    state_command(sudo) -> the command; parse_sections(stdout) -> {section: (exit status, text)}

Every program run on the device only reads: `ufw status`, `cat`, `ss`, `*tables-save`, `sed`,
`sha256sum`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from pytest_portspec.addresses import check_ip, is_ip
from pytest_portspec.probe.outbound import tools_command

MARK = "==portspec=="
SECTIONS: dict[str, str] = {
    "probe-tools": tools_command(),
    "tools": "for t in python3 bash nc timeout ufw ss netstat iptables-save; do command -v $t || true; done",
    "ufw-status": "ufw status verbose",
    "user-rules": "cat /etc/ufw/user.rules",
    "user6-rules": "cat /etc/ufw/user6.rules",
    "default-ufw": "cat /etc/default/ufw",
    "sockets": "ss -H -tulpn || netstat -tulpn",
    # the nat table's port forwards (Docker's published ports): reachable whatever ufw's rules say.
    # Plain iptables-save lists only the tables that exist: naming `-t nat` could load a module
    "nat": "iptables-save 2>/dev/null | sed -n '/^\\*nat/,/^COMMIT/p'",
    "addresses": "ip -o addr show",
    "resolv": "cat /etc/resolv.conf",
    "time-servers": "cat /etc/systemd/timesyncd.conf /etc/systemd/timesyncd.conf.d/*.conf /etc/ntp.conf "
    "/etc/ntpsec/ntp.conf /etc/chrony/chrony.conf /etc/chrony.conf 2>/dev/null; true",
}
FINGERPRINT = (
    "sha256sum /etc/ufw/*.rules /etc/default/ufw /etc/ufw/ufw.conf 2>&1; "
    # rules only: comments carry a timestamp and chain lines packet counters, which traffic changes
    "(iptables-save | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]$//' | sha256sum) 2>&1; "
    "(ip6tables-save | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]$//' | sha256sum) 2>&1"
)
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _script(sections: dict[str, str]) -> str:
    parts = [f"export {PATH}; export LC_ALL=C"]
    for name, command in sections.items():
        parts.append(f'echo {shlex.quote(f"{MARK}{name}")}; ({command}) 2>&1; echo "{MARK}rc=$?"')
    return "; ".join(parts)


def as_root(script: str, sudo: bool, password: bool) -> str:
    """Run a script as root: `sudo -n` (no prompt, fails fast) or `sudo -S` with the password on stdin."""
    inner = f"sh -c {shlex.quote(script)}"
    if not sudo:
        return inner
    return f"sudo -S -p '' {inner}" if password else f"sudo -n {inner}"


def state_command(sudo: bool, password: bool = False) -> str:
    return as_root(_script({**SECTIONS, "fingerprint": FINGERPRINT}), sudo, password)


def fingerprint_command(sudo: bool, password: bool = False) -> str:
    return as_root(_script({"fingerprint": FINGERPRINT}), sudo, password)


@dataclass(frozen=True)
class Section:
    status: int
    text: str


def parse_sections(stdout: str) -> dict[str, Section]:
    sections: dict[str, Section] = {}
    name: str | None = None
    lines: list[str] = []
    for line in stdout.splitlines():
        if line.startswith(f"{MARK}rc="):
            if name is not None:
                status = line.removeprefix(f"{MARK}rc=")
                sections[name] = Section(int(status) if status.isdigit() else -1, "\n".join(lines))
            name, lines = None, []
        elif line.startswith(MARK):
            name, lines = line.removeprefix(MARK), []
        elif name is not None:
            lines.append(line)
    return sections


def own_addresses(ip_addr: str) -> list[str]:
    """The device's own addresses from `ip -o addr show` ('2: eth0    inet 198.18.1.2/24 brd ...')."""
    found: list[str] = []
    for line in ip_addr.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] in ("inet", "inet6"):
            address = fields[3].split("/", 1)[0]
            if is_ip(address):
                found.append(check_ip(address))
    return found


def resolvers(resolv_conf: str) -> list[str]:
    return re.findall(r"^\s*nameserver\s+(\S+)", resolv_conf, re.M)


def time_servers(config: str) -> list[str]:
    """Servers named by timesyncd (NTP=, FallbackNTP= only if no NTP=), ntpd or chrony configuration."""
    found: list[str] = []
    fallback: list[str] = []
    for line in config.splitlines():
        line = line.split("#", 1)[0].strip()
        key, _, value = line.partition("=")
        if key.strip() == "NTP":
            found += value.split()
        elif key.strip() == "FallbackNTP":
            fallback += value.split()
        else:
            words = line.split()
            if len(words) >= 2 and words[0] in ("server", "pool", "peer"):
                found.append(words[1])
    return list(dict.fromkeys(found or fallback))
