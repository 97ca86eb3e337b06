"""A session channel the server does not confirm in time is asked for once more, on a new
connection (every command is read-only); twice is a device error. paramiko is stood in for."""

from __future__ import annotations

import io
from typing import Any

import paramiko
import pytest

from pytest_portspec.device import ssh as ssh_module
from pytest_portspec.device.ssh import SSHSettings, SSHTransport
from pytest_portspec.errors import DeviceError


class Channel:
    def __init__(self) -> None:
        self.channel = self
        self.command = ""

    def settimeout(self, timeout: float) -> None: ...
    def exec_command(self, command: str) -> None:
        self.command = command

    def makefile_stdin(self, mode: str) -> Any:
        return self

    def makefile(self, mode: str) -> Any:
        return _Out()

    def makefile_stderr(self, mode: str) -> Any:
        return io.BytesIO(b"")

    def write(self, data: str) -> None: ...
    def shutdown_write(self) -> None: ...
    def close(self) -> None: ...


class Client:
    def __init__(self, opens: list[bool]) -> None:
        self.opens = opens  # per attempt, over all clients: does the server confirm the channel?

    def get_transport(self) -> Any:
        return self

    def open_session(self, timeout: float) -> Any:
        if not self.opens.pop(0):
            raise paramiko.SSHException("Timeout opening channel.")
        return Channel()

    def close(self) -> None: ...


class _Out(io.BytesIO):
    def __init__(self) -> None:
        super().__init__(b"out\n")
        self.channel = self

    def recv_exit_status(self) -> int:
        return 0


def transport(opens: list[bool], monkeypatch: pytest.MonkeyPatch) -> tuple[SSHTransport, list[int]]:
    ssh = SSHTransport("dev@198.18.1.2", SSHSettings(host="198.18.1.2"))
    connections: list[int] = []

    def connect() -> Any:
        connections.append(1)
        ssh._client = Client(opens)  # type: ignore[assignment]
        return ssh._client

    monkeypatch.setattr(ssh, "connect", connect)
    # the command's exchange itself is tested against a real server (test_hostile_device.py)
    monkeypatch.setattr(ssh_module, "exchange", lambda channel, *args: (0, "out\n", ""))
    return ssh, connections


def test_an_unconfirmed_channel_is_asked_for_once_more_on_a_new_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ssh, connections = transport([False, True], monkeypatch)
    result = ssh.run("ufw status verbose")
    assert (result.exit_status, result.stdout, ssh.commands_run, len(connections)) == (0, "out\n", 1, 2)


def test_twice_unconfirmed_is_one_device_error(monkeypatch: pytest.MonkeyPatch) -> None:
    ssh, connections = transport([False, False], monkeypatch)
    with pytest.raises(DeviceError, match="the SSH connection was lost: Timeout opening channel"):
        ssh.run("ufw status verbose")
    assert (ssh.commands_run, len(connections)) == (0, 2)
