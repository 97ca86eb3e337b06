"""A device's snapshot alone: the state command and the facts from it, no spec, no probe, no verdict.

    read_snapshot(transport, label, settings) -> Snapshot      (DeviceError: one sentence naming it)
    state_sections(transport, label, sudo, password, mode)      the state command's checked sections

What `portspec draft` reads a device with: the same read-only state command as a run
(device/state_command.py, root reads by sudo as privilege.py words them), sent through the same
transport a run builds for the device string (device/schemes.py), within a deadline
(device/deadline.py), and read into the same Facts (engine/facts.py). The transport is closed
at the end, whatever happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_portspec.checks.context import Facts
from pytest_portspec.device import privilege
from pytest_portspec.device import state_command as snap
from pytest_portspec.device.contract import Transport, offline_of
from pytest_portspec.device.deadline import LOCAL_ALLOWANCE, STATE_TIMEOUT, run_within
from pytest_portspec.device.reached import jump_of
from pytest_portspec.engine.facts import facts_from_sections
from pytest_portspec.engine.settings import Settings
from pytest_portspec.errors import DeviceError


@dataclass(frozen=True)
class Snapshot:
    """What the state command showed, and how the device was reached: `address` is the device's
    address the connection went to (None: not over the network, e.g. a capture), `offline` whether
    a capture answered instead of the device, `jumped` whether jump hosts stood in between."""

    label: str
    facts: Facts
    address: str | None
    offline: bool
    jumped: bool
    commands: int


def read_snapshot(transport: Transport, label: str, settings: Settings) -> Snapshot:
    """Run the state command once and read its sections into facts (module docstring)."""
    found: list[Snapshot] = []

    def work() -> None:
        found.append(_read(transport, label, settings))

    try:
        error = run_within(label, transport.connect_allowance + STATE_TIMEOUT + LOCAL_ALLOWANCE, work)
        if error is not None:
            transport.abort(error.reason)
            raise error
    finally:
        transport.close()
    return found[0]


def state_sections(
    transport: Transport, label: str, sudo: bool, sudo_password: str | None, sudo_mode: privilege.SudoMode
) -> dict[str, snap.Section]:
    """The state command's sections (DeviceError: sudo refused, or a section every reading needs
    missing): a run's first command (DeviceRun) and a draft's only one."""
    password = sudo_password if sudo else None
    command = snap.state_command(sudo, password is not None, sudo_mode)
    stdin = f"{password}\n" if password is not None else None
    result = transport.run(command, stdin=stdin, timeout=STATE_TIMEOUT, name="the state command")
    if sudo:
        problem = privilege.sudo_problem(result.exit_status, result.stdout, result.stderr, stdin is not None)
        if problem is not None:
            raise DeviceError(label, problem)
    sections = snap.parse_sections(result.stdout)
    missing = [n for n in (*snap.SECTIONS, "fingerprint") if n not in sections and n not in snap.OPTIONAL]
    if missing:
        detail = (result.stderr or result.stdout).strip().splitlines()
        tail = f": {detail[-1]}" if detail else ""
        raise DeviceError(label, f"the state command gave no {missing[0]} section{tail}")
    return sections


def _read(transport: Transport, label: str, settings: Settings) -> Snapshot:
    s = settings
    sections = state_sections(transport, label, s.sudo, s.sudo_password, s.sudo_mode)
    reached = transport.connection()
    address = reached.peer_address if reached is not None else None
    facts = facts_from_sections(label, sections, address or "")
    return Snapshot(
        label=label,
        facts=facts,
        address=address,
        offline=offline_of(transport) is not None,
        jumped=jump_of(transport) is not None,
        commands=transport.commands_run,
    )
