"""The old home of the device transports, kept for the imports of users' tests and ours:

    from pytest_portspec.transport import FakeTransport, CommandResult, SSHTransport, SSHSettings

They live in pytest_portspec/device/ now: the contract (contract.py), SSH (ssh.py), the fake
(fake.py) and the choice of transport by a device's host (schemes.py).
"""

from __future__ import annotations

from pytest_portspec.device.contract import CommandResult, Connection, Transport
from pytest_portspec.device.fake import FakeTransport
from pytest_portspec.device.ssh import CHANNEL_OPEN_TIMEOUT, CONNECT_STEPS, SSHSettings, SSHTransport

__all__ = [
    "CHANNEL_OPEN_TIMEOUT",
    "CONNECT_STEPS",
    "CommandResult",
    "Connection",
    "FakeTransport",
    "SSHSettings",
    "SSHTransport",
    "Transport",
]
