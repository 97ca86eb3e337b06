"""FakeTransport: a first-class fake device for unit tests (the plugin's and its users' own).

    FakeTransport({"ufw status verbose": CommandResult(0, SECTIONS, "", 0.0)})

It keeps the contract of contract.py with no connection: no endpoint, no host key, nothing to
reach (connect allowance 0); an aborted fake fails every later command as a device would. Given
an `address`, it says a connection went there (the tester's inbound probes go to it).

A user's conftest serves fakes by name to the device strings `SPEC@fake:NAME` (scheme `fake`):

    from pytest_portspec.device.fake import FakeTransport, serve
    serve("hall-2", FakeTransport({"ufw status verbose": ...}, address="127.0.0.1"))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pytest_portspec.device.contract import CommandResult, Connection, Unconnected
from pytest_portspec.errors import DeviceError


@dataclass
class FakeTransport(Unconnected):
    """A first-class fake device for unit tests: answers commands from a table of responders.

    `responses` maps a substring of the command to a CommandResult, or to a callable that
    builds one from (command, stdin); the first key found in the command answers.
    """

    responses: Mapping[str, CommandResult | Callable[[str, str | None], CommandResult]]
    commands_run: int = 0
    commands: list[str] = field(default_factory=list)
    aborted: str | None = None
    host_key_policy: str | None = None  # a test of the report may set what an SSH transport would
    host_key_verified: bool | None = None
    host_key_note: str | None = None
    connect_allowance: float = 0.0
    address: str | None = None  # where the fake "connects": the tester's inbound probes go there

    def run(
        self, command: str, stdin: str | None = None, timeout: float = 60.0, *, name: str = "a remote command"
    ) -> CommandResult:
        if self.aborted is not None:
            raise DeviceError("fake", self.aborted)
        self.commands_run += 1
        self.commands.append(command)
        for needle, answer in self.responses.items():
            if needle in command:
                return answer(command, stdin) if callable(answer) else answer
        return CommandResult(127, "", f"fake device: no response for {command[:60]!r}", 0.0)

    def connection(self) -> Connection | None:
        return None if self.address is None else Connection(self.address, 22, self.address)


SERVED: dict[str, FakeTransport] = {}  # fake devices by name, for the device strings SPEC@fake:NAME


def serve(name: str, transport: FakeTransport) -> None:
    """Answer `SPEC@fake:NAME` with this fake device (a conftest's, for the whole session)."""
    SERVED[name] = transport


def served(name: str) -> FakeTransport:
    """The fake device served as `name`; ValueError naming how to serve one when there is none."""
    if name not in SERVED:
        known = ", ".join(sorted(SERVED)) or "none"
        raise ValueError(
            f"no fake device {name!r} is served (served: {known}); a conftest serves one with "
            f"pytest_portspec.device.fake.serve({name!r}, FakeTransport(...))"
        )
    return SERVED[name]
