"""The hidden-listener drift on a real appliance: its ports answer the host, while everything the
appliance reports about itself (ss, iptables, nft, ufw) is silent about them; `down` and
`down --all` leave no hidden namespace and no listener behind."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from pytest_portspec.errors import LabError
from pytest_portspec.lab import hidden
from pytest_portspec.lab.controller import Lab, UpRequest
from pytest_portspec.lab.fixture import Appliance, LabSession
from pytest_portspec.lab.processes import alive, netns_exists
from pytest_portspec.lab.store import Store
from pytest_portspec.lab.system import run

PORT = 8443  # no service of a SmartServer holds it, and ufw does not allow it
UDP_PORT = 9999
DRIFTS = [f"hidden-listener:{PORT}", f"hidden-listener:{UDP_PORT}/udp"]


@pytest.fixture(scope="module")
def drifted(lab: LabSession) -> Iterator[Appliance]:
    yield lab.up("smartserver", name="hidden", drifts=DRIFTS)


def mentions(text: str, port: int) -> list[str]:
    return [line for line in text.splitlines() if re.search(rf"(?<![0-9]){port}(?![0-9])", line)]


def test_the_hidden_ports_answer_the_host(drifted: Appliance) -> None:
    with socket.create_connection((drifted.address, PORT), timeout=3):
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(3)
        udp.sendto(b"portspec", (drifted.address, UDP_PORT))
        assert udp.recvfrom(64) == (b"portspec", (drifted.address, UDP_PORT))


def test_a_port_next_to_it_stays_closed(drifted: Appliance) -> None:
    """The redirect, not the appliance's firewall, lets the hidden port through."""
    with pytest.raises(OSError):
        socket.create_connection((drifted.address, PORT + 1), timeout=1).close()


def test_nothing_the_appliance_reports_shows_the_hidden_ports(drifted: Appliance) -> None:
    ns = str(drifted.state["netns"])
    status, ss, _ = drifted.run("sudo -n ss -H -tulpn")
    assert status == 0 and ss.strip()
    sockets = [
        line for line in ss.splitlines() if line.split()[4].rsplit(":", 1)[1] in {str(PORT), str(UDP_PORT)}
    ]
    assert sockets == []
    status, ufw, _ = drifted.run("sudo -n ufw status verbose")
    assert status == 0 and "Status: active" in ufw
    for text in (
        ufw,
        run(["ip", "netns", "exec", ns, "iptables-save"]),
        run(["ip", "netns", "exec", ns, "ip6tables-save"]),
        run(["ip", "netns", "exec", ns, "nft", "list", "ruleset"]),
    ):
        assert mentions(text, PORT) == mentions(text, UDP_PORT) == []


def test_status_names_the_hidden_ports(lab_store: Store, drifted: Appliance) -> None:
    state = lab_store.state(drifted.name)
    assert state is not None
    assert state["hidden_listeners"] == [f"{PORT}/tcp", f"{UDP_PORT}/udp"]
    assert state["hidden_netns"] == hidden.hidden_namespace(lab_store, drifted.name)
    assert alive(state["pids"]["hidden"])


def test_a_failure_after_the_hidden_namespace_exists_cleans_it_up(
    lab_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise OSError("listener exploded")

    monkeypatch.setattr(hidden, "run_services", broken)
    with pytest.raises(LabError, match="appliance 'hidden-crash' did not come up: listener exploded"):
        Lab(lab_store).up(UpRequest("smartserver", name="hidden-crash", drifts=DRIFTS))
    assert not netns_exists(hidden.hidden_namespace(lab_store, "hidden-crash"))
    assert lab_store.state("hidden-crash") is None


def test_down_removes_the_hidden_namespace_and_its_listener(lab: LabSession, drifted: Appliance) -> None:
    pid, ns = drifted.state["pids"]["hidden"], drifted.state["hidden_netns"]
    lab.down(drifted)
    assert not netns_exists(ns) and ns not in run(["ip", "netns", "list"])
    assert not alive(pid)


def test_down_all_removes_them_too(lab_store: Store) -> None:
    lab = Lab(lab_store)
    state = lab.up(UpRequest("smartserver", name="hidden-all", drifts=DRIFTS[:1]))
    pid, ns = state["pids"]["hidden"], state["hidden_netns"]
    lab.down(everything=True)
    assert not netns_exists(ns) and not alive(pid)
    assert [n for n in run(["ip", "netns", "list"]).split() if n.startswith(lab_store.namespace(""))] == []
