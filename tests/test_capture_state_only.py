"""`portspec capture-script` without a SPEC: the state alone, for a draft of a product that has
no spec yet. The script runs in sh on this machine (its reads only read); what it found here
does not matter, only that the bundle is whole and `portspec draft` reads it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from pytest_portspec.cli import main
from pytest_portspec.device import state_command as snap
from pytest_portspec.device.bundle_format import read_bundle


def test_without_a_spec_the_script_captures_the_state_and_sends_no_probe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["capture-script"]) == 0
    script = capsys.readouterr().out
    assert "offline evidence for the state alone (no spec: for a draft)" in script
    out = tmp_path / "state.bundle"
    done = subprocess.run(["sh", "-s", str(out)], input=script, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    bundle = read_bundle(out, "d")
    assert (bundle.meta["spec"], bundle.meta["profile"]) == ("-", "-")
    assert json.loads(bundle.sections["outbound-probes"]) == [] and bundle.sections["outbound"] == ""
    assert f"{snap.MARK}fingerprint" in bundle.sections["state"]

    assert main(["draft", "--device", f"bundle:{out}", "-o", str(tmp_path / "new-product.yaml")]) == 0
    draft = yaml.safe_load((tmp_path / "new-product.yaml").read_text())
    assert draft["name"] == "new-product" and "observed" in draft["default"]["citation"]


@pytest.mark.parametrize(
    "args", [["--profile", "standard"], ["--enable", "lon"], ["--dest", "ntp=198.18.0.9"], ["--role", "x"]]
)
def test_without_a_spec_the_options_that_choose_probes_are_refused(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert main(["capture-script", *args]) == 2
    refusal = f"{args[0]} need(s) a SPEC: without one the script captures the state alone"
    assert refusal in capsys.readouterr().err
