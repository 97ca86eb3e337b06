"""Running `ansible-inventory --list` on an Ansible inventory: the program, a pinned environment,
a total deadline and a cap on what it may print.

    ansible_list(path, limit) -> the --list JSON as a dict;  InventoryRunError: one sentence why not

The inventory is read with Ansible's own defaults, whatever the user's environment and
ansible.cfg say: a config could disable the INI or YAML plugin, turn an unparsable file into an
empty inventory with a warning, or a limit matching nothing into all hosts ignored; a cached
dynamic inventory could be stale. A dynamic inventory (an executable script, or a YAML file that
names an inventory plugin) is the user's own program: it runs, under the same deadline and cap.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from pytest_portspec.errors import PortspecError
from pytest_portspec.local_run import LocalRunError, run_local
from pytest_portspec.text import clip, printable

PROGRAM = "ansible-inventory"
DEADLINE = 60.0  # seconds for the whole run: a dynamic inventory may ask a cloud API
OUTPUT_CAP = 64 * 1024 * 1024  # bytes of JSON: some thousands of hosts with their vars
ERROR_CAP = 64 * 1024  # bytes of its diagnostics kept
INSTALL = "pip install 'pytest-portspec[ansible]'"
# Pinned over whatever the environment says (every other ANSIBLE_* variable is dropped).
PINNED = {
    "ANSIBLE_INVENTORY_ENABLED": "script,auto,yaml,ini,toml",  # the default order, without host_list
    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",  # an unreadable file is an error, not no hosts
    "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",  # so is one unreadable file of a directory
    "ANSIBLE_HOST_PATTERN_MISMATCH": "error",  # a limit that names nothing is an error
    "ANSIBLE_INVENTORY_CACHE": "false",  # a dynamic inventory is asked now, not read from a cache
    "ANSIBLE_NOCOWS": "true",
    "ANSIBLE_NOCOLOR": "true",
    "ANSIBLE_FORCE_COLOR": "false",
    "ANSIBLE_RETRY_FILES_ENABLED": "false",
    "ANSIBLE_DEPRECATION_WARNINGS": "false",
    "ANSIBLE_LOCALHOST_WARNING": "false",
    "ANSIBLE_VERBOSITY": "0",
}


class InventoryRunError(PortspecError):
    """ansible-inventory is missing, failed, ran too long or printed too much."""


def program() -> str | None:
    """ansible-inventory on PATH, else beside this Python (a venv's bin, not activated)."""
    return shutil.which(
        PROGRAM, path=os.pathsep.join((os.environ.get("PATH", ""), str(Path(sys.executable).parent)))
    )


def environment(config: Path, temp: Path) -> dict[str, str]:
    """The caller's environment without its ANSIBLE_* variables, plus ours: an empty config file
    (ANSIBLE_CONFIG also keeps an ansible.cfg in the working directory out) and a private temp dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return env | PINNED | {"ANSIBLE_CONFIG": str(config), "ANSIBLE_LOCAL_TEMP": str(temp)}


def ansible_list(path: Path, limit: str | None = None, *, deadline: float = DEADLINE) -> dict[str, Any]:
    exe = program()
    if exe is None:
        raise InventoryRunError(f"{path} is an Ansible inventory and {PROGRAM} is not installed: {INSTALL}")
    argv = [exe, "-i", str(path), "--list", *([f"--limit={limit}"] if limit else [])]  # "-x" stays a value
    with tempfile.TemporaryDirectory(prefix="portspec-ansible-") as tmp:
        config = Path(tmp) / "ansible.cfg"
        config.write_text("", encoding="utf-8")
        code, out, err = _run(argv, environment(config, Path(tmp)), deadline)
    if code != 0:
        raise InventoryRunError(f"{PROGRAM} failed on {path} (exit {code}): {_diagnostics(err)}")
    try:
        data = json.loads(out)
    except ValueError as exc:  # a dynamic inventory's own output among the JSON, say
        raise InventoryRunError(f"{PROGRAM} printed no JSON for {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InventoryRunError(f"{PROGRAM} printed no inventory for {path}: a JSON {type(data).__name__}")
    return data


def _diagnostics(err: bytes) -> str:
    """Its error lines (not the warnings or tracebacks around them), one printable line, clipped."""
    lines = [line.strip() for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("[ERROR]")] or lines[-3:]
    return clip(printable(" ".join(errors) or "no diagnostics"), 600)


def _run(argv: list[str], env: dict[str, str], deadline: float) -> tuple[int, bytes, bytes]:
    """Run it under the deadline and caps (local_run kills its whole session past either)."""
    try:
        done = run_local(argv, deadline=deadline, output_cap=OUTPUT_CAP, env=env, error_cap=ERROR_CAP)
    except LocalRunError as exc:
        path = argv[2]
        if exc.kind == "deadline":
            raise InventoryRunError(f"{PROGRAM} ran longer than {deadline:g} s on {path}: stopped") from None
        if exc.kind == "output":
            raise InventoryRunError(
                f"{PROGRAM} printed more than {OUTPUT_CAP // 1024} KiB for {path}: stopped"
            ) from None
        raise InventoryRunError(f"cannot run {PROGRAM}: {exc}") from None
    return done.code, done.out, done.err
