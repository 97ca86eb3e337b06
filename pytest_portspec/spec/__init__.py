"""Spec files: the vendor requirement tables as validated data, and the policies read from them.

`Spec` and `load_spec` load on first use: the plugin finds spec files (`catalog`) at pytest's
start without loading the YAML reader (tests/test_startup.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_portspec.spec.loader import load_spec
    from pytest_portspec.spec.model import Spec

__all__ = ["Spec", "load_spec"]
_LAZY = {"Spec": "pytest_portspec.spec.model", "load_spec": "pytest_portspec.spec.loader"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pytest_portspec.spec' has no attribute {name!r}")
