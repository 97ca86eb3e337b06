"""The checks: one module per kind of check, one registry of kinds (kinds.py), and the judging of a
device's checks (judging.py: planned, evaluate, judge).

This package stays light: the plugin reads the registry's names at load (its markers), before any
spec or device is known; the judging machinery is imported on first use of its names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_portspec.checks.judging import Judgement, checks_for, evaluate, judge, planned

_LAZY = ("Judgement", "checks_for", "evaluate", "judge", "planned")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("pytest_portspec.checks.judging"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Judgement", "checks_for", "evaluate", "judge", "planned"]
