"""`--cluster-net CIDR` (ini: portspec_cluster_net): the cluster network of cluster-only ports,
validated when the run starts and passed to every device's checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_portspec.engine.build import build_fleet
from pytest_portspec.engine.settings import Settings
from pytest_portspec.errors import SpecError
from pytest_portspec.plugin.options import load_settings
from pytest_portspec.spec.inventory import load_inventory

DEVICE = ("--device", "voss@198.18.0.10", "--role", "database")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("198.18.40.0/33", "invalid network '198.18.40.0/33'"),
        ("cluster", "expected ADDRESS/PREFIX"),
        ("198.18.40.0/24,198.18.41.0/24", "expected ADDRESS/PREFIX"),
        ("", "expected ADDRESS/PREFIX"),
        ("198.18.40.7/24", "host bits are set (did you mean 198.18.40.0/24?)"),
    ],
)
def test_a_bad_cluster_network_is_a_usage_error(pytester: pytest.Pytester, value: str, why: str) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--collect-only", *DEVICE, "--cluster-net", value
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--cluster-net {value!r}: " in result.stderr.str() and why in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_the_cluster_networks_reach_every_devices_declarations(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig(
        *DEVICE, "--cluster-net", "198.18.40.0/24", "--cluster-net", "2001:2:0:40::/64"
    )
    settings = load_settings(config)
    assert settings.cluster_nets == ("198.18.40.0/24", "2001:2:0:40::/64")
    [run] = build_fleet(settings).runs
    assert run.declared.cluster_nets == ("198.18.40.0/24", "2001:2:0:40::/64")


def test_the_ini_names_them_too(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nportspec_cluster_net =\n    198.18.40.0/24\n    198.18.41.0/24\n")
    settings = load_settings(pytester.parseconfig(*DEVICE))
    assert settings.cluster_nets == ("198.18.40.0/24", "198.18.41.0/24")


SITE = """\
site: site-a
devices:
  - {name: db-1, spec: voss, role: database, host: 198.18.0.12}
  - {name: db-2, spec: voss, role: database, host: 198.18.0.13}
clusters:
  - {name: mongo, devices: [db-1], networks: [198.18.40.0/24]}
"""


def test_an_inventorys_cluster_names_the_network_of_its_devices(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE, encoding="utf-8")
    inventory = load_inventory(path)
    assert inventory.cluster_nets == {"mongo": ("198.18.40.0/24",)}
    fleet = build_fleet(Settings(inventory=inventory, cluster_nets=("2001:2:0:40::/64",)))
    declared = {run.label.rpartition("@")[2]: run.declared.cluster_nets for run in fleet.runs}
    assert declared == {"db-1": ("2001:2:0:40::/64", "198.18.40.0/24"), "db-2": ("2001:2:0:40::/64",)}


def test_a_bad_network_of_an_inventorys_cluster_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE.replace("198.18.40.0/24", "198.18.40.7/24"), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_inventory(path)
    [problem] = info.value.problems
    assert (problem.line, problem.path) == (6, "clusters[0].networks[0]")
    assert "host bits are set (did you mean 198.18.40.0/24?)" in problem.message
