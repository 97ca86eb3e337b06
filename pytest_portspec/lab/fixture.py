"""The `portspec_lab` pytest fixture's session: bring emulated appliances up for tests, and down after."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from pytest_portspec.lab.controller import Lab, UpRequest


@dataclass(frozen=True)
class Appliance:
    """A running emulated appliance, as `portspec lab status --json` describes it."""

    state: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.state["name"])

    @property
    def address(self) -> str:
        return str(self.state["management_address"])

    def ssh(self, timeout: float = 10.0) -> paramiko.SSHClient:
        """An SSH connection as the lab user, checking the host key against the lab's known_hosts."""
        client = paramiko.SSHClient()
        client.load_host_keys(self.state["known_hosts"])
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            self.address,
            port=int(self.state["ssh_port"]),
            username=self.state["ssh_user"],
            key_filename=self.state["private_key"],
            timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
        )
        return client

    def run(self, command: str, timeout: float = 30.0) -> tuple[int, str, str]:
        """Run one command on the appliance over SSH: (exit status, stdout, stderr)."""
        client = self.ssh()
        try:
            _, stdout, stderr = client.exec_command(command, timeout=timeout)
            out, err = stdout.read().decode(), stderr.read().decode()
            return stdout.channel.recv_exit_status(), out, err
        finally:
            client.close()


class LabSession:
    """Appliances brought up by one test session; whatever is still up at the end goes down."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.started: list[str] = []

    def up(
        self,
        spec: str,
        *,
        name: str | None = None,
        profile: str | None = None,
        role: str | None = None,
        enable: Sequence[str] = (),
        disable: Sequence[str] = (),
        drifts: Sequence[str] = (),
    ) -> Appliance:
        state = self.lab.up(
            UpRequest(
                spec=spec,
                name=name,
                profile=profile,
                role=role,
                enable=enable,
                disable=disable,
                drifts=drifts,
            )
        )
        self.started.append(state["name"])
        return Appliance(state)

    def site(self, inventory: str | Path, *drifts: str) -> tuple[list[Appliance], Path]:
        """A whole site from an inventory (drifts `NODE:DRIFT`): its nodes, and the lab's inventory
        of it for `pytest --inventory=...`."""
        from pytest_portspec.lab.cluster import up_site  # the inventory machinery, only when asked

        states, path = up_site(self.lab, Path(inventory), drifts)
        self.started += [state["name"] for state in states]
        return [Appliance(state) for state in states], path

    def down(self, *appliances: Appliance) -> None:
        names = [a.name for a in appliances]
        self.lab.down(names)
        self.started = [n for n in self.started if n not in names]

    def close(self) -> None:
        running = {s["name"] for s in self.lab.status()}
        leftover = [n for n in self.started if n in running]
        if leftover:
            self.lab.down(leftover)


def lab_session() -> Iterator[LabSession]:
    """The `portspec_lab` fixture's session (plugin.py): appliances up on demand, all down after."""
    session = LabSession(Lab())
    try:
        yield session
    finally:
        session.close()
