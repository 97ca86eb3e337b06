"""pytest-portspec: vendor port and firewall requirement tables as acceptance tests.

The public surface is small: load a spec, compute what it requires of one device, and
the exceptions. Everything else lives in modules that may change between releases.
"""

from pytest_portspec.catalog import find_spec
from pytest_portspec.errors import PortspecError, SelectionError, SpecError, SpecNotFoundError
from pytest_portspec.policy import EffectivePolicy, Expectation, effective_policy
from pytest_portspec.spec import Spec, load_spec

__version__ = "0.1.0"

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
