"""How Ansible would log in to a host, as our SSH and sudo settings (pure).

    connection(host_vars) -> {InventoryDevice field: value}

ansible_host/port/user/ssh_private_key_file map one to one; the ssh arguments
(ansible_ssh_common_args, _extra_args, _args) are read option by option: those that choose where
and how we connect map to ours (ProxyJump, -J, a `ssh -W %h:%p` ProxyCommand, UserKnownHostsFile,
StrictHostKeyChecking, IdentityFile, Port, User), those that only tune the client are ignored,
and any other is a problem naming the host: never dropped silently. Become maps to `sudo -n` as
root, the only way portspec reads as root; another method or user is a problem.
"""

from __future__ import annotations

import shlex

from pytest_portspec.device.address import STRICT_HOST_KEY_CHECKING
from pytest_portspec.spec.ansible_vars import HostVars
from pytest_portspec.text import quoted

SSH_ARGS = ("ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args")
CONNECTIONS = frozenset({"ssh", "smart", "paramiko", "paramiko_ssh", "ansible.builtin.ssh"})
# ssh options that tune the client but not whom it reaches or whose key it trusts
TUNING = frozenset(
    {
        "controlmaster",
        "controlpersist",
        "controlpath",
        "serveraliveinterval",
        "serveralivecountmax",
        "connecttimeout",
        "connectionattempts",
        "compression",
        "loglevel",
        "tcpkeepalive",
        "forwardagent",
        "forwardx11",
        "identitiesonly",
        "hashknownhosts",
        "addkeystoagent",
        "checkhostip",
        "visualhostkey",
        "preferredauthentications",
        "pubkeyauthentication",
        "passwordauthentication",
        "kbdinteractiveauthentication",
        "challengeresponseauthentication",
        "gssapiauthentication",
        "gssapidelegatecredentials",
        "batchmode",
        "updatehostkeys",
        "requesttty",
        "ipqos",
        "hostkeyalgorithms",
        "pubkeyacceptedkeytypes",
        "pubkeyacceptedalgorithms",
        "kexalgorithms",
        "ciphers",
        "macs",
        "globalknownhostsfile",
    }
)
FLAGS = frozenset({"-q", "-C", "-T", "-t", "-tt", "-A", "-a", "-x", "-X", "-Y", "-v", "-vv", "-vvv", "-k"})
OTHER_WITH_VALUE = frozenset(f"-{c}" for c in "BbcDEeFILmOQRSWw")  # ssh's other flags with a value
WITH_VALUE = {"-o": "", "-J": "proxyjump", "-i": "identityfile", "-p": "port", "-l": "user"}
HOST_KEY_POLICY = STRICT_HOST_KEY_CHECKING
SUDO_FLAGS = frozenset({"-H", "-S", "-n", "-E"})  # Ansible's default "-H -S -n", and keeping the environment


def connection(hv: HostVars) -> dict[str, object]:
    kind = hv.text("ansible_connection")
    if kind is not None and kind.removeprefix("ansible.builtin.") not in CONNECTIONS:
        hv.problem("ansible_connection", f"{quoted(kind)}: portspec reaches devices over SSH only")
    found: dict[str, object] = {
        "host": _first_text(hv, "ansible_host", "ansible_ssh_host") or hv.host,
        "port": hv.port("ansible_port") if hv.has("ansible_port") else _ssh_port(hv),
        "ssh_user": _first_text(hv, "ansible_user", "ansible_ssh_user"),
        "ssh_key": hv.text("ansible_ssh_private_key_file")
        if hv.has("ansible_ssh_private_key_file")
        else None,
    }
    for var in SSH_ARGS:
        if hv.has(var):
            _ssh_arguments(hv, var, found)
    _password(hv, found)
    return found | _become(hv, found.get("ssh_user"))


def _first_text(hv: HostVars, *names: str) -> str | None:
    for var in names:
        if hv.has(var):
            return hv.text(var)
    return None


def _ssh_port(hv: HostVars) -> int | None:
    return hv.port("ansible_ssh_port") if hv.has("ansible_ssh_port") else None


def _ssh_arguments(hv: HostVars, var: str, found: dict[str, object]) -> None:
    text = hv.text(var)
    if text is None:
        return
    try:
        words = shlex.split(text)
    except ValueError as exc:
        hv.problem(var, f"{quoted(text)} is not a list of ssh arguments: {exc}")
        return
    while words:
        word = words.pop(0)
        flag = word[:2]
        if word in FLAGS:
            continue
        if flag not in WITH_VALUE:
            if flag in OTHER_WITH_VALUE and len(word) == 2 and words:  # -F FILE: one argument, one problem
                word = f"{word} {words.pop(0)}"
            hv.problem(
                var,
                f"ssh argument {quoted(word)} is not one portspec honours: use an ssh_config (--ssh-config)",
            )
            continue
        value = word[2:] or (words.pop(0) if words else "")
        if flag == "-o":
            key, _, setting = value.replace("=", " ", 1).partition(" ")
            _option(hv, var, key.strip().lower(), setting.strip(), found)
        else:
            _option(hv, var, WITH_VALUE[flag], value, found)


def _option(hv: HostVars, var: str, key: str, value: str, found: dict[str, object]) -> None:
    if key in TUNING:
        return
    if not value:
        hv.problem(var, f"ssh option {quoted(key)} without a value")
    elif key == "proxyjump":
        _set(hv, var, found, "proxy_jump", None if value.lower() == "none" else value)
    elif key == "proxycommand":
        _set(hv, var, found, "proxy_jump", _proxy_command(hv, var, value))
    elif key == "userknownhostsfile":
        if len(value.split()) > 1:
            hv.problem(var, f"UserKnownHostsFile {quoted(value)}: portspec reads one known_hosts file")
        _set(hv, var, found, "known_hosts", value.split()[0])
    elif key == "stricthostkeychecking":
        policy = HOST_KEY_POLICY.get(value.lower())
        if policy is None:
            hv.problem(var, f"StrictHostKeyChecking {quoted(value)}: expected yes, accept-new or no")
        _set(hv, var, found, "host_key_policy", policy)
    elif key in ("identityfile", "port", "user"):
        field = {"identityfile": "ssh_key", "port": "port", "user": "ssh_user"}[key]
        number = int(value) if key == "port" and value.isdigit() and 1 <= int(value) <= 65535 else None
        if key == "port" and number is None:
            hv.problem(var, f"ssh port {quoted(value)}: expected 1-65535")
        _set(hv, var, found, field, number if key == "port" else value)
    else:
        hv.problem(
            var, f"ssh option {quoted(key)} is not one portspec honours: use an ssh_config (--ssh-config)"
        )


def _set(hv: HostVars, var: str, found: dict[str, object], field: str, value: object) -> None:
    """One setting from the ssh arguments; a different one from a variable or another argument is a
    conflict the user must settle (which one ssh would take depends on the argument order)."""
    if value is None:
        return
    before = found.get(field)
    if before is not None and before != value:
        hv.problem(
            var, f"{field} {quoted(value)} conflicts with {quoted(before)} given elsewhere for this host"
        )
        return
    found[field] = value


def _proxy_command(hv: HostVars, var: str, command: str) -> str | None:
    """The classic jump recipe `ssh -W %h:%p [-q] [-p PORT] [-l USER] [USER@]JUMP` as a ProxyJump."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = []
    jump = _jump_of(words[1:]) if words[:1] == ["ssh"] else None
    if jump is None:
        hv.problem(
            var, f"ProxyCommand {quoted(command)}: portspec honours only `ssh -W %h:%p JUMP` (or ProxyJump)"
        )
    return jump


def _jump_of(args: list[str]) -> str | None:
    """The jump host of `ssh` arguments with `-W %h:%p`; None when they say anything more."""
    if "-W" not in args or args[args.index("-W") + 1 : args.index("-W") + 2] != ["%h:%p"]:
        return None
    i = args.index("-W")
    rest, user, port, hosts = args[:i] + args[i + 2 :], "", "", []
    while rest:
        word = rest.pop(0)
        if word in ("-p", "-l") and rest:
            value = rest.pop(0)
            port, user = (value, user) if word == "-p" else (port, value)
        elif word.startswith("-"):
            if word not in FLAGS:  # a jump key, an option: more than a ProxyJump can say
                return None
        else:
            hosts.append(word)
    if len(hosts) != 1:
        return None
    host = hosts[0] if not user or "@" in hosts[0] else f"{user}@{hosts[0]}"
    return f"{host}:{port}" if port else host


def _password(hv: HostVars, found: dict[str, object]) -> None:
    for var in ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password"):
        if hv.has(var) and found.get("ssh_key") is None:
            hv.problem(var, "portspec logs in with a key, not a password: give ansible_ssh_private_key_file")


def _become(hv: HostVars, user: object) -> dict[str, object]:
    become = hv.flag("ansible_become") if hv.has("ansible_become") else None
    if not become:  # without become, Ansible runs as the SSH user: root needs no sudo, another user does
        return {"sudo": False} if become is False and user == "root" else {}
    method = hv.text("ansible_become_method") if hv.has("ansible_become_method") else "sudo"
    if method is not None and method.removeprefix("ansible.builtin.") != "sudo":
        hv.problem("ansible_become_method", f"{quoted(method)}: portspec reads as root only through sudo -n")
    target = hv.text("ansible_become_user") if hv.has("ansible_become_user") else "root"
    if target is not None and target != "root":
        hv.problem("ansible_become_user", f"{quoted(target)}: portspec's reads need root")
    if hv.has("ansible_become_exe"):
        hv.problem("ansible_become_exe", "portspec runs sudo itself, not another become program")
    flags = hv.text("ansible_become_flags") if hv.has("ansible_become_flags") else None
    if flags is not None and not set(flags.split()) <= SUDO_FLAGS:
        hv.problem("ansible_become_flags", f"{quoted(flags)}: portspec runs `sudo -n` with fixed arguments")
    password = _first_text(hv, "ansible_become_password", "ansible_become_pass", "ansible_sudo_pass")
    return {"sudo": True, "sudo_password": password}
