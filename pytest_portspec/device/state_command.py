"""One read-only look at a device: a single batched remote command, split into sections (pure text work).

    state_command(sudo, mode=...) -> the command; parse_sections(stdout) -> {section: (exit status, text)}

The reads that need root are privilege.READS (`portspec_root ...` in the script): each its own
`sudo -n` in --sudo-mode commands, the whole script under `sudo sh` in --sudo-mode shell.

Every program run on the device only reads: `ufw status`, `cat`, `ss`, `*tables-save`, `nft list`,
`ipset save`, `ip`, `grep`, `sed`, `sha256sum`, and for the processes section `tr`, `sort`, `head`,
`od`, `readlink`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from pytest_portspec.addresses import check_ip, is_ip
from pytest_portspec.device.privilege import SudoMode, remote, root
from pytest_portspec.probe.outbound import tools_command

MARK = "==portspec=="
_LEGACY = (
    "command -v {tool} >/dev/null || exit 127; iptables -V 2>/dev/null | grep -q nf_tables || exit 3; "
    "{names} 2>/dev/null | grep -q . || exit 3; {save}"
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
    "ufw-status": root("ufw-status"),
    "user-rules": root("user-rules"),
    "user6-rules": root("user6-rules"),
    "default-ufw": "cat /etc/default/ufw",
    "sockets": f"{root('ss')} || {root('netstat')}",
    # Who holds each socket as the kernel names it: ss's process column is text a process chooses
    # (`prctl`), and ss stops a name at its first ")". The pids are taken on the device through a
    # strictly numeric filter (nothing the device says reaches the shell unquoted), at most 512;
    # comm and exe are printed in hex, as a name may hold a tab or a newline: "PID<TAB>HEX<TAB>HEX".
    # They are read as the SSH user: comm (what owners are checked by) is world-readable; exe only
    # for the user's own processes unless the script runs as root (then it is evidence, not proof).
    "processes": f"({root('ss')} || {root('netstat')}) 2>/dev/null | grep -oE 'pid=[0-9]+|[0-9]+/' "
    "| tr -dc '0-9\\n' | sort -un | head -n 512 | while read -r p; do case $p in ''|*[!0-9]*) continue;; "
    'esac; printf \'%s\\t%s\\t%s\\n\' "$p" "$(od -An -tx1 "/proc/$p/comm" 2>/dev/null | tr -d \' \\n\')" '
    '"$(readlink "/proc/$p/exe" 2>/dev/null | od -An -tx1 | tr -d \' \\n\')"; done',
    # The kernel's rulesets, every table (what the verdicts are judged on). Plain *tables-save lists
    # only the tables that exist: naming one (`-t nat`) could load a module, which changes the device.
    "iptables": root("iptables-save"),
    "ip6tables": root("ip6tables-save"),
    # With iptables-nft, rules loaded by iptables-legacy still filter: read them only when the legacy
    # tables are already there (reading /proc/net/ip_tables_names loads nothing).
    "iptables-legacy": _LEGACY.format(
        tool="iptables-legacy-save", names=root("ip-tables-names"), save=root("iptables-legacy-save")
    ),
    "ip6tables-legacy": _LEGACY.format(
        tool="ip6tables-legacy-save", names=root("ip6-tables-names"), save=root("ip6tables-legacy-save")
    ),
    # nft and ipset talk netlink, which can load their kernel modules: only when already loaded.
    # `nft -s`: stateless, without counters (traffic changes them; the model does not need them)
    "nft": _LOADED.format(tool="nft", module="nf_tables", command=root("nft-json")),
    "ipset": _LOADED.format(tool="ipset", module="ip_set", command=root("ipset")),
    "links": "ip -o link show",
    "routes": "ip -o route show",
    "routes6": "ip -6 -o route show",
    "addresses": "ip -o addr show",
    "resolv": "cat /etc/resolv.conf",
    "time-servers": "cat /etc/systemd/timesyncd.conf /etc/systemd/timesyncd.conf.d/*.conf /etc/ntp.conf "
    "/etc/ntpsec/ntp.conf /etc/chrony/chrony.conf /etc/chrony.conf 2>/dev/null; true",
}
# A tool that is missing or fails must not hash its error text (the same both times: "unchanged");
# it says so on a `portspec-proof:` line and the section's status is not 0 (see proof_problem).
# Rules only: comments carry a timestamp and chain lines packet counters, which traffic changes.
_SAVE_HASH = (
    "if command -v {tool} >/dev/null; then t=$({command} 2>/dev/null) || "
    "{{ echo 'portspec-proof: {tool} failed'; exit 1; }}; "
    "printf '%s\\n' \"$t\" | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]$//' | sha256sum; "
    "else echo 'portspec-proof: {tool} is not installed'; exit 127; fi"
)
OPTIONAL = frozenset({"processes"})  # older captures and fakes lack it: owners are then not credited
FINGERPRINT = (
    "command -v sha256sum >/dev/null || { echo 'portspec-proof: sha256sum is not installed'; exit 127; }; "
    f"{root('ufw-files')} 2>&1; "
    + _SAVE_HASH.format(tool="iptables-save", command=root("iptables-save"))
    + "; "
    + _SAVE_HASH.format(tool="ip6tables-save", command=root("ip6tables-save"))
    + "; "
    # native nftables tables too, without their counters (only when nf_tables is loaded: see SECTIONS);
    # nft's stderr warns about tables iptables-nft manages: its exit status says whether it read them
    "t=$("
    + _LOADED.format(tool="nft", module="nf_tables", command=f"{root('nft')} 2>/dev/null")
    + "); case $? in 0|3|127) printf '%s\\n' \"$t\" | sha256sum;; "
    "*) echo 'portspec-proof: nft list ruleset failed'; exit 1;; esac"
)
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _script(sections: dict[str, str]) -> str:
    parts = [f"export {PATH}; export LC_ALL=C"]
    for name, command in sections.items():
        parts.append(f'echo {shlex.quote(f"{MARK}{name}")}; ({command}) 2>&1; echo "{MARK}rc=$?"')
    return "; ".join(parts)


def state_command(sudo: bool, password: bool = False, mode: SudoMode = "commands") -> str:
    """The snapshot, one remote command: `sudo -n` (no prompt, fails fast) per root read, or for the
    whole script in shell mode; with a password, `sudo -S` reads it from the command's stdin."""
    return remote(_script({**SECTIONS, "fingerprint": FINGERPRINT}), sudo=sudo, mode=mode, password=password)


def fingerprint_command(sudo: bool, password: bool = False, mode: SudoMode = "commands") -> str:
    return remote(_script({"fingerprint": FINGERPRINT}), sudo=sudo, mode=mode, password=password)


@dataclass(frozen=True)
class Section:
    status: int
    text: str


def section_text(sections: dict[str, Section], name: str) -> str | None:
    """A section's text, None when it is absent or its command failed."""
    section = sections.get(name)
    return section.text if section is not None and section.status == 0 else None


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


_HASH_LINE = re.compile(r"[0-9a-f]{64}  \S.*")
_NO_FILE = re.compile(r"sha256sum: .+: No such file or directory")
_RULESET_HASHES = 3  # iptables-save, ip6tables-save, nft (hashed from standard input: named "-")


def proof_problem(section: Section | None) -> str | None:
    """Why a fingerprint section cannot prove anything (None: it can): every line must be a sha256 of a
    file or a ruleset, or a file that does not exist (which the second fingerprint would see appear)."""
    if section is None:
        return "the fingerprint command gave no answer"
    lines = [line for line in section.text.splitlines() if line.strip()]
    said = [line.removeprefix("portspec-proof: ") for line in lines if line.startswith("portspec-proof: ")]
    if said or section.status != 0:
        return said[0] if said else f"the fingerprint command ended with status {section.status}"
    odd = [line for line in lines if not (_HASH_LINE.fullmatch(line) or _NO_FILE.fullmatch(line))]
    if odd:
        return f"the fingerprint has a line that is not a hash: {odd[0][:120]!r}"
    if sum(line.endswith("  -") for line in lines) != _RULESET_HASHES:
        return "the fingerprint lacks the hashes of the kernel's rulesets"
    return None


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
