"""pytest-portspec: vendor port and firewall requirement tables as acceptance tests.

The public surface is small: load a spec, compute what it requires of one device, and
the exceptions. Everything else lives in modules that may change between releases.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pytest_portspec.errors import PortspecError, SelectionError, SpecError, SpecNotFoundError

if TYPE_CHECKING:
    from pytest_portspec.spec import Spec, load_spec
    from pytest_portspec.spec.catalog import find_spec
    from pytest_portspec.spec.policy import EffectivePolicy, Expectation, effective_policy

__version__ = "0.1.0"

# imported on first use: pytest imports this package for every run, with or without a device
_LAZY = {
    "find_spec": "pytest_portspec.spec.catalog",
    "EffectivePolicy": "pytest_portspec.spec.policy",
    "Expectation": "pytest_portspec.spec.policy",
    "effective_policy": "pytest_portspec.spec.policy",
    "Spec": "pytest_portspec.spec",
    "load_spec": "pytest_portspec.spec",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EffectivePolicy",
    "Expectation",
    "PortspecError",
    "SelectionError",
    "Spec",
    "SpecError",
    "SpecNotFoundError",
    "__version__",
    "effective_policy",
    "find_spec",
    "load_spec",
]
