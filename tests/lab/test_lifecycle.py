"""Up and down leave the machine as it was; the lab is safe to misuse and to run twice at once."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_portspec.errors import LabError
from pytest_portspec.lab import appliance
from pytest_portspec.lab.controller import Lab, UpRequest
from pytest_portspec.lab.fixture import LabSession
from pytest_portspec.lab.processes import alive
from pytest_portspec.lab.store import LAB_DIR_ENV, Store
from pytest_portspec.lab.system import run

PORTSPEC = [sys.executable, "-m", "pytest_portspec.cli"]


def link_index(name: str) -> int:
    """The appliance number of a lab link: psl12m -> 12."""
    match = re.match(r"psl(\d+)", name)
    return int(match.group(1)) if match else -1


def links(snapshot: dict[str, object]) -> list[str]:
    found = snapshot["links"]
    assert isinstance(found, list)
    return [str(n) for n in found]


def machine_snapshot(store: Store, indices: set[int]) -> dict[str, object]:
    """What the lab must leave untouched on the host, or remove entirely: its namespaces and the
    links of its appliance numbers (another lab directory may be busy on the machine meanwhile)."""

    def digest(path: str) -> str:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    return {
        "netns": sorted(n for n in run(["ip", "netns", "list"]).split() if n.startswith(store.namespace(""))),
        "links": sorted(
            name
            for line in run(["ip", "-o", "link"]).splitlines()
            if ": psl" in line and link_index(name := line.split(":")[1].strip().split("@")[0]) in indices
        ),
        "iptables": run(["iptables-save"]).splitlines()[1:-1],  # without the timestamp comments
        "ip6tables": run(["ip6tables-save"]).splitlines()[1:-1],
        "mounts": sorted(
            line for line in Path("/proc/mounts").read_text().splitlines() if "portspec" in line
        ),
        "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text(),
        "etc": {
            p: digest(p)
            for p in (
                "/etc/passwd",
                "/etc/group",
                "/etc/shadow",
                "/etc/resolv.conf",
                "/etc/default/ufw",
                *map(str, sorted(Path("/etc/ufw").glob("*.rules"))),
            )
        },
        "host_ufw": run(["ufw", "status"]).strip(),
    }


def test_a_full_up_down_cycle_leaves_nothing_behind(lab_store: Store) -> None:
    lab = Lab(lab_store)
    lab.down(everything=True)
    everything_before = machine_snapshot(lab_store, set(range(1, 121)))
    states = [
        lab.up(UpRequest(spec, name=name))
        for spec, name in (("smartserver", "cycle-a"), ("coppercube", "cycle-b"))
    ]
    indices = {s["index"] for s in states}
    before = everything_before | {"links": [n for n in links(everything_before) if link_index(n) in indices]}
    during = machine_snapshot(lab_store, indices)
    assert during["netns"] != before["netns"] and during["links"] != before["links"]
    pids = [
        p
        for s in states
        for p in [
            s["pids"]["sshd"],
            *s["pids"]["listeners"],
            s["pids"]["site"]["dnsmasq"],
            *s["pids"]["site"]["servers"],
        ]
    ]
    assert all(alive(p) for p in pids)
    assert sorted(lab.down(everything=True)) == ["cycle-a", "cycle-b"]
    assert machine_snapshot(lab_store, indices) == before
    assert not [p for p in pids if alive(p)]
    assert sorted(p.name for p in lab_store.root.iterdir()) == ["keys", "lock", "run"]
    assert list((lab_store.root / "run").iterdir()) == []


def test_up_of_a_name_that_is_up_says_so(lab: LabSession) -> None:
    lab.up("digi-device-cloud", name="twice")
    with pytest.raises(LabError, match="appliance 'twice' is already up"):
        lab.up("coppercube", name="twice")


def netns_names(store: Store) -> list[str]:
    return [n for n in run(["ip", "netns", "list"]).split() if n.startswith(store.namespace(""))]


def test_a_failure_in_the_middle_of_up_cleans_up_after_itself(
    lab_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = netns_names(lab_store)

    def broken(*args: object) -> None:
        raise OSError("ufw exploded")

    monkeypatch.setattr(appliance, "configure_ufw", broken)
    with pytest.raises(LabError, match="appliance 'crashy' did not come up: ufw exploded"):
        Lab(lab_store).up(UpRequest("smartserver", name="crashy"))
    assert lab_store.state("crashy") is None
    assert [n for n in netns_names(lab_store) if n not in before and not n.endswith("-inet")] == []


def test_an_up_killed_half_way_is_cleaned_by_down(lab_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # like Ctrl-C or a kill between creating links and starting sshd

    monkeypatch.setattr(appliance, "start_sshd", killed)
    lab = Lab(lab_store)
    with pytest.raises(KeyboardInterrupt):
        lab.up(UpRequest("smartserver", name="orphan"))
    state = lab_store.state("orphan")
    assert state is not None and state["status"] == "starting"
    assert Path(f"/sys/class/net/psl{state['index']}m").exists()
    assert lab.down(["orphan"]) == ["orphan"]
    assert not Path(f"/sys/class/net/psl{state['index']}m").exists()
    assert lab_store.state("orphan") is None


def test_concurrent_ups_are_serialised_and_get_their_own_addresses(lab_store: Store) -> None:
    env = dict(os.environ, **{LAB_DIR_ENV: str(lab_store.root)})
    runs = [
        subprocess.Popen(
            [*PORTSPEC, "lab", "up", "coppercube", "--name", name, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("para-1", "para-2", "para-3")
    ]
    results = [r.communicate(timeout=60) for r in runs]
    try:
        assert [r.returncode for r in runs] == [0, 0, 0], [err for _, err in results]
        addresses = {json.loads(out)["management_address"] for out, _ in results}
        assert len(addresses) == 3
    finally:
        Lab(lab_store).down(["para-1", "para-2", "para-3"])


def test_status_json_lists_appliances_for_other_tools(lab: LabSession, lab_store: Store) -> None:
    lab.up("coppercube", name="listed", drifts=["stop:http-ui-technic"], enable=["technician-access"])
    env = dict(os.environ, **{LAB_DIR_ENV: str(lab_store.root)})
    done = subprocess.run(
        [*PORTSPEC, "lab", "status", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    )
    listed = {s["name"]: s for s in json.loads(done.stdout)}["listed"]
    assert listed["spec"] == "coppercube" and listed["profile"] == "fw-1.23"
    assert listed["enabled"] == ["technician-access"] and listed["drifts"] == ["stop:http-ui-technic"]
    assert Path(listed["private_key"]).is_file() and Path(listed["known_hosts"]).is_file()
    assert listed["ssh_user"] == "portspec"
