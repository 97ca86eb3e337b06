"""The transport contract (transports/contract.py): both transports keep it, the runner needs nothing
beyond it, and a device's host picks its transport in one place (transports/schemes.py), where a new
transport is one registration line. No connection is made: nothing here leaves the process."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from test_runner import ok, sections

from pytest_portspec.checks.context import Declarations
from pytest_portspec.device import schemes
from pytest_portspec.device.address import DeviceRequest, parse_device
from pytest_portspec.device.contract import CommandResult, Connection, Transport
from pytest_portspec.device.fake import FakeTransport
from pytest_portspec.device.schemes import Target, is_lab_host, register, transport_for
from pytest_portspec.device.ssh import SSHSettings, SSHTransport
from pytest_portspec.engine import device_run as runner
from pytest_portspec.engine.build import _device
from pytest_portspec.engine.device_run import DeviceRun
from pytest_portspec.engine.settings import Settings
from pytest_portspec.lab import resolve as lab_resolve
from pytest_portspec.lab.store import LAB_DIR_ENV, Store
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy

# checked by mypy --strict: both are Transports as the runner types them
FAKE: Transport = FakeTransport({})
SSH: Transport = SSHTransport("smartserver@198.18.0.5", SSHSettings(host="198.18.0.5"))

MEMBERS: dict[
    str, type | tuple[type, ...]
] = {  # what the runner reads, and the type it reads before connecting
    "commands_run": int,
    "connect_allowance": float,
    "host_key_policy": (str, type(None)),
    "host_key_verified": (bool, type(None)),
    "host_key_note": (str, type(None)),
}
METHODS = ("run", "endpoint", "connection", "host_key_fingerprint", "abort", "close")

LAB_STATE = {
    "name": "x",
    "spec": "smartserver",
    "profile": "enhanced",
    "status": "up",
    "index": 1,
    "management_address": "198.18.1.2",
    "ssh_port": 22,
    "ssh_user": "portspec",
    "private_key": "/lab/keys/id_ed25519",
    "known_hosts": "/lab/run/x/known_hosts",
}


def settings(**kwargs: object) -> Settings:
    return Settings((), (), (), (), None, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("transport", [FAKE, SSH], ids=["fake", "ssh"])
def test_both_transports_keep_the_contract_before_connecting(transport: Transport) -> None:
    assert isinstance(transport, Transport)
    for name, kind in MEMBERS.items():
        assert isinstance(getattr(transport, name), kind), name
    assert all(callable(getattr(transport, name)) for name in METHODS)
    assert transport.host_key_fingerprint() is None and transport.commands_run == 0


def test_the_ssh_transport_says_where_it_goes_without_connecting() -> None:
    ssh = SSHTransport("d", SSHSettings(host="198.18.0.5", port=2222, connect_timeout=5.0))
    assert ssh.endpoint() == ("198.18.0.5", 2222) and ssh._client is None
    assert ssh.connect_allowance == 2 * (4 * 5.0 + 15.0)
    assert (ssh.host_key_policy, ssh.host_key_verified, ssh.host_key_note) == ("strict", None, None)


def test_the_fake_has_no_connection_and_fails_for_good_once_aborted() -> None:
    fake = FakeTransport({"true": ok("")})
    assert (fake.endpoint(), fake.connection(), fake.connect_allowance) == (None, None, 0.0)
    fake.abort("the device did not finish within 1 s")
    with pytest.raises(Exception, match="did not finish within 1 s"):
        fake.run("true")


def test_the_runner_reaches_the_device_only_through_the_contract() -> None:
    assert "getattr(" not in inspect.getsource(runner)
    assert "paramiko" not in inspect.getsource(runner)


class Connected(FakeTransport):
    """A transport that says where its connection went (as SSH does once connected)."""

    def connection(self) -> Connection | None:
        return Connection("127.0.0.1", 2222, "127.0.0.9")

    def host_key_fingerprint(self) -> str | None:
        return "ssh-ed25519 SHA256:abc"


def test_the_runner_takes_the_address_port_and_host_key_from_the_connection() -> None:
    transport = Connected({"ufw status verbose": ok(sections())}, host_key_policy="ignore")
    run = DeviceRun(
        label="smartserver@dev",
        host="dev",  # not an address: the connection says where inbound probes go
        policy=effective_policy(find_spec("smartserver"), enable=["all"]),
        transport=transport,
        declared=Declarations(),
        probe_timeout=0.2,
    )
    run.run()
    assert run.error is None
    assert (run.address, run.declared.management_port, run.declared.tester_address) == (
        "127.0.0.1",
        2222,
        "127.0.0.9",
    )
    assert (run.host_key, run.host_key_policy) == ("ssh-ed25519 SHA256:abc", "ignore")


@pytest.mark.parametrize(
    ("text", "lab"),
    [("smartserver@lab", True), ("smartserver@lab:x", True), ("smartserver@198.18.0.5", False)],
)
def test_the_host_picks_the_transport(text: str, lab: bool) -> None:
    request = parse_device(text)
    state = LAB_STATE if lab else None
    transport = transport_for(Target("d", request.host, request.port, settings(ssh_user="me"), state))
    assert isinstance(transport, SSHTransport) and transport._client is None  # nothing connected
    s = transport.settings
    if lab:
        assert (s.host, s.port, s.user, s.key, s.known_hosts) == (
            "198.18.1.2",
            22,
            "portspec",
            "/lab/keys/id_ed25519",
            "/lab/run/x/known_hosts",
        )
        assert (s.host_key_policy, s.allow_agent) == ("strict", False)
    else:
        assert (s.host, s.port, s.user, s.allow_agent) == ("198.18.0.5", None, "me", True)
    assert request.lab is lab and is_lab_host(request.host) is lab


def test_is_this_the_lab_is_answered_in_one_place() -> None:
    assert lab_resolve.is_lab_host is is_lab_host
    for host in ("lab", "lab:x", "lab.example.com", "labs", "fd00::5"):
        assert DeviceRequest(host, "smartserver", None, host, None).lab is is_lab_host(host)
    assert not is_lab_host("lab.example.com") and not is_lab_host("labs") and not is_lab_host("fd00::5")
    assert schemes.scheme_of("fd00::5") is None and schemes.scheme_of("lab:x") == "lab"


def test_a_new_transport_is_one_registration_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schemes, "_SCHEMES", dict(schemes._SCHEMES))
    register("dummy", lambda target: FakeTransport({"": CommandResult(0, target.host, "", 0.0)}))
    chosen = transport_for(Target("d", "dummy:bench-1", None, settings()))
    assert isinstance(chosen, FakeTransport) and chosen.run("hostname").stdout == "dummy:bench-1"
    assert isinstance(transport_for(Target("d", "dummyhost", None, settings())), SSHTransport)
    register("ssh", lambda target: FakeTransport({}))  # a conftest's fake for every ordinary host
    assert isinstance(transport_for(Target("d", "198.18.0.5", None, settings())), FakeTransport)


def test_the_registry_builds_the_same_runs_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store(tmp_path).save(dict(LAB_STATE))
    monkeypatch.setenv(LAB_DIR_ENV, str(tmp_path))
    lab = _device(settings(), parse_device("smartserver@lab:x"))
    ssh = _device(settings(ssh_user="me"), parse_device("smartserver@198.18.0.5:2222"))
    assert isinstance(lab.transport, SSHTransport) and isinstance(ssh.transport, SSHTransport)
    assert (lab.label, lab.address, lab.declared.management_port) == (
        "smartserver[enhanced]@198.18.1.2",
        "198.18.1.2",
        22,
    )
    assert lab.transport.settings.key == "/lab/keys/id_ed25519"
    assert (ssh.address, ssh.declared.management_port, ssh.transport.settings.port) == (None, 2222, 2222)
    assert ssh.transport.label == ssh.label == "smartserver[enhanced]@198.18.0.5:2222"
