"""Wrong files and options people feed the tool: each is one sentence naming file:line (or the
option), quoting at most ~200 characters of a value, never a traceback (issue 14)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_loader_errors import GOOD as SPEC

from pytest_portspec.addresses import is_documentation_address, is_hostname, is_ip
from pytest_portspec.cli import main
from pytest_portspec.device.address import parse_device
from pytest_portspec.engine.waivers import load_waivers
from pytest_portspec.errors import SpecError
from pytest_portspec.spec import load_spec
from pytest_portspec.spec.inventory import load_inventory
from pytest_portspec.spec.yamlsrc import MAX_FILE_BYTES

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SPEC_END = len(SPEC.splitlines()) + 1  # the line a key appended to the spec is on

WAIVERS = """\
waivers:
  - id: modbus-bms
    row: modbus-tcp
    reason: The BMS polls the SmartServer over Modbus TCP.
    accepted_by: J. Owner (site security)
    expires: 2027-03-31
"""
INVENTORY = """\
site: s
devices:
  - {name: db-1, spec: voss, role: database, host: 198.18.0.12}
  - {name: cube, spec: coppercube, host: cube.example.net, firmware: "1.6"}
"""

# (replaced text, replacement, what the one problem says)
BAD_SCALARS = [
    ("2027-03-31", "2027-02-30", "'2027-02-30' is not a valid date (day is out of range for month)"),
    ("2027-03-31", "!!int abc", "'abc' is not a valid !!int"),
    ("2027-03-31", "!!bool maybe", "'maybe' is not a valid !!bool"),
    ("2027-03-31", "!!timestamp soon", "'soon' is not a valid !!timestamp"),
    ("2027-03-31", "!foo x", "the YAML tag '!foo' is not allowed here"),
    (
        "2027-03-31",
        "!!python/object:os.system x",
        "the YAML tag '!!python/object:os.system' is not allowed here",
    ),
    ("2027-03-31", "!!binary aGVsbG8=", "the YAML tag '!!binary' is not allowed here"),
    ("2027-03-31", "!foo {a: 1}", "the YAML tag '!foo' is not allowed here"),
]


def _lint(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, list[str]]:
    code = main(["lint", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err.splitlines()


@pytest.mark.parametrize(("old", "new", "message"), BAD_SCALARS)
def test_a_bad_date_or_a_yaml_tag_in_a_spec_is_one_line_with_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(SPEC + f"description: {new}\n", encoding="utf-8")
    code, lines = _lint(capsys, path)
    assert code == 1
    assert [line for line in lines if message in line] == [f"{path}:{SPEC_END}: description: {message}"]


@pytest.mark.parametrize(("old", "new", "message"), BAD_SCALARS)
def test_a_bad_date_or_a_yaml_tag_in_a_waiver_file_is_a_problem_with_its_line(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = tmp_path / "accept.yaml"
    path.write_text(WAIVERS.replace(old, new), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_waivers(path)
    assert f"{path}:6: waivers[0].expires: {message}" in [str(p) for p in info.value.problems]


@pytest.mark.parametrize(("old", "new", "message"), BAD_SCALARS)
def test_a_bad_date_or_a_yaml_tag_in_an_inventory_is_a_problem_with_its_line(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(INVENTORY.replace('"1.6"', new), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_inventory(path)
    assert f"{path}:4: devices[1].firmware: {message}" in [str(p) for p in info.value.problems]


@pytest.mark.parametrize("name", ['"db\\e[2J-1"', '"a::b"', '"x y"', '"\\u202eevil"'])
def test_an_inventory_device_name_pytest_would_print_raw_is_refused(tmp_path: Path, name: str) -> None:
    # the name becomes the items' node ids, which pytest prints itself (no sink of ours to escape it)
    path = tmp_path / "site.yaml"
    path.write_text(INVENTORY.replace("name: db-1", f"name: {name}"), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_inventory(path)
    problem = str(info.value.problems[0])
    assert problem.startswith(f"{path}:3: devices[0].name: ") and "is not a device name" in problem
    assert problem.isprintable()


def test_a_waiver_file_with_an_impossible_date_is_a_usage_error_not_an_internal_error(
    pytester: pytest.Pytester,
) -> None:
    accept = pytester.path / "accept.yaml"
    accept.write_text(WAIVERS.replace("2027-03-31", "2027-02-30"), encoding="utf-8")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--collect-only", "--device", "smartserver@198.18.0.2", f"--accept={accept}"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{accept}:6: waivers[0].expires: '2027-02-30' is not a valid date" in result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


LOADERS: list[tuple[str, str, Callable[[Path], object]]] = [
    ("demo.yaml", SPEC, load_spec),
    ("accept.yaml", WAIVERS, load_waivers),
    ("site.yaml", INVENTORY, load_inventory),
]


@pytest.mark.parametrize(("name", "text", "load"), LOADERS)
@pytest.mark.parametrize(
    ("byte", "message"),
    [(b"\x00", "character '\\x00' is not allowed in YAML"), (b"\xff", "byte 0xff is not UTF-8 text")],
)
def test_a_nul_or_a_non_utf8_byte_names_its_line_and_column(
    tmp_path: Path, name: str, text: str, load: Callable[[Path], object], byte: bytes, message: str
) -> None:
    lines = text.encode().split(b"\n")
    lines[2] = lines[2][:5] + byte + lines[2][5:]
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(SpecError) as info:
        load(path)
    assert [str(p) for p in info.value.problems] == [f"{path}:3: column 6: {message}"]


@pytest.mark.parametrize(("name", "text", "load"), LOADERS)
def test_a_file_larger_than_the_cap_is_refused_before_parsing(
    tmp_path: Path, name: str, text: str, load: Callable[[Path], object]
) -> None:
    path = tmp_path / name
    path.write_text(text + "# " + "x" * MAX_FILE_BYTES + "\n", encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(SpecError) as info:
        load(path)
    assert time.monotonic() - started < 2
    assert [str(p) for p in info.value.problems] == [
        f"{path}: the file is larger than {MAX_FILE_BYTES // 2**20} MB, the most a spec, inventory "
        "or waiver file may be"
    ]


@pytest.mark.parametrize(
    "line",
    [
        "description: [{VALUE}]",  # a list where text belongs: kind_of quotes nothing
        "revision: {VALUE}",
        "name: {VALUE}",
        "rows: [{id: '{VALUE}'}]",
        "rows: [{id: x, service: s, direction: in, proto: tcp, ports: '{VALUE}', action: allow, "
        "citation: {quote: q}}]",
        "profiles: {secure: {title: t, default: true, firmware: {min: '{VALUE}'}}}",
        "roles: {'{VALUE}': {title: t}}",
        "rows: [{id: x, service: s, direction: in, proto: tcp, ports: 1, action: allow, "
        "citation: {quote: q}, condition: '{VALUE}'}]",
    ],
)
def test_an_error_line_quotes_at_most_about_200_characters_of_a_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, line: str
) -> None:
    value = "A" * 3_000_000
    text = SPEC
    key = line.split(":", 1)[0]
    kept = [chunk for chunk in text.split("\n") if not chunk.startswith(f"{key}:")]
    if key in ("rows", "profiles", "roles"):  # replace the whole block of that key
        kept, skipping = [], False
        for chunk in text.split("\n"):
            if chunk.startswith(f"{key}:"):
                skipping = True
                continue
            if skipping and chunk.startswith((" ", "-")):
                continue
            skipping = False
            kept.append(chunk)
    path = tmp_path / "demo.yaml"
    path.write_text("\n".join(kept) + "\n" + line.replace("{VALUE}", value) + "\n", encoding="utf-8")
    code, lines = _lint(capsys, path)
    assert code == 1 and lines
    assert max(len(line) for line in lines) < 600, [line[:300] for line in lines]


LAUGHS = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("demo.yaml", SPEC + "description: *a9\nnotes: *a9\n"),
        ("demo.yaml", SPEC.replace("rows:\n", "rows: *a9\nxrows:\n")),
        ("demo.yaml", SPEC + "conditions: {c: {title: *a9, default: *a9, hint: *a9}}\n"),
        ("accept.yaml", "waivers: *a9\n"),
        ("site.yaml", "site: *a9\ndevices: *a9\nclusters: *a9\n"),
    ],
)
def test_a_yaml_alias_bomb_is_refused_in_bounded_time_and_memory(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(LAUGHS + text, encoding="utf-8")
    loader = {"demo.yaml": "load_spec", "accept.yaml": "load_waivers", "site.yaml": "load_inventory"}[name]
    modules = {"load_spec": "spec", "load_waivers": "engine.waivers", "load_inventory": "spec.inventory"}
    module = modules[loader]
    code = (
        "import resource, sys\nfrom pathlib import Path\n"
        f"from pytest_portspec.{module} import {loader}\n"
        "from pytest_portspec.errors import SpecError\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        f"try:\n    {loader}(Path(sys.argv[1]))\nexcept SpecError as exc:\n    print(len(str(exc)))\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert time.monotonic() - started < 10
    assert int(done.stdout) < 20_000  # the problems do not multiply through the aliases


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x@[127.0.0.1", "'[127.0.0.1' lacks its closing ']'"),
        ("x@[::1", "'[::1' lacks its closing ']'"),
        ("x@[127.0.0.1]:22", "expected [IPv6-ADDRESS]:PORT"),
        ("x@[::1]x", "expected [IPv6-ADDRESS]:PORT"),
        ("smartserver@host\udcff", "is not text"),
        ("smart\udcffserver@198.18.0.2", "is not text"),
        ("smartserver@ho\x1bst", "is not text"),
        ("smartserver@" + "h" * 100_000, "is not a valid host name"),
    ],
)
def test_a_malformed_device_option_is_one_sentence_naming_the_option(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_device(text)
    said = str(info.value)
    assert said.startswith("--device ") and message in said and len(said) < 600
    assert said.isprintable()


def test_a_non_utf8_byte_in_the_device_option_is_a_usage_error_naming_it(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--collect-only", "--device", "smartserver@host\udcff"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ERROR: --device 'smartserver@host\\udcff': " in result.stderr.str()


@pytest.mark.parametrize(
    ("address", "documentation"),
    [
        ("192.0.2.10", True),
        ("198.51.100.255", True),
        ("203.0.113.0", True),
        ("2001:db8::1", True),
        ("2001:db8:ffff::1", True),
        ("2001:0DB8::1", True),
        ("::ffff:192.0.2.1", True),
        ("192.0.3.1", False),
        ("198.18.0.1", False),
        ("10.0.0.5", False),
        ("2001:2::1", False),
        ("2001:db9::1", False),
        ("cube.example.net", False),
        ("lab", False),
        ("192.0.2.1\udcff", False),
    ],
)
def test_documentation_addresses_are_known(address: str, documentation: bool) -> None:
    assert is_documentation_address(address) is documentation


@pytest.mark.parametrize(
    "text", ["smartserver@192.0.2.10", "smartserver@198.51.100.7:2222", "smartserver@[2001:db8::1]:22"]
)
def test_a_documentation_address_as_device_host_is_refused(text: str) -> None:
    host = text.split("@")[1].removeprefix("[").split("]")[0].split(":2222")[0]
    with pytest.raises(ValueError) as info:
        parse_device(text)
    assert str(info.value) == (
        f"--device {text!r}: {host} is a documentation address (RFC 5737/3849), never a real device: "
        "give your device's address, or SPEC@lab for the emulated appliance"
    )


def test_a_documentation_address_in_an_inventory_names_the_line_and_the_labs_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTSPEC_LAB_DIR", str(tmp_path / "lab"))
    example = EXAMPLES / "voss-site.yaml"
    first_line = _line_of(example, "192.0.2.10")
    with pytest.raises(SpecError) as info:
        load_inventory(example)
    first = str(info.value.problems[0])
    assert first == (
        f"{example}:{first_line}: devices[0].host: 192.0.2.10 is a documentation address, "
        "never a real device: "
        f"put your device's address in {example}:{first_line}, or run portspec lab up --inventory {example} "
        "and use the lab's inventory"
    )
    assert [str(p) for p in info.value.problems[1:]] == [  # the advice once, not once per device
        f"{example}:{first_line + n}: devices[{n}].host: 192.0.2.{10 + n} is a documentation address too"
        for n in (1, 2, 3)
    ]
    lab_copy = tmp_path / "lab" / "sites" / "site-a.yaml"
    lab_copy.parent.mkdir(parents=True)
    lab_copy.write_text("site: site-a\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_inventory(example)
    assert str(info.value.problems[0]).endswith(f", or use the lab's inventory {lab_copy}")


def test_the_lab_reads_an_inventory_of_documentation_addresses() -> None:
    inventory = load_inventory(EXAMPLES / "voss-site.yaml", lab=True)
    assert [d.host for d in inventory.devices][:1] == ["192.0.2.10"]


def test_specs_may_still_name_documentation_ranges(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(SPEC, encoding="utf-8")
    assert "203.0.113.5" in SPEC and "198.51.100.0/24" in SPEC
    assert load_spec(path).name == "demo"


def test_the_plugin_refuses_the_example_inventory_before_contacting_a_device(
    pytester: pytest.Pytester,
) -> None:
    example = EXAMPLES / "voss-site.yaml"
    started = time.monotonic()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--inventory={example}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert time.monotonic() - started < 30
    line = _line_of(example, "192.0.2.10")
    assert f"{example}:{line}: devices[0].host: 192.0.2.10 is a documentation address" in result.stderr.str()


@pytest.mark.parametrize(("name", "text", "load"), LOADERS)
def test_yaml_nested_too_deeply_is_a_problem_not_a_recursion_error(
    tmp_path: Path, name: str, text: str, load: Callable[[Path], object]
) -> None:
    path = tmp_path / name
    path.write_text(text + "deep: " + "[" * 2_000 + "]" * 2_000 + "\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load(path)
    assert [str(p) for p in info.value.problems] == [f"{path}: malformed YAML: nested too deeply"]


@pytest.mark.parametrize(
    "text", ["198.18.0.1\udcff", "2001:2::1\udcff", "host\udcff", "h\u00e9st", "\u212ahost"]
)
def test_an_address_check_of_a_non_ascii_value_says_no_rather_than_raising(text: str) -> None:
    assert not is_ip(text) and not is_hostname(text) and not is_documentation_address(text)


def _line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line of `path` holding `text`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


@pytest.mark.parametrize(
    "choice",
    [{"role": "r" * 5000}, {"profile": "p" * 5000}, {"enable": ["c" * 5000]}],
    ids=["role", "profile", "condition"],
)
def test_a_huge_command_line_choice_is_quoted_clipped(choice: dict[str, Any]) -> None:
    from pytest_portspec.errors import SelectionError
    from pytest_portspec.spec.catalog import find_spec
    from pytest_portspec.spec.policy import effective_policy

    spec = find_spec("voss" if "role" in choice else "smartserver", [])
    with pytest.raises(SelectionError) as info:
        effective_policy(spec, **choice)
    assert len(str(info.value)) < 600 and "more characters" in str(info.value)
