"""A whole pytest run of the plugin against the fake device, in a pytester subprocess
(`from fakerun import fake_run`): the results file the plugin really writes, without a lab.

The conftest it writes swaps each device's SSH transport for a FakeTransport that answers the state
command with test_runner's captured sections (a SmartServer) and the proof with the same fingerprint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parent
CONFTEST = f"""
import sys

import pytest

sys.path.insert(0, {str(TESTS)!r})
from test_runner import PROOF, ok, sections  # noqa: E402

from pytest_portspec.plugin import REGISTRY  # noqa: E402
from pytest_portspec.device.state_command import MARK  # noqa: E402
from pytest_portspec.transport import FakeTransport  # noqa: E402


@pytest.hookimpl(trylast=True)  # after portspec's own: the devices exist
def pytest_configure(config):
    reg = config.stash.get(REGISTRY, None)
    for run in reg.runs if reg is not None else ():
        proof = ok(f"{{MARK}}fingerprint\\n{{PROOF}}\\n{{MARK}}rc=0\\n")
        run.transport = FakeTransport({{"ufw status verbose": ok(sections()), "sha256sum": proof}})
        run.probe_timeout = 0.2
"""


def fake_run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, Path]:
    """Run the plugin on `smartserver@127.0.0.1` (the fake device; inbound probes go to 127.0.0.1)."""
    pytester.makeconftest(CONFTEST)
    out = pytester.path / "results.json"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--device", "smartserver@127.0.0.1", "--portspec-json", str(out), *args
    )
    return result, out
