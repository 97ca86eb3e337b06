"""Enclaves: an appliance's management link moved out of the tester's namespace, and back.

The root namespace (the tester) must lose the appliance entirely while its link is elsewhere,
the namespace holding the link must reach it, and every call must be safe to repeat.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from pytest_portspec.errors import LabError
from pytest_portspec.lab.controller import Lab
from pytest_portspec.lab.enclave import (
    enclave,
    enclaves,
    move_management,
    remove_enclave,
    restore_management,
)
from pytest_portspec.lab.fixture import LabSession
from pytest_portspec.lab.processes import wait_for
from pytest_portspec.lab.store import Store
from pytest_portspec.lab.system import run

CONNECT = "import socket,sys; socket.create_connection((sys.argv[1], 22), timeout=2).close()"


def reaches_here(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=2):
            return True
    except OSError:
        return False


def reaches_from(namespace: str, address: str) -> bool:
    argv = ["ip", "netns", "exec", namespace, sys.executable, "-c", CONNECT, address]
    return subprocess.run(argv, capture_output=True, timeout=10, check=False).returncode == 0


def test_a_management_link_moves_into_an_enclave_and_back(lab: LabSession, lab_store: Store) -> None:
    one, two = lab.up("coppercube", name="enc-one"), lab.up("coppercube", name="enc-two")
    link = f"psl{one.state['index']}m"
    bare = enclave(lab_store, "tester-x")
    assert enclave(lab_store, "tester-x") == bare and bare in enclaves(lab_store)
    assert run(["ip", "netns", "exec", bare, "sysctl", "-n", "net.ipv4.ip_forward"]).strip() == "0"

    move_management(lab_store, [one.name], bare)
    move_management(lab_store, [one.name], bare)  # again: nothing changes
    assert not reaches_here(one.address) and reaches_from(bare, one.address)
    assert "unreachable 198.18." in run(["ip", "route"])  # not out of the default route either
    assert reaches_here(two.address)  # only the named appliance moved
    shown = run(["ip", "-n", bare, "addr", "show", "dev", link])
    assert "198.18." in shown and "2001:2:0:" in shown and "state UP" in shown

    move_management(lab_store, [one.name], two.state["netns"])  # an appliance as the jump host
    assert reaches_from(two.state["netns"], one.address) and not reaches_from(bare, one.address)

    restore_management(lab_store, [one.name])
    restore_management(lab_store, [one.name])  # again: already home
    assert reaches_here(one.address) and one.run("true")[0] == 0


def test_only_the_labs_own_namespaces_take_a_link(lab: LabSession, lab_store: Store) -> None:
    one = lab.up("coppercube", name="enc-three")
    with pytest.raises(LabError, match="not an enclave"):
        move_management(lab_store, [one.name], "pslab-somebody-else")
    with pytest.raises(LabError, match="its own namespace"):
        move_management(lab_store, [one.name], one.state["netns"])
    with pytest.raises(LabError, match="no appliance named"):
        move_management(lab_store, ["nobody"], enclave(lab_store, "tester-y"))
    with pytest.raises(LabError, match="enclave name"):
        enclave(lab_store, "Bad/Name")
    assert reaches_here(one.address)


def test_removing_an_enclave_sends_links_home_and_down_cleans_up(lab: LabSession, lab_store: Store) -> None:
    one, two = lab.up("coppercube", name="enc-four"), lab.up("coppercube", name="enc-five")
    bare = enclave(lab_store, "tester-z")
    move_management(lab_store, [one.name, two.name], bare)
    remove_enclave(lab_store, "tester-z")
    remove_enclave(lab_store, "tester-z")  # again: already gone
    assert bare not in enclaves(lab_store) and reaches_here(one.address) and reaches_here(two.address)

    move_management(lab_store, [one.name], enclave(lab_store, "tester-z"))
    lab.down(one)  # the link is in the enclave: down must not fail on it
    link = f"psl{one.state['index']}m"
    wait_for(lambda: link not in run(["ip", "-n", bare, "-o", "link", "show"]), 5.0, f"removal of {link}")
    assert "unreachable" not in run(["ip", "route"])  # the root's block of its network went with it
    Lab(lab_store).down(everything=True)
    assert enclaves(lab_store) == []
