"""Least privilege, for real: an SSH user whose only sudo rights are the drop-in `portspec sudoers`
prints gets the verdicts of a full-root run and the read-only proof; a user without sudo rights
gets one clear device error naming the command sudo refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_portspec.lab.fixture import Appliance, LabSession

DEVICE = "smartserver@lab:leastpriv"
FULL_ROOT = "portspec ALL=(ALL) NOPASSWD: ALL\n"  # the lab's own rule (lab/appliance.py)


def run_plugin(pytester: pytest.Pytester, *args: str, device: str = DEVICE) -> tuple[dict[str, Any], str]:
    out = pytester.path / "results.json"
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--probe-timeout",
        "1",
        "--portspec-json",
        str(out),
        "--device",
        device,
        *args,
    )
    text = result.stdout.str()
    assert result.ret in (0, 1) and "Traceback" not in text, text[-3000:]
    return json.loads(out.read_text()), text


def sudo_rule(appliance: Appliance, text: str) -> None:
    """The lab user's sudo rights, replaced: the appliance's /etc/sudoers.d is its own (a bind mount of
    the run directory's etc/sudoers.d), so the host's sudo never changes."""
    rule = Path(appliance.state["known_hosts"]).parent / "etc" / "sudoers.d" / "portspec-lab"
    rule.write_text(text, encoding="utf-8")
    rule.chmod(0o440)


def drop_in(tmp_path: Path) -> str:
    """What `portspec sudoers --user portspec` prints, checked by visudo as the header says."""
    portspec = Path(sys.executable).parent / "portspec"
    text = subprocess.run(
        [str(portspec), "sudoers", "--user", "portspec"], check=True, capture_output=True, text=True
    ).stdout
    path = tmp_path / "portspec.sudoers"
    path.write_text(text, encoding="utf-8")
    subprocess.run(["visudo", "-cf", str(path)], check=True, capture_output=True)
    return text


def outcomes(data: dict[str, Any]) -> dict[str, str]:
    return {r["nodeid"]: r["outcome"] for r in data["results"]}


@pytest.fixture(scope="module")
def appliance(lab: LabSession) -> Iterator[Appliance]:
    # drifts that make the verdicts varied: a service down, an extra port open
    up = lab.up("smartserver", name="leastpriv", enable=["all"], drifts=["stop:nginx", "ufw-allow:502/tcp"])
    yield up
    lab.down(up)


def test_the_drop_in_alone_gives_the_verdicts_of_full_root(
    appliance: Appliance, pytester: pytest.Pytester, tmp_path: Path
) -> None:
    full, _ = run_plugin(pytester, "--sudo-mode", "shell")
    sudo_rule(appliance, drop_in(tmp_path))
    try:
        assert appliance.run("sudo -n true")[0] != 0  # no longer root for anything else
        assert appliance.run("sudo -n sh -c id")[0] != 0
        least, text = run_plugin(pytester)  # --sudo-mode commands is the default
    finally:
        sudo_rule(appliance, FULL_ROOT)
    device = least["devices"][0]
    assert device["error"] is None, device["error"]
    assert device["read_only"] is True and device["read_only_problem"] is None
    assert full["devices"][0]["read_only"] is True
    assert outcomes(least) == outcomes(full)
    assert {"passed", "failed"} <= set(outcomes(least).values())
    assert "sudo refused" not in text
    # the services run as root: their programs are unreadable to the SSH user, and the evidence says so
    assert "checked by its name only" in json.dumps(least) and "program /" in json.dumps(full)


def test_a_user_without_sudo_rights_gets_one_error_naming_the_refused_command(
    appliance: Appliance, pytester: pytest.Pytester
) -> None:
    sudo_rule(appliance, "")
    try:
        data, text = run_plugin(pytester)
    finally:
        sudo_rule(appliance, FULL_ROOT)
    error = data["devices"][0]["error"]
    assert "sudo refused `ufw status verbose`" in error and "`portspec sudoers`" in error
    assert set(outcomes(data).values()) == {"error"}
    assert "sudo refused `ufw status verbose`" in text


def test_the_password_mode_reads_with_a_sudo_per_command_and_never_shows_the_password(
    lab: LabSession, pytester: pytest.Pytester
) -> None:
    up = lab.up("coppercube", name="leastpw", drifts=["sudo-password"])
    try:
        password = Path(up.state["sudo_password_file"]).read_text()
        os.environ["LEAST_SUDO_PASSWORD"] = password
        data, text = run_plugin(
            pytester, "--sudo-password-env", "LEAST_SUDO_PASSWORD", device="coppercube@lab:leastpw"
        )
        device = data["devices"][0]
        assert device["error"] is None and device["read_only"] is True
        out = pytester.path / "results.json"
        assert password not in text and password not in out.read_text()
        assert password not in (Path(up.state["known_hosts"]).parent / "sshd.log").read_text()
    finally:
        os.environ.pop("LEAST_SUDO_PASSWORD", None)
        lab.down(up)
