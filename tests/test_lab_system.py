"""The lab says in one line what the machine lacks (no root needed to prove it)."""

from __future__ import annotations

import pytest

from pytest_portspec.cli import main
from pytest_portspec.lab import system


def test_without_root_the_lab_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(system.os, "geteuid", lambda: 1000)
    assert main(["lab", "down", "--all"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "portspec: error: the lab needs root (network namespaces, sshd, ufw): run it as root or with sudo"
    ]


def test_a_missing_tool_names_its_debian_package(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = system.which
    monkeypatch.setattr(system.os, "geteuid", lambda: 0)
    monkeypatch.setattr(system, "which", lambda tool: None if tool in ("dnsmasq", "ufw") else real(tool))
    assert main(["lab", "up", "smartserver"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "portspec: error: missing system tool(s): ufw, dnsmasq; install them with "
        "'portspec lab install-deps' (Debian packages: dnsmasq-base ufw)"
    ]


def test_install_deps_needs_root(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(system.os, "geteuid", lambda: 1000)
    assert main(["lab", "install-deps"]) == 2
    assert "installing the lab's packages needs root" in capsys.readouterr().err


def test_drifts_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "drifts"]) == 0
    out = capsys.readouterr().out
    for usage in (
        "listen:PORT/PROTO:PROCESS",
        "stop:PROCESS",
        "ufw-inactive",
        "site-block:PORT/PROTO",
        "dns-fail:HOST",
        "expose:PORT",
    ):
        assert usage in out


def test_the_lab_internet_name_is_reserved() -> None:
    from pytest_portspec.errors import LabError
    from pytest_portspec.lab.store import check_name

    with pytest.raises(LabError, match="appliance name 'inet' is reserved by the lab"):
        check_name("inet")
