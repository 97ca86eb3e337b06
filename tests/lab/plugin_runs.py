"""Running the plugin in a pytest subprocess against the emulator, and reading its results file."""

from __future__ import annotations

import json
from typing import Any

import pytest


def run_plugin(pytester: pytest.Pytester, *args: str) -> dict[str, Any]:
    """pytest with the plugin's arguments; the results file, with the terminal output as "stdout"."""
    out = pytester.path / "results.json"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--probe-timeout", "1", "--portspec-json", str(out), *args
    )
    assert result.ret in (0, 1), result.stdout.str()[-3000:]
    data: dict[str, Any] = json.loads(out.read_text())
    data["stdout"] = result.stdout.str()
    return data
