"""Spec files: the vendor requirement tables as validated data."""

from pytest_portspec.spec.loader import load_spec
from pytest_portspec.spec.model import Spec

__all__ = ["Spec", "load_spec"]
