"""`portspec draft --scan` from an emulated SmartServer: the draft lists every socket the appliance
listens on and every rule of its ufw (read here, as root inside the appliance, not through the
draft's own path), the scan from the tester finds nothing else open on the clean appliance, and
`portspec lint` refuses the draft until each observation is replaced by a quote."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_portspec.cli import main
from pytest_portspec.lab.appliance import enter
from pytest_portspec.lab.fixture import Appliance, LabSession
from pytest_portspec.parse.sockets import parse_listening


def as_root(appliance: Appliance, command: str) -> str:
    done = subprocess.run(
        [*enter(int(appliance.state["pids"]["sshd"])), "sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def ufw_rule_lines(status: str) -> list[str]:
    """The rule lines of `ufw status verbose`, single-spaced (the table after its `--` line)."""
    lines = status.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("--"))
    return [" ".join(line.split()) for line in lines[start + 1 :] if line.strip()]


def cited(data: Any) -> Any:
    if isinstance(data, dict):
        if set(data) == {"observed"}:
            return {"quote": "the vendor's words"}
        return {k: cited(v) for k, v in data.items()}
    return [cited(v) for v in data] if isinstance(data, list) else data


def test_a_draft_lists_every_listener_and_rule_and_lint_refuses_it_until_cited(
    lab: LabSession, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the quotes put in below are no vendor document's: lint checks the spec, not the citations
    # against the documents (CI's test command exports PORTSPEC_DOCS for the packaged specs)
    monkeypatch.delenv("PORTSPEC_DOCS", raising=False)
    appliance = lab.up("smartserver", name="drafted", enable=["all"])
    out = tmp_path / "smartserver-draft.yaml"
    assert main(["draft", "--device", "lab:drafted", "-o", str(out), "--scan", "--scan-rate", "20000"]) == 0
    text = out.read_text()
    data = yaml.safe_load(text)
    assert "a scan from the tester of 198.18." in data["description"]
    assert not [r["id"] for r in data["rows"] if r["id"].startswith("scan-")]  # it saw nothing else open
    flat = " ".join(text.split())

    sockets = parse_listening(as_root(appliance, "ss -H -tulpn"))
    assert len(sockets) > 10
    inbound = {(r["proto"], r["ports"]) for r in data["rows"] if r["direction"] == "in"}
    for sock in sockets:
        assert (sock.proto, sock.port) in inbound, sock.text
    rules = ufw_rule_lines(as_root(appliance, "ufw status verbose"))
    assert len(rules) > 10
    for line in rules:
        assert line in flat, line
    assert data["rows"] and all("observed" in r["citation"] for r in data["rows"])

    capsys.readouterr()
    assert main(["lint", str(out)]) == 1
    err = capsys.readouterr().err
    problems = [line for line in err.splitlines() if "a draft observation" in line]
    assert len(problems) == len(data["rows"]) + 1 + len(data.get("notes", []))  # the rows, default, notes
    assert all(line.startswith(f"{out}:") for line in problems)

    out.write_text(yaml.safe_dump(cited(data), sort_keys=False), encoding="utf-8")
    assert main(["lint", str(out)]) == 0, capsys.readouterr().err
