"""`portspec draft`: the device read as a run reads it (one read-only state command, through the
transport its device string names: a capture, a served fake, SSH), the draft on stdout or in a file,
and every failure one sentence naming the device, exit 2."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_bundle import bundle_file, captured
from test_runner import sections

from pytest_portspec.checks.context import Declarations
from pytest_portspec.cli import build_parser, main
from pytest_portspec.device import state_command as snap
from pytest_portspec.device.fake import SERVED, FakeTransport, serve
from pytest_portspec.draft import cli as draft_cli
from pytest_portspec.errors import SpecError
from pytest_portspec.spec import load_spec
from pytest_portspec.transport import CommandResult


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return bundle_file(tmp_path, captured(Declarations()))


@pytest.fixture
def fake() -> Iterator[FakeTransport]:
    transport = FakeTransport({"ufw status verbose": CommandResult(0, sections(), "", 0.0)})
    serve("draft-box", transport)
    yield transport
    SERVED.pop("draft-box", None)


def test_a_draft_from_a_capture_goes_to_stdout(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draft", "--device", f"bundle:{bundle}"]) == 0
    out, err = capsys.readouterr()
    data = yaml.safe_load(out)
    assert data["name"] == "new-product" and len(data["rows"]) == 37
    assert f"portspec draft: bundle:{bundle}: 37 row(s) (13 listening, 15 on loopback only" in err
    assert "portspec lint refuses the draft" in err


def test_only_the_read_only_state_command_is_sent(
    fake: FakeTransport, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["draft", "--device", "acme@fake:draft-box"]) == 0
    assert len(fake.commands) == 1 and f"{snap.MARK}probe-tools" in fake.commands[0]
    assert yaml.safe_load(capsys.readouterr().out)["name"] == "acme"  # NAME@ names the draft


def test_the_file_is_named_for_the_spec_and_never_overwritten_without_force(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "acme-box.yaml"
    assert main(["draft", "--device", f"bundle:{bundle}", "-o", str(out)]) == 0
    first = out.read_text()
    assert yaml.safe_load(first)["name"] == "acme-box"  # the loader wants the file's name
    with pytest.raises(SpecError) as caught:  # a draft, refused until cited
        load_spec(out)
    assert all("draft observation" in p.message for p in caught.value.problems)
    out.write_text("mine\n")
    capsys.readouterr()
    assert main(["draft", "--device", f"bundle:{bundle}", "-o", str(out)]) == 2
    assert capsys.readouterr().err == f"portspec: error: {out} exists: pass --force to overwrite it\n"
    assert out.read_text() == "mine\n"
    assert main(["draft", "--device", f"bundle:{bundle}", "-o", str(out), "--force"]) == 0
    assert out.read_text() == first


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--device", "bundle:{bundle}", "--scan"], "bundle:{bundle}: --scan needs the live device"),
        (["--device", "fake:nobody"], "fake:nobody: no fake device 'nobody' is served"),
        (["--device", "bad host!"], "--device 'bad host!': 'bad host!' is not a valid host name"),
        (["--device", "fake:draft-box", "--name", "Acme"], "--name 'Acme': expected a lower-case name"),
        (["--device", "127.0.0.1:1", "--connect-timeout", "2"], "127.0.0.1:1: "),
    ],
    ids=["scan-a-capture", "no-such-device", "bad-device", "bad-name", "unreachable"],
)
def test_every_failure_is_one_sentence_naming_the_device(
    argv: list[str], message: str, bundle: Path, fake: FakeTransport, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.format(bundle=bundle) for a in argv]
    assert main(["draft", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"portspec: error: {message.format(bundle=bundle)}")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_device_that_refuses_sudo_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    refused = CommandResult(1, "", "sudo: a password is required\n", 0.0)
    serve("draft-nosudo", FakeTransport({"ufw status verbose": refused}))
    try:
        assert main(["draft", "--device", "fake:draft-nosudo"]) == 2
    finally:
        SERVED.pop("draft-nosudo", None)
    err = capsys.readouterr().err
    assert err.startswith("portspec: error: fake:draft-nosudo: ") and "sudo" in err and err.count("\n") == 1


def test_the_ssh_options_are_a_runs_with_strict_host_keys_by_default() -> None:
    args = build_parser().parse_args(["draft", "--device", "198.18.0.5"])
    settings = draft_cli._settings(args)
    assert (settings.host_key_policy, settings.sudo, settings.sudo_mode) == ("strict", True, "commands")
    assert settings.ssh_config_may_set == frozenset({"known_hosts", "host_key_policy"})
    args = build_parser().parse_args(
        ["draft", "--device", "198.18.0.5", "--ssh-user", "ops", "--ssh-key", "k", "--known-hosts", "kh",
         "--host-key-policy", "accept-new", "--no-sudo", "--ssh-config", "cfg"]
    )  # fmt: skip
    settings = draft_cli._settings(args)
    assert (settings.ssh_user, settings.ssh_key, settings.known_hosts, settings.ssh_config) == (
        "ops",
        "k",
        "kh",
        "cfg",
    )
    assert (settings.host_key_policy, settings.sudo, settings.ssh_config_may_set) == (
        "accept-new",
        False,
        frozenset(),
    )


def test_scan_rows_come_from_a_scan_of_the_connection_address(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--scan plans the scan from the address the connection went to and the device's own addresses,
    with the UDP ports its sockets and rules name, at the rate asked; a port only it saw is a row."""
    from pytest_portspec.scan import run
    from pytest_portspec.scan.model import AddressScan, PortFinding, ScanFacts, ScanRequest

    asked: dict[str, object] = {}

    def plan(address: str, own: object, udp: list[object], rate: float, timeout: float) -> object:
        asked.update(address=address, udp=udp, rate=rate, timeout=timeout)
        return [ScanRequest(address, rate=rate, timeout=timeout)], {"fe80::1": "link-local"}

    def scan(requests: list[ScanRequest], scanner: str) -> ScanFacts:
        asked["scanner"] = scanner
        found = (PortFinding("tcp", 8443, "open", "syn-ack"),)
        return ScanFacts((AddressScan(requests[0].address, "connect", 500.0, 1.0, tcp_open=found),))

    monkeypatch.setattr(run, "plan_requests", plan)
    monkeypatch.setattr(run, "scan_addresses", scan)
    serve(
        "draft-scan",
        FakeTransport({"ufw status verbose": CommandResult(0, sections(), "", 0.0)}, address="127.0.0.1"),
    )
    try:
        argv = [
            "draft",
            "--device",
            "fake:draft-scan",
            "--scan",
            "--scan-rate",
            "500",
            "--scanner",
            "connect",
        ]
        assert main(argv) == 0
    finally:
        SERVED.pop("draft-scan", None)
    out, err = capsys.readouterr()
    assert (asked["address"], asked["rate"], asked["timeout"], asked["scanner"]) == (
        "127.0.0.1",
        500.0,
        1.0,
        "connect",
    )
    assert {t.port for t in asked["udp"]} >= {67, 5353, 47808}  # type: ignore[attr-defined]
    rows = {r["id"]: r for r in yaml.safe_load(out)["rows"]}
    assert rows["scan-8443-tcp"]["citation"] == {"observed": "scan: 127.0.0.1 tcp/8443 open (syn-ack)"}
    assert "not scanned: fe80::1: link-local" in err


def test_scan_needs_an_address_of_the_device(capsys: pytest.CaptureFixture[str], fake: FakeTransport) -> None:
    assert main(["draft", "--device", "fake:draft-box", "--scan"]) == 2
    err = capsys.readouterr().err
    why = "the tester cannot scan this device: the tester has no IP address of it"
    assert err == f"portspec: error: fake:draft-box: --scan: {why}\n"


def test_bad_options_are_refused_before_the_device_is_contacted(
    fake: FakeTransport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["draft", "--device", "fake:draft-box", "--scan", "--scan-rate", "0"]) == 2
    assert "--scan-rate must be" in capsys.readouterr().err
    (tmp_path / "taken.yaml").write_text("")
    assert main(["draft", "--device", "fake:draft-box", "-o", str(tmp_path / "taken.yaml")]) == 2
    assert fake.commands == []


def test_a_real_scan_of_the_connection_address_adds_the_port_only_it_saw(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The built-in connect scanner against 127.0.0.1 (the fake's connection address): a port
    listening here that the device's own listing does not show becomes a scan row. The sweep is
    cut to that one port: a full sweep of 127.0.0.1 would knock on other tests' servers."""
    from pytest_portspec.firewall.intervals import Intervals
    from pytest_portspec.scan import run

    planned = run.plan_requests
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def plan(*args: Any, **kwargs: Any) -> Any:
            requests, skipped = planned(*args, **kwargs)
            return [replace(r, tcp=Intervals.of((port, port)), udp=()) for r in requests], skipped

        monkeypatch.setattr(run, "plan_requests", plan)
        fake = FakeTransport(
            {"ufw status verbose": CommandResult(0, sections(), "", 0.0)}, address="127.0.0.1"
        )
        serve("draft-scanned", fake)
        try:
            argv = ["draft", "--device", "fake:draft-scanned", "--scan", "--scanner", "connect"]
            assert main(argv) == 0
        finally:
            SERVED.pop("draft-scanned", None)
    rows = {r["id"]: r for r in yaml.safe_load(capsys.readouterr().out)["rows"]}
    assert rows[f"scan-{port}-tcp"]["citation"]["observed"].startswith(f"scan: 127.0.0.1 tcp/{port} open (")
