"""pytest plugin entry point (pytest11: portspec): hooks and fixtures only, wired to the core."""

from pytest_portspec.lab.fixture import portspec_lab

__all__ = ["portspec_lab"]
