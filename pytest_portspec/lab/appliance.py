"""One emulated appliance: its namespace and links, a real sshd, real ufw, the vendor's sockets.

The appliance's processes run in its network namespace and in a private mount namespace
where the lab user, its sudo rule, the resolver and a per-appliance /etc/ufw are bind
mounts: the host's users, /etc/ufw and firewall never change.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import socket
from pathlib import Path
from typing import Any

from pytest_portspec.lab import forwards, internet
from pytest_portspec.lab.plan import MANAGEMENT_PORT, Addresses, AppliancePlan
from pytest_portspec.lab.processes import (
    add_veth,
    exited,
    ip_batch,
    no_forwarding,
    run_services,
    start,
    wait_for,
)
from pytest_portspec.lab.system import run

LAB_USER = "portspec"
LAB_UID = 64123

# Files of the appliance's /etc that are its own (bind-mounted in its mount namespace).
OVERLAY_FILES = ("passwd", "group", "shadow", "resolv.conf", "default/ufw")
OVERLAY_DIRS = ("sudoers.d", "ufw")
UFW_PRISTINE = {
    "ufw.conf",
    "user.rules",
    "user6.rules",
    "before.rules",
    "before6.rules",
    "after.rules",
    "after6.rules",
    "before.init",
    "after.init",
}

UFW_DRIVER = """
import gettext, json, sys
gettext.install("ufw")
import ufw.frontend
ui = ufw.frontend.UFWFrontend(False)
for argv in json.load(sys.stdin):
    pr = ufw.frontend.parse_command(["ufw", *argv])
    ui.do_action(pr.action, pr.data.get("rule", ""), pr.data.get("iptype", ""), True)
"""


def management_link(addresses: Addresses) -> str:
    return f"psl{addresses.index}m"


def create_links(ns: str, inet: internet.Internet, addresses: Addresses) -> None:
    i = addresses.index
    run(["ip", "netns", "add", ns])
    host_end = management_link(addresses)
    _add_veths(ns, inet, addresses)
    run(["ip", "addr", "add", f"{addresses.host}/24", "dev", host_end])
    run(["ip", "addr", "add", f"{addresses.host6}/64", "dev", host_end, "nodad"])
    run(["ip", "link", "set", host_end, "up"])
    batch = [
        f"link set psl{i}e name eth0",
        f"link set psl{i}x name eth1",
        "link set lo up",
        "link set eth0 up",
        "link set eth1 up",
        f"addr add {addresses.management}/24 dev eth0",
        f"addr add {addresses.management6}/64 dev eth0 nodad",  # both families, as most devices have
        f"addr add {addresses.uplink}/24 dev eth1",
        f"route add default via {addresses.gateway} dev eth1",
    ]
    ip_batch(ns, batch)
    no_forwarding(ns)
    _gateway_up(inet, addresses)


def _add_veths(ns: str, inet: internet.Internet, addresses: Addresses) -> None:
    """The appliance's two cables: management (to the host) and uplink (to the lab's internet)."""
    i = addresses.index
    add_veth(management_link(addresses), None, f"psl{i}e", ns)
    add_veth(inet.uplink_link(addresses), inet.namespace, f"psl{i}x", ns)


def _gateway_up(inet: internet.Internet, addresses: Addresses) -> None:
    """The internet's end of the uplink: the appliance's default gateway."""
    run(
        [
            "ip",
            "-n",
            inet.namespace,
            "addr",
            "add",
            f"{addresses.gateway}/24",
            "dev",
            inet.uplink_link(addresses),
        ]
    )
    run(["ip", "-n", inet.namespace, "link", "set", inet.uplink_link(addresses), "up"])


def write_overlay(run_dir: Path, addresses: Addresses, public_key: Path, plan: AppliancePlan) -> None:
    etc = run_dir / "etc"
    (etc / "default").mkdir(parents=True, exist_ok=True)
    for name in ("passwd", "group", "shadow"):
        shutil.copy2(Path("/etc", name), etc / name)
    with open(etc / "passwd", "a", encoding="utf-8") as f:
        f.write(f"{LAB_USER}:x:{LAB_UID}:{LAB_UID}:portspec lab:{run_dir / 'home'}:/bin/bash\n")
    with open(etc / "group", "a", encoding="utf-8") as f:
        f.write(f"{LAB_USER}:x:{LAB_UID}:\n")
    with open(etc / "shadow", "a", encoding="utf-8") as f:
        f.write(f"{LAB_USER}:{_password_hash(run_dir) if plan.sudo_password else '*'}:19000:0:99999:7:::\n")
    shutil.copytree("/etc/sudoers.d", etc / "sudoers.d", dirs_exist_ok=True)
    rule = etc / "sudoers.d" / "portspec-lab"
    tag = "" if plan.sudo_password else "NOPASSWD: "
    rule.write_text(f"{LAB_USER} ALL=(ALL) {tag}ALL\n", encoding="utf-8")
    rule.chmod(0o440)
    shutil.copytree("/etc/ufw", etc / "ufw", dirs_exist_ok=True)
    for pristine in Path("/usr/share/ufw").iterdir():  # start from the package's state, not the host's
        if pristine.name in UFW_PRISTINE:
            shutil.copy2(pristine, etc / "ufw" / pristine.name)
    shutil.copy2("/etc/default/ufw", etc / "default" / "ufw")
    (etc / "resolv.conf").write_text(f"nameserver {addresses.gateway}\n", encoding="utf-8")
    home = run_dir / "home"
    home.mkdir(exist_ok=True)
    _chown(home)
    (run_dir / "authorized_keys").write_text(public_key.read_text(encoding="utf-8"), encoding="utf-8")


def _password_hash(run_dir: Path) -> str:
    """A fresh sudo password for the lab user, kept in run_dir/sudo-password (0600); returns its hash."""
    password = secrets.token_urlsafe(12)
    keep = run_dir / "sudo-password"
    keep.touch(mode=0o600)
    keep.write_text(password, encoding="utf-8")
    return run(["openssl", "passwd", "-6", "-stdin"], input=password).strip()


def hide_ufw(pid: int) -> None:
    """The ufw-missing drift: inside the appliance only, /usr/sbin shows everything but ufw."""
    script = (
        "mkdir -p /run/portspec-sbin && mount --bind /usr/sbin /run/portspec-sbin && "
        "mount -t tmpfs -o mode=755 portspec-sbin /usr/sbin && "
        'for f in /run/portspec-sbin/*; do [ "${f##*/}" = ufw ] || ln -s "$f" /usr/sbin/; done'
    )
    run([*enter(pid), "sh", "-c", script])


def _chown(path: Path) -> None:
    os.chown(path, LAB_UID, LAB_UID)


def sshd_config(run_dir: Path, addresses: Addresses, host_key: Path) -> Path:
    config = run_dir / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"ListenAddress {addresses.management}:{MANAGEMENT_PORT}",
                f"HostKey {host_key}",
                f"PidFile {run_dir / 'sshd.pid'}",
                f"AuthorizedKeysFile {run_dir / 'authorized_keys'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin no",
                "UsePAM no",
                f"AllowUsers {LAB_USER}",
                # the lab directory may live below a world-writable /tmp in tests
                "StrictModes no",
                "LogLevel VERBOSE",
                "MaxStartups 100:30:200",
                "MaxSessions 64",
                "Subsystem sftp internal-sftp",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return config


def start_sshd(ns: str, run_dir: Path, addresses: Addresses, config: Path) -> int:
    """sshd in the appliance's network namespace and a private mount namespace of its own."""
    etc = run_dir / "etc"
    mounts = ["mount -t tmpfs -o mode=755 portspec-run /run", "mkdir -p /run/sshd"]
    mounts += [f"mount --bind {shlex.quote(str(etc / f))} {shlex.quote('/etc/' + f)}" for f in OVERLAY_FILES]
    mounts += [f"mount --bind {shlex.quote(str(etc / d))} {shlex.quote('/etc/' + d)}" for d in OVERLAY_DIRS]
    sshd = f"exec /usr/sbin/sshd -D -f {shlex.quote(str(config))} -E {shlex.quote(str(run_dir / 'sshd.log'))}"
    script = " && ".join([*mounts, sshd])
    pid = start(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            script,
        ],
        run_dir / "sshd.out",
    )
    wait_for(lambda: _accepts(addresses.management, MANAGEMENT_PORT) or exited(pid), 5.0, "sshd")
    if exited(pid) or not _accepts(addresses.management, MANAGEMENT_PORT):
        detail = (run_dir / "sshd.out").read_text(encoding="utf-8", errors="replace")
        raise RuntimeError(f"sshd did not start: {detail.strip() or 'no output'}")
    return pid


def _accepts(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.2):
            return True
    except OSError:
        return False


def enter(pid: int) -> list[str]:
    """The command prefix that runs a program inside the appliance (its mount and network namespaces)."""
    return ["nsenter", "-t", str(pid), "-m", "-n"]


def configure_ufw(pid: int, run_dir: Path, plan: AppliancePlan) -> None:
    """All rules through ufw's own frontend in one process (ufw checks its script's file)."""
    interpreter = Path("/usr/sbin/ufw").read_text(encoding="utf-8").splitlines()[0].removeprefix("#!").split()
    driver = run_dir / "ufw-apply.py"
    driver.write_text(UFW_DRIVER, encoding="utf-8")
    run([*enter(pid), *interpreter, str(driver)], input=json.dumps([list(c) for c in plan.ufw_commands]))
    if plan.ufw_enabled:
        run([*enter(pid), "ufw", "--force", "enable"])
    for proto, port, to in plan.forwards:  # in the appliance's own network namespace, after ufw
        nat = ["iptables", "-t", "nat", "-A", "PREROUTING", "-p", proto, "--dport", str(port)]
        run([*enter(pid), *nat, "-j", "REDIRECT", "--to-ports", str(to)])
    forwards.apply(enter(pid), plan.nat_forwards, plan.management)


def start_listeners(pid: int, plan: AppliancePlan) -> list[dict[str, Any]]:
    by_process: dict[str, list[dict[str, Any]]] = {}
    for item in plan.listeners:
        socket = {"proto": item.proto, "address": item.address, "port": item.port}
        by_process.setdefault(item.process, []).append(socket | ({"reply": item.reply} if item.reply else {}))
    groups = [{"name": process, "sockets": sockets} for process, sockets in by_process.items()]
    if not groups:
        return []
    return run_services(enter(pid), {"reuseport": False, "groups": groups})


def known_hosts_line(addresses: Addresses, host_key: Path) -> str:
    public = Path(f"{host_key}.pub").read_text(encoding="utf-8").split()
    return f"{addresses.management} {public[0]} {public[1]}\n"
