"""Running system commands for the lab, and checking that the machine can run it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from pytest_portspec.errors import LabCommandError, LabError

# tool -> Debian package that provides it
TOOLS = {
    "ip": "iproute2",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "ufw": "ufw",
    "iptables": "iptables",
    "ebtables": "iptables",  # the nft-based ebtables of the iptables package: a site's path blocks
    "dnsmasq": "dnsmasq-base",
    "sudo": "sudo",
    "ss": "iproute2",
    "tc": "iproute2",  # the hidden-listener drift's redirects
    "nft": "nftables",  # the kernel model's native nftables rules, and the lab's nft drifts
    "ipset": "ipset",  # sets that iptables rules match against
}
# netcat-openbsd: the probes' nc fallback is tested against a real nc
# openssl: password hashes for the sudo-password drift
PACKAGES = sorted(set(TOOLS.values()) | {"procps", "openssh-client", "netcat-openbsd", "openssl"})
SBIN = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
TIMEOUT = 20.0


def which(tool: str) -> str | None:
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(SBIN)
    return shutil.which(tool, path=path)


def require_lab_host() -> None:
    """One clear sentence when the machine cannot run the lab."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, sshd, ufw): run it as root or with sudo")
    missing = [tool for tool in TOOLS if which(tool) is None]
    if missing:
        packages = " ".join(sorted({TOOLS[t] for t in missing}))
        raise LabError(
            f"missing system tool(s): {', '.join(missing)}; install them with "
            f"'portspec lab install-deps' (Debian packages: {packages})"
        )


def run(
    argv: Sequence[str], *, input: str | None = None, timeout: float = TIMEOUT, check: bool = True
) -> str:
    """Run a command without a shell; return its output or raise LabCommandError."""
    exe = which(argv[0]) or argv[0]
    try:
        done = subprocess.run(
            [exe, *argv[1:]],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LabCommandError(argv, -1, f"timed out after {timeout:g} s") from None
    except OSError as exc:
        raise LabCommandError(argv, -1, str(exc)) from None
    if check and done.returncode != 0:
        raise LabCommandError(argv, done.returncode, done.stderr or done.stdout)
    return done.stdout


def install_deps() -> list[str]:
    """apt-get the lab's system packages without starting their services on the host."""
    if os.geteuid() != 0:
        raise LabError("installing the lab's packages needs root")
    if which("apt-get") is None:
        raise LabError(f"no apt-get here: install these packages yourself: {' '.join(PACKAGES)}")
    policy = Path("/usr/sbin/policy-rc.d")
    created = not policy.exists()
    if created:  # keep sshd and friends from starting on the host during the install
        policy.write_text("#!/bin/sh\nexit 101\n", encoding="utf-8")
        policy.chmod(0o755)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        for argv in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
        ):
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
            if done.returncode != 0:
                raise LabCommandError(argv, done.returncode, done.stderr or done.stdout)
    finally:
        if created:
            policy.unlink()
    return PACKAGES
