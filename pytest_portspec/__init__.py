"""pytest-portspec: vendor port and firewall requirement tables as acceptance tests."""

__version__ = "0.1.0"
