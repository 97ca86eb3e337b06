"""Project-wide test configuration: fixtures shared by every test directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def vendor_docs() -> Path:
    """The vendor documents the specs cite (../shared/vendor-docs, or $PORTSPEC_DOCS).

    They are part of the project's inputs, so their absence fails the test rather than
    skipping it: a citation nobody checked must not look like a checked one.
    """
    docs = Path(os.environ.get("PORTSPEC_DOCS") or ROOT.parent / "shared" / "vendor-docs")
    if not docs.is_dir():
        pytest.fail(f"vendor documents not found at {docs}; set PORTSPEC_DOCS")
    return docs
