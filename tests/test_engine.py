"""The engine runs devices to an outcome without pytest (`engine.check`), and the plugin's items
only show the engine's verdicts: the same fake device gives the same outcome either way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fakerun import fake_run
from test_runner import PROOF, ok, sections

from pytest_portspec.checks.verdict import Verdict
from pytest_portspec.device.state_command import MARK
from pytest_portspec.engine import Settings, check
from pytest_portspec.errors import ConfigurationError

DEVICE = "smartserver@127.0.0.1"  # the fake device; inbound probes go to 127.0.0.1

CHILD = """
import json, sys
from pathlib import Path
from pytest_portspec.device.schemes import register
from pytest_portspec.device.contract import CommandResult
from pytest_portspec.device.fake import FakeTransport
from pytest_portspec.engine import Settings, check

state, proof = Path(sys.argv[1]).read_text(), Path(sys.argv[2]).read_text()
answers = {
    "ufw status verbose": CommandResult(0, state, "", 0.0),
    "sha256sum": CommandResult(0, proof, "", 0.0),
}
register("ssh", lambda target: FakeTransport(dict(answers)))
outcome = check([sys.argv[3]], Settings(probe_timeout=0.2))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pytest", "_pytest", "pluggy", "paramiko"))
print(json.dumps({"heavy": heavy, "outcomes": {r.nodeid: r.outcome for r in outcome.results}}))
"""


def engine_in_a_plain_interpreter(tmp_path: Path) -> dict[str, object]:
    state, proof = tmp_path / "state.txt", tmp_path / "proof.txt"
    state.write_text(sections(), encoding="utf-8")
    proof.write_text(f"{MARK}fingerprint\n{PROOF}\n{MARK}rc=0\n", encoding="utf-8")
    args = [sys.executable, "-c", CHILD, str(state), str(proof), DEVICE]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, object] = json.loads(done.stdout)
    return found


def test_the_engine_checks_a_device_without_loading_pytest_and_agrees_with_the_plugin(
    tmp_path: Path, pytester: pytest.Pytester
) -> None:
    engine = engine_in_a_plain_interpreter(tmp_path)
    assert engine["heavy"] == []  # neither pytest nor its plugin manager nor the SSH library
    result, path = fake_run(pytester)
    plugin = {r["nodeid"]: r["outcome"] for r in json.loads(path.read_text())["results"]}
    outcomes = engine["outcomes"]
    assert isinstance(outcomes, dict) and list(outcomes) == list(plugin)  # the same checks, in order
    assert {"passed", "failed", "skipped"} <= set(plugin.values())
    # the tester's inbound probes of 127.0.0.1 depend on the host's sockets of the moment: the rest is exact
    differ = {n for n in plugin if outcomes[n] != plugin[n] and "::inbound" not in n}
    assert not differ, [(n, outcomes[n], plugin[n]) for n in sorted(differ)]
    assert result.ret == 1  # the fake device fails some rows


def test_a_bad_device_string_is_one_sentence_before_any_device_is_contacted() -> None:
    with pytest.raises(ConfigurationError, match="smartserver@"):
        check(["smartserver@[::1"], Settings())


def test_each_verdict_carries_its_final_outcome_after_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A `decide` of one's own replaces the waivers; a hook's pass is refused (only checks pass)."""
    from pytest_portspec.device import schemes
    from pytest_portspec.transport import FakeTransport

    state = ok(sections())
    proof = ok(f"{MARK}fingerprint\n{PROOF}\n{MARK}rc=0\n")
    monkeypatch.setitem(
        schemes._SCHEMES,
        "ssh",
        lambda target: FakeTransport({"ufw status verbose": state, "sha256sum": proof}),
    )
    seen: list[str] = []

    def decide(device: str, verdict: Verdict) -> Verdict | None:
        seen.append(verdict.outcome)
        if verdict.outcome == "failed":
            return Verdict(**{**verdict.__dict__, "outcome": "passed"})
        return None

    outcome = check([DEVICE], Settings(probe_timeout=0.2), decide=decide)
    refused = [r for r in outcome.results if "turned this failed verdict into a pass" in (r.observed or "")]
    assert len(refused) == seen.count("failed") > 0
    assert all(r.outcome == "error" for r in refused) and "failed" not in {r.outcome for r in outcome.results}
    assert "error" not in seen  # a verdict the checks could not reach is final: never offered to decide
    assert outcome.devices[0].read_only is True


FAKE_CONFTEST = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_runner import PROOF, ok, sections
from pytest_portspec.device.fake import FakeTransport, serve
from pytest_portspec.device.state_command import MARK

proof = ok(f"{{MARK}}fingerprint\\n{{PROOF}}\\n{{MARK}}rc=0\\n")
answers = {{"ufw status verbose": ok(sections()), "sha256sum": proof}}
serve("hall-2", FakeTransport(answers, address="127.0.0.1"))
"""


def test_a_conftest_serves_a_fake_device_to_the_device_string_fake_name(pytester: pytest.Pytester) -> None:
    """The transport is chosen by the host's scheme: `fake:NAME` is the fake device a conftest served."""
    pytester.makeconftest(FAKE_CONFTEST)
    out = pytester.path / "results.json"
    args = ["-p", "no:cacheprovider", "--probe-timeout", "0.2", "--portspec-json", str(out)]
    result = pytester.runpytest_subprocess("--device", "smartserver@fake:hall-2", *args)
    data = json.loads(out.read_text())
    assert [d["device"] for d in data["devices"]] == ["smartserver[enhanced]@fake:hall-2"]
    assert data["devices"][0]["error"] is None and data["devices"][0]["read_only"] is True
    assert all(r["nodeid"].startswith("smartserver[enhanced]@fake:hall-2::") for r in data["results"])
    assert result.ret == 1  # the captured SmartServer fails some rows, as with the fake run above
    unknown = pytester.runpytest_subprocess("--device", "smartserver@fake:hall-9", *args)
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    assert "no fake device 'hall-9' is served (served: hall-2)" in unknown.stderr.str()
    assert "Traceback" not in unknown.stderr.str()
