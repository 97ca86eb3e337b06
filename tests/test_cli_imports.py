"""The `portspec` command works on specs and results files without a device: its commands load
neither pytest, nor the SSH library, nor the emulator (the lab's own command line excepted: the
`lab` subcommand's arguments are part of the one parser), so `portspec lint` stays quick. The
template engine and the schema validator load only for the commands that read a results file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import resultstools as rt

# The lab package and the module that declares `portspec lab`'s arguments are what every
# command's parser needs; anything else of the lab (controller, namespaces, drifts) is not.
LAB_PARSER = ("pytest_portspec.lab", "pytest_portspec.lab.cli")
HEAVY_ROOTS = ("pytest", "_pytest", "paramiko", "cryptography")
RESULTS_ROOTS = ("jinja2", "jsonschema")  # what `report` and `diff` need, and nothing else


def loaded_heavy(
    argv: list[str] | None, roots: tuple[str, ...] = HEAVY_ROOTS
) -> tuple[int | None, list[str]]:
    """Import the CLI in a fresh interpreter, run `main(argv)` there, and return its exit code and
    the modules under `roots` (and of the lab) loaded by then."""
    code = (
        "import contextlib, io, json, sys\n"
        "import pytest_portspec.cli as cli\n"
        f"argv = {argv!r}\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):\n"
        "    rc = None if argv is None else cli.main(argv)\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {roots!r}\n"
        f"         or (m.startswith('pytest_portspec.lab') and m not in {LAB_PARSER!r})]\n"
        "print(json.dumps([rc, sorted(heavy)]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rc, heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    return rc, heavy


@pytest.mark.parametrize(
    "argv",
    [None, ["lint", "-q"], ["show", "smartserver"], ["list"], ["sudoers"]],
    ids=["import", "lint", "show", "list", "sudoers"],
)
def test_spec_commands_load_no_pytest_ssh_or_lab(argv: list[str] | None) -> None:
    rc, heavy = loaded_heavy(argv, HEAVY_ROOTS + RESULTS_ROOTS)
    assert rc in (None, 0)
    assert heavy == []


@pytest.fixture
def results_file(tmp_path: Path) -> Path:
    label = "smartserver[enhanced]@198.18.1.2"
    data = rt.results([rt.device(label)], [rt.result(label, "in-502-tcp", "ufw", "passed")])
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_report_and_diff_of_a_results_file_load_no_pytest_ssh_or_lab(results_file: Path) -> None:
    out = results_file.parent / "report.html"
    assert loaded_heavy(["report", str(results_file), "-o", str(out)]) == (0, [])
    assert "ACCEPTED" in out.read_text(encoding="utf-8")
    assert loaded_heavy(["diff", str(results_file), str(results_file)]) == (0, [])
