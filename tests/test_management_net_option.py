"""`--management-net CIDR` (ini: portspec_management_net), an inventory's `management:` and the
Ansible vars portspec_management_nets / portspec_cluster_nets: validated when the run starts,
each bad network named, and passed to every device's checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_portspec.engine.build import build_fleet
from pytest_portspec.engine.settings import Settings
from pytest_portspec.errors import SpecError
from pytest_portspec.plugin.options import load_settings
from pytest_portspec.spec.ansible_inventory import inventory_from_list
from pytest_portspec.spec.inventory import load_inventory

DEVICE = ("--device", "voss@198.18.0.10", "--role", "database")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("198.18.50.0/33", "invalid network '198.18.50.0/33'"),
        ("management", "expected ADDRESS/PREFIX"),
        ("", "expected ADDRESS/PREFIX"),
        ("198.18.50.7/24", "host bits are set (did you mean 198.18.50.0/24?)"),
    ],
)
def test_a_bad_management_network_is_a_usage_error(pytester: pytest.Pytester, value: str, why: str) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--collect-only", *DEVICE, "--management-net", value
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--management-net {value!r}: " in result.stderr.str() and why in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_the_management_networks_reach_every_devices_declarations(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig(
        *DEVICE, "--management-net", "198.18.50.0/24", "--management-net", "2001:2:0:50::/64"
    )
    settings = load_settings(config)
    assert settings.management_nets == ("198.18.50.0/24", "2001:2:0:50::/64")
    [run] = build_fleet(settings).runs
    assert run.declared.management_nets == ("198.18.50.0/24", "2001:2:0:50::/64")


def test_the_ini_names_them_too(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nportspec_management_net =\n    198.18.50.0/24\n    198.18.51.0/24\n")
    settings = load_settings(pytester.parseconfig(*DEVICE))
    assert settings.management_nets == ("198.18.50.0/24", "198.18.51.0/24")


def test_a_bad_network_in_the_ini_is_named_as_the_option_too(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nportspec_management_net = 198.18.50.1/24\n")
    with pytest.raises(pytest.UsageError, match=r"--management-net '198.18.50.1/24': .*host bits"):
        load_settings(pytester.parseconfig(*DEVICE))


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
