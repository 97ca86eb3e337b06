"""Starting and ending the lab's own processes, and the namespaces that hold them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_portspec.errors import LabCommandError
from pytest_portspec.lab.system import run, which


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def netns_pids(name: str) -> list[int]:
    if not netns_exists(name):
        return []
    out = run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in out.split() if p.isdigit()]


def ip_batch(namespace: str, commands: Sequence[str]) -> None:
    """Several `ip` commands in a namespace, in one process (`ip -n NAMESPACE -batch -`)."""
    run(["ip", "-n", namespace, "-batch", "-"], input="\n".join(commands) + "\n")


def add_veth(end: str, end_namespace: str | None, peer: str, peer_namespace: str) -> None:
    """A veth pair (a cable): `end` in `end_namespace` (None: the host's), `peer` in `peer_namespace`."""
    where = ["netns", end_namespace] if end_namespace else []
    run(["ip", "link", "add", end, *where, "type", "veth", "peer", "name", peer, "netns", peer_namespace])


def no_forwarding(namespace: str) -> None:
    """A new namespace may inherit forwarding from the host: the lab's never forward."""
    run(
        [
            "ip",
            "netns",
            "exec",
            namespace,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=0",
            "net.ipv6.conf.all.forwarding=0",
        ]
    )


def in_namespace(pid: int, namespace: str) -> bool:
    """Whether pid runs in that network namespace: a recorded pid may belong to someone else by now."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{namespace}").st_ino
    except OSError:
        return False


def start(argv: Sequence[str], log: Path) -> int:
    """A long-running process in its own session, output to a log file; returns its pid.

    posix_spawn rather than Popen: the lab's daemons outlive the object that started them.
    """
    exe = which(argv[0]) or argv[0]
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(exe, [exe, *argv[1:]], dict(os.environ), file_actions=actions, setsid=True)


def exited(pid: int) -> bool:
    """Whether our child `pid` has ended (and reap it if so)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not alive(pid)
    return done == pid


def run_services(namespace_argv: Sequence[str], config: dict[str, Any]) -> list[dict[str, Any]]:
    """Start socket holders (lab/services.py) inside a namespace; return their groups with pids."""
    argv = [*namespace_argv, sys.executable, "-m", "pytest_portspec.lab.services"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    try:
        done = subprocess.run(
            argv, input=json.dumps(config), capture_output=True, text=True, timeout=30, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        raise LabCommandError(argv, -1, "timed out after 30 s") from None
    result = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {"groups": [], "errors": []}
    if done.returncode != 0:
        groups: list[dict[str, Any]] = result.get("groups", [])
        kill([g["pid"] for g in groups])
        detail = "; ".join(result.get("errors", [])) or done.stderr
        raise LabCommandError(argv, done.returncode, detail)
    return list(result["groups"])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text(encoding="ascii").split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def kill(pids: Sequence[int], timeout: float = 2.0) -> None:
    """End our processes by PID: TERM, then KILL what is left when the time is up."""
    pids = [p for p in pids if p > 1 and alive(p)]
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        _reap()
        time.sleep(0.02)
    for pid in pids:
        if alive(pid):
            _signal(pid, signal.SIGKILL)
    _reap()


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise LabCommandError([what], -1, f"not ready after {timeout:g} s")
