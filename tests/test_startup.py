"""pytest loads the plugin for every run of the environment, with or without a device: its
import stays light (no SSH library, no YAML parser, no spec machinery until a spec is used)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "paramiko",
    "yaml",
    "pytest_portspec.spec.loader",  # the spec machinery (the package itself is light: catalog lives there)
    "pytest_portspec.spec.model",
    "pytest_portspec.lab.controller",
    "pytest_portspec.plugin.session",
)


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, pytest, pytest_portspec.plugin\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_the_public_api_is_there_on_first_use() -> None:
    import pytest_portspec

    spec = pytest_portspec.find_spec("coppercube")
    assert isinstance(spec, pytest_portspec.Spec)
    assert pytest_portspec.effective_policy(spec).rows
