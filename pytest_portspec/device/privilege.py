"""Least privilege: the snapshot's root reads as one fixed list of commands, and the sudoers drop-in
that allows exactly them (pure text work).

    root(key) -> the shell text of one root read;  remote(script, ...) -> the one remote command
    sudoers(user) -> the drop-in `portspec sudoers` prints;  refusal(stdout) -> a read sudo refused

Two sudo modes. `commands` (the default): the script runs as the SSH user, and each read in READS is
its own `sudo -n` invocation with fixed arguments, so a reviewer can grant exactly READS; pipes,
greps and loops run as the SSH user on their output. `shell`: the whole script runs as root
(`sudo -n sh -c SCRIPT`), for devices where that is accepted. Both run the same script, in which
every root read goes through the shell function `portspec_root`: only its definition differs, so
the sections, and the verdicts, are the same in both modes.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass
from typing import Literal

from pytest_portspec.text import clip, printable

SudoMode = Literal["commands", "shell"]
SUDO_MODES: tuple[SudoMode, ...] = ("commands", "shell")
ROOT = "portspec_root"  # the script's function that runs a root read
REFUSED = "portspec-sudo-refused: "  # what the script prints, on its own line, for a read sudo refused
ALIAS = "PORTSPEC_READS"
# ufw's files hashed for the read-only proof: named, not globbed (a sudo rule cannot hold a wildcard
# safely), in the order `/etc/ufw/*.rules` lists them, then the files that choose ufw's behaviour.
UFW_FILES = (
    "/etc/ufw/after.rules",
    "/etc/ufw/after6.rules",
    "/etc/ufw/before.rules",
    "/etc/ufw/before6.rules",
    "/etc/ufw/user.rules",
    "/etc/ufw/user6.rules",
    "/etc/default/ufw",
    "/etc/ufw/ufw.conf",
)


@dataclass(frozen=True)
class Read:
    """One read-only program run as root: its Debian/Ubuntu path and its fixed arguments."""

    path: str
    args: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def shell(self) -> str:
        """The read as the script runs it: by name (sudo finds the program on its secure_path and
        matches it to the rule by the file, so /sbin/x and /usr/sbin/x are one program)."""
        return f"{ROOT} {shlex.join((self.name, *self.args))}"

    def sudoers(self) -> str:
        """The read as a sudoers command: without arguments it must say "" (a bare path would
        allow every argument, `iptables-save -f FILE` writes a file)."""
        args = " ".join(_sudoers_escape(a) for a in self.args)
        return f"{self.path} {args}" if args else f'{self.path} ""'


def _sudoers_escape(arg: str) -> str:
    return re.sub(r"([,:=\\])", r"\\\1", arg)


# Every read that needs root, and nothing else. What a user may read (/etc/default/ufw, /proc/PID/comm,
# `ip`, /etc/resolv.conf) is read as the SSH user.
READS: dict[str, Read] = {
    "ufw-status": Read("/usr/sbin/ufw", ("status", "verbose")),
    "user-rules": Read("/usr/bin/cat", ("/etc/ufw/user.rules",)),
    "user6-rules": Read("/usr/bin/cat", ("/etc/ufw/user6.rules",)),
    "ss": Read("/usr/bin/ss", ("-H", "-tulpn")),  # the process column needs root
    "netstat": Read("/usr/bin/netstat", ("-tulpn",)),
    "iptables-save": Read("/usr/sbin/iptables-save"),
    "ip6tables-save": Read("/usr/sbin/ip6tables-save"),
    "ip-tables-names": Read("/usr/bin/cat", ("/proc/net/ip_tables_names",)),  # mode 0440
    "ip6-tables-names": Read("/usr/bin/cat", ("/proc/net/ip6_tables_names",)),
    "iptables-legacy-save": Read("/usr/sbin/iptables-legacy-save"),
    "ip6tables-legacy-save": Read("/usr/sbin/ip6tables-legacy-save"),
    "nft-json": Read("/usr/sbin/nft", ("-s", "-j", "list", "ruleset")),
    "nft": Read("/usr/sbin/nft", ("-s", "list", "ruleset")),
    "ipset": Read("/usr/sbin/ipset", ("save",)),
    "ufw-files": Read("/usr/bin/sha256sum", UFW_FILES),
}


def root(key: str) -> str:
    """The shell text of the root read `key` (KeyError for a read not in READS: none is made up)."""
    return READS[key].shell()


def _define_root(sudo: bool, mode: SudoMode, password: bool) -> str:
    """The script's `portspec_root` and, with a password, the line that reads it from stdin into a
    shell variable (not exported; printf is a builtin: the password is on no command line)."""
    if not sudo or mode == "shell":
        return f'{ROOT}() {{ "$@"; }}'  # the script already runs as root
    sudo_call = "printf '%s\\n' \"$portspec_pw\" | sudo -S -p ''" if password else "sudo -n"
    # A missing program is the shell's "not found" (status 127), as in shell mode. When sudo fails,
    # `sudo -l` tells a refusal (not allowed, a password needed) from the program's own failure;
    # a refusal is said on fd 9 (the script's stdout), past any 2>/dev/null or pipe.
    define = (
        f'{ROOT}() {{ command -v "$1" >/dev/null || {{ echo "sh: $1: not found" >&2; return 127; }}; '
        f'{sudo_call} -- "$@" && return 0; portspec_s=$?; '
        f'{sudo_call} -l -- "$@" >/dev/null 2>&1 || echo "{REFUSED}$*" >&9; return $portspec_s; }}'
    )
    return ("IFS= read -r portspec_pw; " if password else "") + "exec 9>&1; " + define


def remote(script: str, *, sudo: bool, mode: SudoMode, password: bool) -> str:
    """The one remote command that runs `script` (which calls `portspec_root` for root reads)."""
    inner = f"sh -c {shlex.quote(_define_root(sudo, mode, password) + '; ' + script)}"
    if not sudo or mode == "commands":
        return inner
    return f"sudo -S -p '' {inner}" if password else f"sudo -n {inner}"


_SUDO_SAYS = re.compile(
    r"sudo: .*|.*: sudo: not found|.*is not allowed to execute.*|Sorry, .*|.*incorrect password.*"
)


SUDO_PASSWORD_NEEDED = ("a password is required", "a terminal is required", "no tty present")


def sudo_problem(status: int, stdout: str, stderr: str, password_given: bool) -> str | None:
    """Why sudo kept a root read from running (one sentence), None when it did not."""
    if status != 0 and any(m in stderr for m in SUDO_PASSWORD_NEEDED):
        return (
            "sudo needs a password on this device: pass --sudo-password-env VAR "
            "(or --no-sudo when the SSH user is root)"
        )
    if status != 0 and "sudo:" in stderr:
        return f"sudo failed: {stderr.strip().splitlines()[-1]}"
    refused = refusal(stdout)
    if refused is not None:  # commands mode: one of the reads was not allowed
        return refusal_reason(*refused, password_given)
    return None


def refusal(stdout: str) -> tuple[str, str] | None:
    """The first read sudo refused and sudo's own words for it (a line just before, if sudo's), or
    None; both printable and clipped (the device could print such a line itself: then it is an error)."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(REFUSED):
            said = [x for x in lines[max(0, i - 3) : i] if _SUDO_SAYS.fullmatch(x)]
            return clip(printable(line.removeprefix(REFUSED))), clip(printable(said[-1])) if said else ""
    return None


def refusal_reason(command: str, said: str, password_given: bool) -> str:
    """One sentence for a read sudo refused, naming it and what to do."""
    if said.endswith("sudo: not found"):
        return f"sudo is not installed on this device (`{command}` needs root): install it, or --no-sudo"
    where = f"sudo refused `{command}`" + (f" ({said})" if said else "")
    if "password is required" in said and not password_given:
        return (
            "sudo needs a password on this device: pass --sudo-password-env VAR, or install the drop-in "
            f"`portspec sudoers` prints; {where}"
        )
    return f"{where}: the SSH user needs the sudo rule `portspec sudoers` prints (or use --sudo-mode shell)"


_USER = re.compile(r"%?[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?")


def sudoers(user: str, version: str) -> str:
    """The drop-in that allows `user` exactly the snapshot's root reads (ValueError: not a user name)."""
    if not _USER.fullmatch(user):
        raise ValueError(f"--user {user[:60]!r}: not a user name (or %group)")
    commands = sorted({read.sudoers() for read in READS.values()})
    alias = ", \\\n    ".join(commands)
    return "\n".join(
        [
            "# portspec: the sudo rule for `pytest --device ...` in --sudo-mode commands (the default).",
            f"# Generated by pytest-portspec {version} (`portspec sudoers --user {user}`).",
            "# It lets the SSH user run exactly the read-only commands of a portspec snapshot as root,",
            '# each with its fixed arguments ("" means: no arguments at all), and nothing else; what',
            "# a user may read anyway (ip, /etc/default/ufw, /proc/PID/comm) is read without sudo.",
            "# The paths are Debian's and Ubuntu's: elsewhere, put each program's `command -v NAME`.",
            "# Install: save it as portspec.sudoers, check it, then install it (a name without a dot:",
            "# sudo skips files in /etc/sudoers.d whose name holds one):",
            "#   visudo -cf portspec.sudoers && install -m 0440 portspec.sudoers /etc/sudoers.d/portspec",
            "# With --sudo-password-env, write PASSWD: instead of NOPASSWD: below.",
            f"Cmnd_Alias {ALIAS} = \\\n    {alias}",
            f"{user} ALL=(root) NOPASSWD: {ALIAS}",
            "",
        ]
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`portspec sudoers [--user NAME]`."""
    parser = commands.add_parser(
        "sudoers", help="print the sudoers drop-in that allows exactly the snapshot's read-only commands"
    )
    parser.add_argument("--user", default="portspec", help="the SSH user (or %%group) it is for")


def run_sudoers(args: argparse.Namespace) -> int:
    from pytest_portspec import __version__
    from pytest_portspec.errors import PortspecError

    try:
        print(sudoers(args.user, __version__), end="")
    except ValueError as exc:
        raise PortspecError(str(exc)) from None
    return 0
