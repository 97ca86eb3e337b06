"""The lab's directory: a lock, SSH keys that outlive appliances, one state file per appliance.

$PORTSPEC_LAB_DIR (default /var/lib/portspec-lab)
├── lock                     serialises concurrent `portspec lab` invocations
├── keys/id_ed25519[.pub]    the lab user's key (the plugin logs in with it)
├── keys/hosts/NAME/         each appliance's persistent SSH host key
├── hosts.json               lab internet: host name -> address (while any appliance is up)
└── run/NAME/                everything of a running appliance; removed by `down`
    ├── state.json, known_hosts, sshd_config, sshd.log, etc/ (files mounted in the appliance)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_portspec.errors import LabError
from pytest_portspec.lab.plan import MAX_APPLIANCES
from pytest_portspec.lab.system import run

LAB_DIR_ENV = "PORTSPEC_LAB_DIR"
DEFAULT_LAB_DIR = Path("/var/lib/portspec-lab")
NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,30}")


MACHINE_LOCK = Path("/run/portspec-lab.lock")  # several lab directories share the machine's link names


@contextmanager
def _flock(path: Path) -> Iterator[None]:
    with open(path, "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def lab_dir() -> Path:
    return Path(os.environ.get(LAB_DIR_ENV) or DEFAULT_LAB_DIR)


RESERVED_NAMES = {"inet", "seg0", "seg1", "seg2", "seg3"}  # the lab internet's and sites' namespaces


def check_name(name: str) -> str:
    if name in RESERVED_NAMES:
        raise LabError(f"appliance name {name!r} is reserved by the lab; choose another with --name")
    if not NAME_PATTERN.fullmatch(name):
        raise LabError(f"appliance name {name!r}: use lower-case letters, digits and '-' (at most 31)")
    return name


@dataclass(frozen=True)
class Store:
    root: Path

    @classmethod
    def default(cls) -> Store:
        return cls(lab_dir())

    @property
    def tag(self) -> str:
        """Keeps the namespaces of another lab directory (the test suite's) apart from the default's."""
        if self.root == DEFAULT_LAB_DIR:
            return ""
        return "-" + hashlib.sha1(str(self.root.resolve()).encode()).hexdigest()[:6]

    def namespace(self, name: str) -> str:
        return f"pslab{self.tag}-{name}"

    def run_dir(self, name: str) -> Path:
        return self.root / "run" / name

    @contextmanager
    def lock(self) -> Iterator[None]:
        """This lab directory's lock, and the machine's: appliance numbers and links are machine-wide."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o755)
        with _flock(self.root / "lock"), _flock(MACHINE_LOCK):
            yield

    def user_key(self) -> Path:
        key = self.root / "keys" / "id_ed25519"
        if not key.exists():
            key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "portspec-lab", "-f", str(key)])
        return key

    def host_key(self, name: str) -> Path:
        key = self.root / "keys" / "hosts" / name / "ssh_host_ed25519_key"
        if not key.exists():
            key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"portspec-lab {name}", "-f", str(key)])
        return key

    def states(self) -> list[dict[str, Any]]:
        found = []
        for path in sorted((self.root / "run").glob("*/state.json")):
            try:
                found.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                found.append({"name": path.parent.name, "status": "broken"})
        return found

    def state(self, name: str) -> dict[str, Any] | None:
        path = self.run_dir(name) / "state.json"
        if not path.exists():
            return None
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"name": name, "status": "broken"}
        return data

    def save(self, state: dict[str, Any]) -> None:
        directory = self.run_dir(state["name"])
        directory.mkdir(parents=True, exist_ok=True, mode=0o755)
        temporary = directory / "state.json.tmp"
        temporary.write_text(json.dumps(state, indent=2), encoding="utf-8")
        temporary.replace(directory / "state.json")

    def free_index(self) -> int:
        """The lowest appliance number no state claims and no other lab directory's links use."""
        used = {s.get("index") for s in self.states()}
        for index in range(1, MAX_APPLIANCES + 1):
            if index not in used and not Path(f"/sys/class/net/psl{index}m").exists():
                return index
        raise LabError(f"the lab is full ({MAX_APPLIANCES} appliances)")
