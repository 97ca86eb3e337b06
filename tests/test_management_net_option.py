"""An inventory's `management:` and the Ansible vars portspec_management_nets / portspec_cluster_nets:
validated when the inventory is read, each bad network named, and passed to every device's checks
(the options themselves: test_cluster_net_option.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_portspec.engine.build import build_fleet
from pytest_portspec.engine.settings import Settings
from pytest_portspec.errors import SpecError
from pytest_portspec.spec.ansible_inventory import inventory_from_list
from pytest_portspec.spec.inventory import load_inventory

DEVICE = ("--device", "voss@198.18.0.10", "--role", "database")


SITE = """\
site: site-a
management: [198.18.50.0/24]
devices:
  - {name: db-1, spec: voss, role: database, host: 198.18.0.12}
  - {name: db-2, spec: voss, role: database, host: 198.18.0.13}
clusters:
  - {name: mongo, devices: [db-1], networks: [198.18.40.0/24]}
"""


def test_an_inventorys_management_networks_are_its_devices(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE, encoding="utf-8")
    inventory = load_inventory(path)
    assert inventory.management_nets == ("198.18.50.0/24",)
    fleet = build_fleet(Settings(inventory=inventory, management_nets=("2001:2:0:50::/64",)))
    declared = {run.label.rpartition("@")[2]: run.declared.management_nets for run in fleet.runs}
    assert declared == {
        "db-1": ("2001:2:0:50::/64", "198.18.50.0/24"),
        "db-2": ("2001:2:0:50::/64", "198.18.50.0/24"),
    }


def test_a_bad_management_network_of_an_inventory_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE.replace("198.18.50.0/24", "198.18.50.7/24"), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_inventory(path)
    [problem] = info.value.problems
    assert (problem.line, problem.path) == (2, "management[0]")
    assert "host bits are set (did you mean 198.18.50.0/24?)" in problem.message


def test_one_management_network_may_be_written_without_a_list(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE.replace("[198.18.50.0/24]", "198.18.50.0/24"), encoding="utf-8")
    assert load_inventory(path).management_nets == ("198.18.50.0/24",)


def ansible(db_vars: dict[str, Any]) -> dict[str, Any]:
    """What `ansible-inventory --list` prints for two database nodes, one with `db_vars` too."""
    base = {"portspec_spec": "voss", "portspec_role": "database"}
    return {
        "_meta": {
            "hostvars": {
                "db-1": {**base, "ansible_host": "10.20.0.12", **db_vars},
                "db-2": {**base, "ansible_host": "10.20.0.13"},
            }
        },
        "all": {"children": ["ungrouped"]},
        "ungrouped": {"hosts": ["db-1", "db-2"]},
    }


def test_ansible_vars_name_a_devices_cluster_and_management_networks() -> None:
    data = ansible(
        {
            "portspec_cluster_nets": ["198.18.40.0/24"],
            "portspec_management_nets": "198.18.50.0/24,10.9.0.0/16",
        }
    )
    inventory = inventory_from_list(data, "hosts.ini", (), "site-a")
    fleet = build_fleet(Settings(inventory=inventory, cluster_nets=("198.18.41.0/24",)))
    declared = {run.label.rpartition("@")[2]: run.declared for run in fleet.runs}
    assert declared["db-1"].cluster_nets == ("198.18.41.0/24", "198.18.40.0/24")
    assert declared["db-1"].management_nets == ("198.18.50.0/24", "10.9.0.0/16")
    assert (declared["db-2"].cluster_nets, declared["db-2"].management_nets) == (("198.18.41.0/24",), ())


def test_a_bad_network_of_an_ansible_var_names_the_host_and_the_var() -> None:
    data = ansible({"portspec_management_nets": ["198.18.50.7/24"]})
    with pytest.raises(SpecError) as info:
        inventory_from_list(data, "hosts.ini", (), "site-a")
    [problem] = info.value.problems
    assert problem.path == "db-1.portspec_management_nets"
    assert "host bits are set (did you mean 198.18.50.0/24?)" in problem.message
