"""`--inventory` with an Ansible inventory: told apart from ours, read by the real ansible-inventory
(INI, YAML, a directory with group_vars), whatever the user's Ansible environment says, within a
deadline and an output cap; --inventory-limit selects hosts; a missing program is one sentence."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_portspec.errors import PortspecError, SpecError
from pytest_portspec.spec import ansible_run
from pytest_portspec.spec.inventory_source import InventoryKindError, inventory_kind, read_inventory

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).resolve().parent / "data" / "ansible"


def usable(tmp_path: Path, example: str) -> Path:
    """An example with test addresses in place of its documentation ones (which are refused)."""
    source, target = EXAMPLES / example, tmp_path / example
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    for path in [target] if target.is_file() else target.rglob("*.y*ml"):
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text.replace("192.0.2.", "198.18.0.").replace("198.51.100.", "198.19.0."), encoding="utf-8"
        )
    return target


@pytest.mark.parametrize(
    ("example", "names"),
    [
        ("ansible/hosts.ini", 7),  # INI, two sites
        ("ansible/site", 6),  # a directory: hosts.yml, group_vars/, host_vars/
        ("ansible/site/hosts.yml", 6),  # the YAML file alone: no group_vars, so no portspec_spec...
    ],
)
def test_the_real_ansible_inventory_reads_ini_yaml_and_directories(
    tmp_path: Path, example: str, names: int
) -> None:
    path = usable(tmp_path, example)
    if example.endswith("hosts.yml"):  # ...except what a file holds itself: it is Ansible's, and says so
        with pytest.raises(SpecError, match="no host has portspec_spec"):
            read_inventory(path)
        return
    inventory = read_inventory(path)
    assert len(inventory.devices) == names
    assert inventory.notes and "without portspec_spec not checked" in inventory.notes[0]


def test_a_limit_selects_hosts_the_ansible_way(tmp_path: Path) -> None:
    path = usable(tmp_path, "ansible/hosts.ini")
    inventory = read_inventory(path, limit="syncsign:!hub-2")
    assert sorted(d.name for d in inventory.devices) == ["hub-1", "sops"]
    assert len(read_inventory(path, limit="voss:&site_a").devices) == 4  # intersection
    both = read_inventory(path, limit="voss,hub-*")  # union, a glob
    assert sorted(d.name for d in both.devices) == [
        "application-1",
        "database-1",
        "hub-1",
        "hub-2",
        "unified-1",
        "webproxy-1",
    ]


def test_a_limit_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    path = usable(tmp_path, "ansible/hosts.ini")
    with pytest.raises(PortspecError, match=r"Could not match supplied host pattern.*nothing-here"):
        read_inventory(path, limit="nothing-here")
    with pytest.raises(SpecError, match=r"no host: the inventory \(or its limit\) names none"):
        read_inventory(path, limit="bastion:&voss")  # both groups exist; no host is in both
    with pytest.raises(SpecError, match="no host has portspec_spec"):
        read_inventory(path, limit="bastion")
    with pytest.raises(PortspecError, match="--inventory-limit selects hosts of an Ansible inventory"):
        read_inventory(usable(tmp_path, "voss-site.yaml"), limit="all")


def test_the_users_ansible_configuration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = usable(tmp_path, "ansible/hosts.ini")
    (tmp_path / "ansible.cfg").write_text("[inventory]\nenable_plugins = yaml\nunparsed_is_failed = False\n")
    monkeypatch.chdir(tmp_path)  # an ansible.cfg in the working directory
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path / "ansible.cfg"))
    monkeypatch.setenv("ANSIBLE_INVENTORY_ENABLED", "yaml")
    monkeypatch.setenv("ANSIBLE_HOST_PATTERN_MISMATCH", "ignore")
    monkeypatch.setenv("ANSIBLE_LOG_PATH", str(tmp_path / "ansible.log"))
    assert len(read_inventory(path).devices) == 7
    with pytest.raises(PortspecError, match="Could not match"):
        read_inventory(path, limit="nothing-here")
    assert not (tmp_path / "ansible.log").exists()


def test_an_unreadable_inventory_is_an_error_not_an_empty_one(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("[web]\nweb-1 ][ this is no host line\n", encoding="utf-8")
    with pytest.raises(PortspecError, match=r"ansible-inventory failed on .*hosts"):
        read_inventory(path)


def test_a_missing_ansible_is_one_sentence_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no ansible-inventory on PATH...
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # ...nor beside this Python
    with pytest.raises(PortspecError) as caught:
        read_inventory(usable(tmp_path, "ansible/hosts.ini"))
    assert str(caught.value).endswith(
        "is an Ansible inventory and ansible-inventory is not installed: "
        "pip install 'pytest-portspec[ansible]'"
    )


def script(tmp_path: Path, body: str) -> Path:
    """A dynamic inventory: the user's own program, which ansible-inventory runs."""
    path = tmp_path / "dynamic.py"
    path.write_text(f"#!{sys.executable}\nimport sys, time, json\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_a_dynamic_inventory_runs_within_a_deadline(tmp_path: Path) -> None:
    with pytest.raises(PortspecError, match="ran longer than 3 s"):
        ansible_run.ansible_list(script(tmp_path, "time.sleep(60)"), deadline=3)  # ansible's start: ~1 s
    hosts = {"all": {"hosts": ["node-1"]}, "_meta": {"hostvars": {"node-1": {"ansible_host": "198.18.0.5"}}}}
    data = ansible_run.ansible_list(script(tmp_path, f"print(json.dumps({hosts!r}))"))
    assert data["_meta"]["hostvars"]["node-1"] == {"ansible_host": "198.18.0.5"}


def test_an_inventory_that_prints_too_much_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ansible_run, "OUTPUT_CAP", 100_000)
    hostvars = {f"node-{i}": {"x": "y" * 100} for i in range(2000)}
    listing = {"all": {"hosts": list(hostvars)}, "_meta": {"hostvars": hostvars}}
    body = f"print(json.dumps({listing!r}))"
    with pytest.raises(PortspecError, match="printed more than"):
        ansible_run.ansible_list(script(tmp_path, body))


@pytest.mark.parametrize(
    ("text", "suffix", "kind"),
    [
        ("site: s\ndevices:\n  - {name: a}\n", ".yaml", "portspec"),
        ("site: s\n", ".yaml", "portspec"),  # ours, incomplete: our loader says what is missing
        ("all:\n  hosts:\n    a:\n", ".yml", "ansible"),
        ("devices:\n  hosts:\n    a:\n", ".yaml", "ansible"),  # a group named devices
        ("web:\n  hosts:\n    a: {x: !vault '...'}\n", ".yml", "ansible"),  # Ansible's tags
        ("[web]\nweb-1 ansible_host=198.18.0.1\n", "", "ansible"),
        ("[web]\nweb-1\n", ".ini", "ansible"),
        ("- a\n- b\n", ".yaml", "portspec"),
    ],
)
def test_the_format_is_told_from_the_content(tmp_path: Path, text: str, suffix: str, kind: str) -> None:
    path = tmp_path / f"inventory{suffix}"
    path.write_text(text, encoding="utf-8")
    assert inventory_kind(path) == kind


def test_neither_format_is_an_error_saying_both(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just some notes\nabout the site\n", encoding="utf-8")
    with pytest.raises(InventoryKindError, match=r"neither a portspec inventory .* nor an Ansible inventory"):
        inventory_kind(path)
    assert inventory_kind(tmp_path) == "ansible"  # a directory


def test_the_plugin_collects_an_ansible_inventory(pytester: pytest.Pytester, tmp_path: Path) -> None:
    path = usable(tmp_path, "ansible/hosts.ini")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--collect-only", f"--inventory={path}", "--inventory-limit=site_a"
    )
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, out
    assert "<PairItem application-1->database-1::27017-tcp>" in out
    assert "hub-1" not in out  # the limit: only site A
    assert "4 device(s); 1 host(s) without portspec_spec not checked: bastion-a" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--inventory={ini}", "--inventory-limit=nothing"], "Could not match supplied host pattern"),
        (["--inventory={doc}"], "ansible_host of application-1"),
    ],
)
def test_usage_errors_are_one_sentence(
    pytester: pytest.Pytester, tmp_path: Path, args: list[str], message: str
) -> None:
    ini, doc = usable(tmp_path, "ansible/hosts.ini"), EXAMPLES / "ansible" / "hosts.ini"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--co", *(a.format(ini=ini, doc=doc) for a in args)
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


@pytest.mark.parametrize(
    ("path", "limit", "message"),
    [
        ("", "all", "--inventory-limit: no --inventory to select hosts of"),
        ("nowhere.ini", "", "--inventory nowhere.ini: no such file or directory"),
    ],
)
def test_the_options_are_checked_before_anything_runs(path: str, limit: str, message: str) -> None:
    from pytest_portspec.plugin.options import _inventory

    with pytest.raises(pytest.UsageError, match=re.escape(message)):
        _inventory(path, (), limit)


def test_our_own_inventory_loads_no_ansible_module() -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from pytest_portspec.spec.inventory_source import read_inventory, inventory_kind\n"
        f"assert inventory_kind(Path({str(EXAMPLES / 'voss-site.yaml')!r})) == 'portspec'\n"
        "print(sorted(m for m in sys.modules if 'ansible' in m))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
