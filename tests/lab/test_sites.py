"""Whole sites on the emulator: a VOSS cluster and SyncSign SOPS with hubs, clean and with drifts.

`portspec lab up --inventory` brings the nodes up on the site's shared segment; pytest then
checks every node and every node-to-node flow from the lab's inventory of the site.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin_runs import run_plugin

from pytest_portspec.lab.cluster import up_site
from pytest_portspec.lab.controller import Lab
from pytest_portspec.lab.fixture import LabSession
from pytest_portspec.lab.store import Store
from pytest_portspec.lab.system import run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def site(lab_store: Store) -> Iterator[Any]:
    """Bring a site up: site(inventory, *drifts) -> (states, lab inventory); all down at the end."""
    session = LabSession(Lab(lab_store))

    def up(inventory: Path, *drifts: str) -> tuple[list[dict[str, Any]], Path]:
        appliances, path = session.site(inventory, *drifts)  # the portspec_lab fixture's way
        return [a.state for a in appliances], path

    yield up
    session.close()
    namespaces = run(["ip", "netns", "list"])
    assert lab_store.namespace("seg") not in namespaces  # the segment goes with the site's last node


def check_site(pytester: pytest.Pytester, inventory: Path) -> dict[str, Any]:
    """The plugin on the lab's inventory of a site."""
    return run_plugin(pytester, f"--inventory={inventory}")


def outcomes(data: dict[str, Any], check: str | None = None) -> dict[str, tuple[str, str | None]]:
    return {
        r["nodeid"]: (r["outcome"], r.get("failure_class"))
        for r in data["results"]
        if check is None or r.get("check") == check
    }


def bad(data: dict[str, Any], check: str | None = None) -> dict[str, str | None]:
    return {n: klass for n, (o, klass) in outcomes(data, check).items() if o in ("failed", "error")}


def test_a_clean_voss_cluster_passes_every_node_and_every_flow(site: Any, pytester: pytest.Pytester) -> None:
    states, inventory = site(EXAMPLES / "voss-site.yaml")
    assert {s["role"] for s in states} == {"webproxy", "application", "database", "unified"}
    assert all(s["segment_address"].startswith("198.18.25") for s in states)
    data = check_site(pytester, inventory)
    assert bad(data) == {}, data["stdout"][-4000:]
    pairs = outcomes(data, "pair")
    assert len(pairs) == 11 and {o for o, _ in pairs.values()} == {"passed"}
    assert "voss@site-a::application-1->database-1::27017-tcp" in pairs
    nodes = [d for d in data["devices"] if d.get("kind") != "site"]
    assert [d["remote_commands"] for d in nodes] == [3, 3, 3, 3]  # the peers' probes ride on the 3
    assert "portspec voss@site-a: 11 node-to-node flow(s), 11 passed" in data["stdout"]

    parallel = run_plugin(pytester, f"--inventory={inventory}", "-n", "2")  # a site is one xdist group
    assert outcomes(parallel) == outcomes(data)
    assert [d["remote_commands"] for d in parallel["devices"] if d.get("kind") != "site"] == [3, 3, 3, 3]


def test_per_node_drifts_fail_exactly_the_affected_flows(site: Any, pytester: pytest.Pytester) -> None:
    _, inventory = site(
        EXAMPLES / "voss-site.yaml",
        "database-1:stop:app-db-database",  # the database application stops: its ports close
        "webproxy-1:path-block:application-1:443/tcp",  # the site drops proxy -> application 443
    )
    data = check_site(pytester, inventory)
    assert bad(data, "pair") == {
        "voss@site-a::application-1->database-1::27017-tcp": "service-stopped",
        "voss@site-a::application-1->database-1::27030-tcp": "service-stopped",
        "voss@site-a::webproxy-1->application-1::443-tcp": "blocked-in-path",
    }
    devices = {n.split("::")[0] for n in bad(data) if "->" not in n}
    # the path block is invisible on every node; database-1 with 27017/27030 closed still follows the
    # document's Service and Ports list reading (decision database-port-lists): only its flows fail
    assert devices == set()
    assert "appears stopped" in data["stdout"] and "If an application is stopped" in data["stdout"]


def test_syncsign_hubs_reach_their_sops_in_both_deployments(
    site: Any, pytester: pytest.Pytester, tmp_path: Path
) -> None:
    _, internet = site(EXAMPLES / "syncsign-site.yaml")
    data = check_site(pytester, internet)
    assert bad(data) == {}, data["stdout"][-4000:]
    assert len(outcomes(data, "pair")) == 12  # two hubs x six ports

    lan = tmp_path / "lan.yaml"
    lan.write_text(
        "site: branch\ndevices:\n"
        "  - {name: lan-sops, spec: syncsign-sops, profile: lan, role: sops, host: 192.0.2.30}\n"
        "  - {name: lan-hub-1, spec: syncsign-sops, profile: lan, role: hub, host: 192.0.2.31}\n"
        "  - {name: lan-hub-2, spec: syncsign-sops, profile: lan, role: hub, host: 192.0.2.32}\n",
        encoding="utf-8",
    )
    _, inventory = site(lan, "lan-sops:ufw-delete:1883/tcp", "lan-hub-2:path-block:lan-sops:8883/tcp")
    data = check_site(pytester, inventory)
    closed = {  # ufw-delete removes the whole rule that covers 1883: '1883,8888/tcp'
        f"syncsign-sops@branch::{hub}->lan-sops::{port}-tcp": "blocked-by-peer-ufw"
        for hub in ("lan-hub-1", "lan-hub-2")
        for port in (1883, 8888)
    }
    assert bad(data, "pair") == closed | {
        "syncsign-sops@branch::lan-hub-2->lan-sops::8883-tcp": "blocked-in-path"
    }


def test_lab_down_site_takes_every_node_of_the_site(lab_store: Store) -> None:
    lab = Lab(lab_store)
    states, inventory = up_site(lab, EXAMPLES / "syncsign-site.yaml")
    assert inventory.exists()
    done = subprocess.run(
        [sys.executable, "-m", "pytest_portspec.cli", "lab", "down", "--site", "office-hq"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.removeprefix("down: ").strip().split(", ")) == sorted(s["name"] for s in states)
    assert not inventory.exists() and not (lab_store.root / "segments.json").exists()


def test_a_site_is_all_or_nothing_and_drifts_name_its_nodes(lab_store: Store) -> None:
    lab = Lab(lab_store)
    before = {s["name"] for s in lab.store.states()}
    with pytest.raises(Exception, match="NODE:DRIFT with NODE one of"):
        up_site(lab, EXAMPLES / "voss-site.yaml", ["db-1:stop:x"])
    with pytest.raises(Exception, match="not another node of the site"):
        up_site(lab, EXAMPLES / "voss-site.yaml", ["database-1:path-block:database-1:443/tcp"])
    with pytest.raises(Exception, match="no service named 'nothing'"):
        up_site(lab, EXAMPLES / "voss-site.yaml", ["unified-1:stop:nothing"])  # the fourth node fails
    assert {s["name"] for s in lab.store.states()} == before


def test_a_node_that_cannot_be_reached_errors_its_flows_and_the_others_carry_on(
    site: Any, pytester: pytest.Pytester
) -> None:
    states, inventory = site(EXAMPLES / "voss-site.yaml")
    database = next(s for s in states if s["name"] == "database-1")
    os.kill(database["pids"]["sshd"], signal.SIGTERM)
    time.sleep(0.3)
    data = check_site(pytester, inventory)
    node = next(d for d in data["devices"] if d["device"] == "voss[cluster]@database-1")
    assert "refused the SSH connection" in node["error"]
    flows = outcomes(data, "pair")
    assert {o for k, (o, _) in flows.items() if "database-1" in k} == {"error"}
    assert {o for k, (o, _) in flows.items() if "database-1" not in k} == {"passed"}
    others = {n for n, (o, _) in outcomes(data).items() if o in ("failed", "error") and "database-1" not in n}
    assert others == set()
    assert "voss@site-a: database-1 could not be checked (see its device error)" in data["stdout"]
    assert "Traceback" not in data["stdout"]
