"""`--cluster-net CIDR` and `--management-net CIDR` (ini: portspec_cluster_net, portspec_management_net):
the cluster and management networks of cluster-only ports, validated when the run starts and passed
to every device's checks; an inventory cluster's `networks:`."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_portspec.engine.build import build_fleet
from pytest_portspec.engine.settings import Settings
from pytest_portspec.errors import SpecError
from pytest_portspec.plugin.options import load_settings
from pytest_portspec.spec.inventory import load_inventory

DEVICE = ("--device", "voss@198.18.0.10", "--role", "database")


# (option, ini key, Settings field, a network of its own): the two options share one validation
OPTIONS = [
    ("--cluster-net", "portspec_cluster_net", "cluster_nets", "198.18.40"),
    ("--management-net", "portspec_management_net", "management_nets", "198.18.50"),
]


@pytest.mark.parametrize(("flag", "ini", "field", "net"), OPTIONS)
@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("{net}.0/33", "invalid network '{net}.0/33'"),
        ("cluster", "expected ADDRESS/PREFIX"),
        ("{net}.0/24,198.18.41.0/24", "expected ADDRESS/PREFIX"),
        ("", "expected ADDRESS/PREFIX"),
        ("{net}.7/24", "host bits are set (did you mean {net}.0/24?)"),
    ],
)
def test_a_bad_network_is_a_usage_error(
    pytester: pytest.Pytester, flag: str, ini: str, field: str, net: str, value: str, why: str
) -> None:
    value, why = value.format(net=net), why.format(net=net)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--collect-only", *DEVICE, flag, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{flag} {value!r}: " in result.stderr.str() and why in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize(("flag", "ini", "field", "net"), OPTIONS)
def test_the_networks_reach_every_devices_declarations(
    pytester: pytest.Pytester, flag: str, ini: str, field: str, net: str
) -> None:
    settings = load_settings(pytester.parseconfig(*DEVICE, flag, f"{net}.0/24", flag, "2001:2:0:40::/64"))
    assert getattr(settings, field) == (f"{net}.0/24", "2001:2:0:40::/64")
    [run] = build_fleet(settings).runs
    assert getattr(run.declared, field) == (f"{net}.0/24", "2001:2:0:40::/64")


@pytest.mark.parametrize(("flag", "ini", "field", "net"), OPTIONS)
def test_the_ini_names_them_too(pytester: pytest.Pytester, flag: str, ini: str, field: str, net: str) -> None:
    pytester.makeini(f"[pytest]\n{ini} =\n    {net}.0/24\n    198.18.41.0/24\n")
    settings = load_settings(pytester.parseconfig(*DEVICE))
    assert getattr(settings, field) == (f"{net}.0/24", "198.18.41.0/24")


@pytest.mark.parametrize(("flag", "ini", "field", "net"), OPTIONS)
def test_a_bad_network_in_the_ini_is_named_as_the_option_too(
    pytester: pytest.Pytester, flag: str, ini: str, field: str, net: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini} = {net}.1/24\n")
    with pytest.raises(pytest.UsageError, match=rf"{flag} '{net}.1/24': .*host bits"):
        load_settings(pytester.parseconfig(*DEVICE))


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
