"""One read-only look at a device: a single batched remote command, split into sections (pure text work).

    state_command(sudo) -> the command; parse_sections(stdout) -> {section: (exit status, text)}

Every program run on the device only reads: `ufw status`, `cat`, `ss`, `*tables-save`, `nft list`,
`ipset save`, `ip`, `grep`, `sed`, `sha256sum`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from pytest_portspec.addresses import check_ip, is_ip
from pytest_portspec.probe.outbound import tools_command

MARK = "==portspec=="
_LEGACY = (
    "command -v {tool} >/dev/null || exit 127; iptables -V 2>/dev/null | grep -q nf_tables || exit 3; "
    "grep -q . /proc/net/ip{v}_tables_names 2>/dev/null || exit 3; {tool}"
)
# Loaded (or built in: /sys/module/NAME is there for most, and a kernel without /proc/modules loads
# nothing): only then is the netlink request safe, it cannot make the kernel load a module.
_LOADED = (
    "command -v {tool} >/dev/null || exit 127; "
    "[ -d /sys/module/{module} ] || [ ! -e /proc/modules ] || grep -qs '^{module} ' /proc/modules "
    "|| grep -qs '/{module}.ko' /lib/modules/$(uname -r)/modules.builtin || exit 3; {command}"
)
NOT_LOADED = 3  # the exit status of a section whose kernel part is not loaded (nothing to read)
SECTIONS: dict[str, str] = {
    "probe-tools": tools_command(),
    "tools": "for t in python3 bash nc timeout ufw ss netstat iptables-save; do command -v $t || true; done",
    "ufw-status": "ufw status verbose",
    "user-rules": "cat /etc/ufw/user.rules",
    "user6-rules": "cat /etc/ufw/user6.rules",
    "default-ufw": "cat /etc/default/ufw",
    "sockets": "ss -H -tulpn || netstat -tulpn",
    # The kernel's rulesets, every table (what the verdicts are judged on). Plain *tables-save lists
    # only the tables that exist: naming one (`-t nat`) could load a module, which changes the device.
    "iptables": "iptables-save",
    "ip6tables": "ip6tables-save",
    # With iptables-nft, rules loaded by iptables-legacy still filter: read them only when the legacy
    # tables are already there (reading /proc/net/ip_tables_names loads nothing).
    "iptables-legacy": _LEGACY.format(v="", tool="iptables-legacy-save"),
    "ip6tables-legacy": _LEGACY.format(v="6", tool="ip6tables-legacy-save"),
    # nft and ipset talk netlink, which can load their kernel modules: only when already loaded.
    # `nft -s`: stateless, without counters (traffic changes them; the model does not need them)
    "nft": _LOADED.format(tool="nft", module="nf_tables", command="nft -s -j list ruleset"),
    "ipset": _LOADED.format(tool="ipset", module="ip_set", command="ipset save"),
    "links": "ip -o link show",
    "routes": "ip -o route show",
    "routes6": "ip -6 -o route show",
    "addresses": "ip -o addr show",
    "resolv": "cat /etc/resolv.conf",
    "time-servers": "cat /etc/systemd/timesyncd.conf /etc/systemd/timesyncd.conf.d/*.conf /etc/ntp.conf "
    "/etc/ntpsec/ntp.conf /etc/chrony/chrony.conf /etc/chrony.conf 2>/dev/null; true",
}
FINGERPRINT = (
    "sha256sum /etc/ufw/*.rules /etc/default/ufw /etc/ufw/ufw.conf 2>&1; "
    # rules only: comments carry a timestamp and chain lines packet counters, which traffic changes
    "(iptables-save | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]$//' | sha256sum) 2>&1; "
    "(ip6tables-save | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]$//' | sha256sum) 2>&1; "
    # native nftables tables too, without their counters (only when nf_tables is loaded: see SECTIONS)
    "(("
    + _LOADED.format(tool="nft", module="nf_tables", command="nft -s list ruleset")
    + ") | sha256sum) 2>&1"
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


KERNEL_SECTIONS = (
    "iptables",
    "ip6tables",
    "iptables-legacy",
    "ip6tables-legacy",
    "nft",
    "ipset",
    "links",
    "routes",
    "routes6",
    "addresses",
)


def kernel_texts(sections: dict[str, Section]) -> dict[str, str | None]:
    """The kernel sections as text, None for a section that could not be read (its reason is kept
    under 'NAME!': the tool missing, not root), '' for one with nothing to read (module not loaded)."""
    found: dict[str, str | None] = {}
    for name in KERNEL_SECTIONS:
        section = sections.get(name)
        if section is None:
            found[name] = None
            found[f"{name}!"] = "not captured"
        elif section.status == NOT_LOADED:
            found[name] = ""
        elif section.status != 0:
            found[name] = None
            detail = section.text.strip().splitlines()
            found[f"{name}!"] = detail[-1][:200] if detail else f"exit status {section.status}"
        else:
            found[name] = section.text
    return found
