"""`SPEC@lab` and `SPEC@lab:NAME` find the running emulated appliance (state files as plain data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_portspec.errors import LabError
from pytest_portspec.lab.resolve import is_lab_host, resolve
from pytest_portspec.lab.store import Store


def state(name: str, spec: str, index: int, status: str = "up") -> dict[str, object]:
    return {
        "name": name,
        "spec": spec,
        "profile": "enhanced",
        "status": status,
        "index": index,
        "management_address": f"198.18.{index}.2",
        "ssh_port": 22,
        "ssh_user": "portspec",
        "private_key": "/lab/keys/id_ed25519",
        "known_hosts": f"/lab/run/{name}/known_hosts",
    }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path)
    for item in (
        state("smartserver", "smartserver", 1),
        state("site-b", "smartserver", 2),
        state("cube", "coppercube", 3),
        state("half", "coppercube", 4, status="starting"),
    ):
        s.save(item)
    return s


def test_lab_hosts_are_recognised() -> None:
    assert is_lab_host("lab") and is_lab_host("lab:site-b")
    assert not is_lab_host("lab.example.com") and not is_lab_host("198.18.1.2")


def test_lab_name_picks_that_appliance(store: Store) -> None:
    target = resolve("smartserver", "lab:site-b", store)
    assert (target.address, target.user, target.known_hosts) == (
        "198.18.2.2",
        "portspec",
        "/lab/run/site-b/known_hosts",
    )


def test_lab_alone_needs_exactly_one_appliance_of_the_spec(store: Store) -> None:
    assert resolve("coppercube", "lab", store).name == "cube"  # the half-built one does not count
    with pytest.raises(
        LabError, match=r"several emulated smartserver appliances are up \(site-b, smartserver\)"
    ):
        resolve("smartserver", "lab", store)
    with pytest.raises(
        LabError, match="no emulated voss appliance is up; start one with: portspec lab up voss"
    ):
        resolve("voss", "lab", store)


def test_a_name_of_another_spec_or_nobody_is_refused(store: Store) -> None:
    with pytest.raises(LabError, match="emulated appliance 'cube' runs spec 'coppercube', not 'smartserver'"):
        resolve("smartserver", "lab:cube", store)
    with pytest.raises(LabError, match="no emulated appliance named 'nope' is up"):
        resolve("smartserver", "lab:nope", store)
