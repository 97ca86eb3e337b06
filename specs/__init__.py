"""The vendor specs shipped with pytest-portspec (imported as pytest_portspec.specs)."""
