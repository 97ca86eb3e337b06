"""Inventory files: validated like specs, and turned into devices without contacting any."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_portspec.cli import main
from pytest_portspec.errors import LabError, SpecError
from pytest_portspec.lab.cluster import node_drifts
from pytest_portspec.spec.inventory import load_inventory

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name", ["voss-site.yaml", "syncsign-site.yaml"])
def test_the_examples_are_valid(name: str) -> None:
    inventory = load_inventory(EXAMPLES / name, lab=True)  # hosts: documentation addresses
    assert inventory.site and inventory.devices and inventory.clusters


def test_defaults_and_device_settings_combine() -> None:
    inventory = load_inventory(EXAMPLES / "voss-site.yaml", lab=True)
    app = next(d for d in inventory.devices if d.name == "application-1")
    assert (app.spec, app.role, app.host, app.enable) == (
        "voss",
        "application",
        "192.0.2.11",
        ("ucm", "ldap"),
    )
    assert (app.ssh_user, app.ssh_key) == ("platform", "~/.ssh/site-a-platform")
    assert inventory.clusters["voss-cluster"] == ("webproxy-1", "application-1", "database-1", "unified-1")


GOOD = """\
site: lab
devices:
  - {name: db-1, spec: voss, role: database, host: 198.18.0.12}
  - {name: cube, spec: coppercube, host: cube.example.net, port: 2222}
clusters:
  - {name: c, devices: [db-1]}
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("spec: voss", "spec: vos", 3, "no spec named 'vos' (did you mean 'voss'?)"),
        ("role: database", "role: db", 3, "spec 'voss' has no role 'db'"),
        (
            "role: database, ",
            "",
            3,
            "describes roles (webproxy, application, database, unified): give the role",
        ),
        ("host: 198.18.0.12", "host: 198.18.0.999", 3, "'198.18.0.999' is not a valid host name or address"),
        ("port: 2222", "port: 70000", 4, "expected an SSH port 1-65535"),
        ("host: 198.18.0.12", "host: 198.18.0.12, address: 198.18.0.999", 3, "'198.18.0.999' is not a valid"),
        ("name: cube", "name: db-1", 4, "duplicate device name 'db-1' (first on line 3)"),
        ("devices: [db-1]", "devices: [db-2]", 6, "unknown device 'db-2' (did you mean 'db-1'?)"),
        ("host: cube.example.net", "host: cube.example.net, enable: [nttp]", 4, "has no condition 'nttp'"),
        ("site: lab", "sight: lab", 1, "unknown key (did you mean 'site'?)"),
    ],
)
def test_a_bad_inventory_names_file_line_and_problem(
    tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    assert old in GOOD
    path = tmp_path / "site.yaml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_inventory(path)
    found = [p for p in info.value.problems if message in p.message]
    assert found, [str(p) for p in info.value.problems]
    assert found[0].line == line


def test_the_plugin_collects_an_inventory_without_contacting_a_device(pytester: pytest.Pytester) -> None:
    site = pytester.path / "voss-site.yaml"  # the example, with test addresses for its documentation ones
    example = (EXAMPLES / "voss-site.yaml").read_text(encoding="utf-8")
    site.write_text(example.replace("192.0.2.", "198.18.0."), encoding="utf-8")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--collect-only", "-q", "--inventory", str(site)
    )
    lines = result.stdout.lines
    assert "voss[cluster]@database-1::in-27019,27020-tcp::ufw" in lines
    assert any(line.startswith("voss[cluster]@webproxy-1::") for line in lines)
    assert "voss@site-a::application-1->database-1::27017-tcp" in lines  # node-to-node, by inventory name
    assert "voss@site-a::webproxy-1->application-1::443-tcp" in lines
    assert "voss@site-a::application-1->webproxy-1::443-tcp" not in lines  # one way only
    assert result.ret == pytest.ExitCode.OK


def test_a_node_address_is_where_its_peers_reach_it(pytester: pytest.Pytester) -> None:
    site = pytester.path / "site.yaml"
    site.write_text(
        "site: s\ndevices:\n"
        "  - {name: app, spec: voss, role: application, host: 198.18.0.11, address: 198.18.0.111}\n"
        "  - {name: db, spec: voss, role: database, host: 198.18.0.12}\n",
        encoding="utf-8",
    )
    inventory = load_inventory(site)
    assert [d.address for d in inventory.devices] == ["198.18.0.111", None]
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--collect-only", "-q", f"--inventory={site}"
    )
    assert "voss@s::db->app::27017-tcp" in result.stdout.lines
    assert result.ret == pytest.ExitCode.OK


def test_site_drifts_name_a_node_and_path_blocks_another_one() -> None:
    inventory = load_inventory(EXAMPLES / "voss-site.yaml", lab=True)
    drifts = node_drifts(
        inventory, ["database-1:stop:app-db-database", "webproxy-1:path-block:unified-1:443/tcp"]
    )
    assert drifts["database-1"] == ["stop:app-db-database"] and drifts["unified-1"] == []
    with pytest.raises(LabError, match=r"NODE one of webproxy-1, .* \(did you mean 'database-1'\?\)"):
        node_drifts(inventory, ["databse-1:stop:x"])
    with pytest.raises(LabError, match="'webproxy-1' is not another node of the site"):
        node_drifts(inventory, ["webproxy-1:path-block:webproxy-1:443/tcp"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lab", "up"], "name a spec (SPEC[:PROFILE]) or pass --inventory FILE"),
        (["lab", "up", "voss", "--inventory", "site.yaml"], "pass only --drift NODE:DRIFT"),
        (["lab", "up", "--inventory", "site.yaml", "--role", "database"], "pass only --drift NODE:DRIFT"),
    ],
)
def test_lab_up_takes_a_spec_or_a_site(args: list[str], message: str) -> None:
    with pytest.raises(SystemExit, match=re.escape(message)):
        main(args)
