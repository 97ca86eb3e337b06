"""Cluster-only ports on the emulator (issue 18): a VOSS database node whose ufw lets only the
cluster's network in on its node-to-node ports passes; the same node with 27017 open to Anywhere
fails those rows and the exposure audit, checked alone (`--device`, `--cluster-net`) and as a
node of the VOSS site example, whose node-to-node flows all still pass.

The lab's nodes allow their cluster-only ports `from 198.18.248.0/21` (every site segment), IPv4
only, while they have global IPv6 addresses: an IPv4-only cluster rule set is complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from plugin_runs import run_plugin

from pytest_portspec.lab.controller import Lab
from pytest_portspec.lab.fixture import LabSession
from pytest_portspec.lab.plan import CLUSTER_NET
from pytest_portspec.lab.store import Store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLUSTER_ROWS = (
    "in-27017,27030-tcp-app-db-database::ufw",
    "in-27017,27030-tcp-db-db-database::ufw",
    "in-8443-tcp-app-db-cluster::ufw",
    "in-8443-tcp-db-db-cluster::ufw",
    "in-27019,27020-tcp::ufw",
)
OPEN_27017 = {
    "in-27017,27030-tcp-app-db-database::ufw": "cluster-open",
    "in-27017,27030-tcp-db-db-database::ufw": "cluster-open",
    "exposure::exposure": "exposed",
}


def results(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Results by item (device label stripped): the node's own items, not the site's flows."""
    return {r["nodeid"].split("::", 1)[1]: r for r in data["results"] if "->" not in r["nodeid"]}


def bad(data: dict[str, Any]) -> dict[str, str | None]:
    return {
        k: r.get("failure_class") for k, r in results(data).items() if r["outcome"] in ("failed", "error")
    }


def test_a_database_node_whose_cluster_ports_only_the_cluster_reaches_passes(
    lab: LabSession, pytester: pytest.Pytester
) -> None:
    lab.up("voss", name="db-cluster", role="database", enable=["all"])
    data = run_plugin(pytester, "--device", "voss@lab:db-cluster")
    assert bad(data) == {}, data["stdout"][-3000:]
    found = results(data)
    for key in CLUSTER_ROWS:
        assert found[key]["outcome"] == "passed", found[key]
        assert any(f"only from {CLUSTER_NET}" in n for n in found[key]["notes"]), found[key]["notes"]
    assert found["in-8443-tcp-db-db-cluster::inbound"]["outcome"] == "skipped"

    strict = run_plugin(pytester, "--device", "voss@lab:db-cluster", "--cluster-net", CLUSTER_NET)
    assert bad(strict) == {}, strict["stdout"][-3000:]
    narrower = run_plugin(pytester, "--device", "voss@lab:db-cluster", "--cluster-net", "198.18.251.0/24")
    # the rules let in more than the declared network: the rows and the exposure audit fail
    assert bad(narrower) == {key: "cluster-open" for key in CLUSTER_ROWS} | {"exposure::exposure": "exposed"}
    # the rest of what the rules let in is the site's management network: allowed, and named
    managed = run_plugin(
        pytester,
        "--device",
        "voss@lab:db-cluster",
        "--cluster-net",
        "198.18.251.0/24",
        "--management-net",
        CLUSTER_NET,
    )
    assert bad(managed) == {}, managed["stdout"][-3000:]
    notes = results(managed)["in-27017,27030-tcp-db-db-database::ufw"]["notes"]
    assert any(f"management networks ({CLUSTER_NET})" in n for n in notes), notes


def test_the_same_node_with_27017_open_to_anywhere_fails_the_rows_and_the_exposure_audit(
    lab: LabSession, pytester: pytest.Pytester
) -> None:
    lab.up("voss", name="db-open", role="database", enable=["all"], drifts=["ufw-allow:27017/tcp"])
    data = run_plugin(pytester, "--device", "voss@lab:db-open")
    assert bad(data) == OPEN_27017, data["stdout"][-3000:]
    row = results(data)["in-27017,27030-tcp-db-db-database::ufw"]
    assert "a cluster-only port open to every address" in row["observed"]
    assert (
        "cluster-only port 27017/tcp open to every address" in results(data)["exposure::exposure"]["observed"]
    )


def test_in_the_voss_site_the_open_node_fails_and_every_flow_still_passes(
    lab_store: Store, pytester: pytest.Pytester
) -> None:
    session = LabSession(Lab(lab_store))
    try:
        _, inventory = session.site(EXAMPLES / "voss-site.yaml", "database-1:ufw-allow:27017/tcp")
        data = run_plugin(pytester, f"--inventory={inventory}")
    finally:
        session.close()
    pairs = {r["nodeid"]: r["outcome"] for r in data["results"] if r.get("check") == "pair"}
    assert len(pairs) == 11 and set(pairs.values()) == {"passed"}, data["stdout"][-3000:]
    failed = {
        r["nodeid"].split("::", 1)[1]: r.get("failure_class")
        for r in data["results"]
        if r["outcome"] in ("failed", "error") and "->" not in r["nodeid"]
    }
    assert failed == OPEN_27017, data["stdout"][-3000:]
    assert all(
        r["nodeid"].startswith("voss[cluster]@database-1")
        for r in data["results"]
        if r["outcome"] == "failed"
    )
