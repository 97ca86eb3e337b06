"""Bad spec input: every case names the file, the line, the key path and what is wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_portspec.errors import Problem, SpecError
from pytest_portspec.spec import load_spec

GOOD = """\
format: 1
name: demo
product: Demo appliance
vendor: Example
source:
  doc: demo.txt
  title: Demo ports
profiles:
  secure:
    title: Secure mode
    default: true
  open:
    title: Open mode
conditions:
  modbus:
    title: Modbus enabled
    default: false
roles:
  server: {title: Server}
  agent: {title: Agent}
default:
  in: block
  out: {secure: block, open: allow}
  citation: {quote: "All other ports are blocked."}
rows:
  - id: ssh
    service: SSH
    process: sshd
    direction: in
    proto: tcp
    ports: 22
    action: allow
    listener: required
    citation: {quote: "22 SSH"}
  - id: cloud
    service: Cloud link
    direction: out
    proto: tcp
    ports: [443, 8883]
    action: {secure: allow, open: allow}
    destinations:
      - cloud.example.com
      - {host: api.example.com, ip: 203.0.113.5}
      - 198.51.100.0/24
    citation: {quote: "443 cloud"}
  - id: agent-link
    service: Agent to server
    between: {from: agent, to: server}
    proto: udp
    ports: "5000-5010"
    action: allow
    condition: modbus
    citation: {quote: "5000-5010"}
"""


def write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str, name: str = "demo.yaml") -> list[Problem]:
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text, name))
    return list(info.value.problems)


def edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    """1-based number of the last line containing needle."""
    return [i + 1 for i, line in enumerate(text.splitlines()) if needle in line][-1]


def test_the_reference_spec_is_valid(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    assert [r.id for r in spec.rows] == ["ssh", "cloud", "agent-link"]


BAD_CASES = [
    pytest.param(
        '  citation: {quote: "All other ports are blocked."}\n',
        '  citation: {quote: "All other ports are blocked."}\n  dynamic: yes\n',
        "dynamic: yes",
        "default.dynamic",
        "expected a mapping",
        id="dynamic-not-a-citation",
    ),
    pytest.param(
        "ports: 22\n",
        "ports: 70000\n",
        "ports: 70000",
        "rows[0].ports",
        "expected a port number 1-65535, found '70000'",
        id="port-too-high",
    ),
    pytest.param("ports: 22\n", "ports: 0\n", "ports: 0", "rows[0].ports", "found '0'", id="port-zero"),
    pytest.param(
        'ports: "5000-5010"',
        'ports: "5010-5000"',
        'ports: "5010-5000"',
        "rows[2].ports",
        "port range '5010-5000' has lo > hi",
        id="range-reversed",
    ),
    pytest.param(
        "    proto: tcp\n    ports: 22",
        "    proto: sctp\n    ports: 22",
        "proto: sctp",
        "rows[0].proto",
        "expected one of tcp, udp, both, found str 'sctp'",
        id="bad-proto",
    ),
    pytest.param(
        "direction: in",
        "direction: inbound",
        "direction: inbound",
        "rows[0].direction",
        "expected one of in, out, both, found str 'inbound'",
        id="bad-direction",
    ),
    pytest.param(
        "    action: allow\n    listener",
        "    action: permit\n    listener",
        "action: permit",
        "rows[0].action",
        "expected allow or block, found str 'permit'",
        id="bad-action",
    ),
    pytest.param(
        "    process: sshd\n",
        "    proces: sshd\n",
        "proces: sshd",
        "rows[0].proces",
        "unknown key (did you mean 'process'?)",
        id="unknown-key-did-you-mean",
    ),
    pytest.param(
        "  - id: cloud\n",
        "  - id: ssh\n",
        "  - id: ssh",
        "rows[1].id",
        "duplicate row id 'ssh' (first used on line",
        id="duplicate-row-id",
    ),
    pytest.param(
        "{secure: allow, open: allow}",
        "{secure: allow, opne: allow}",
        "opne: allow",
        "rows[1].action",
        "unknown profile 'opne' (did you mean 'open'?)",
        id="unknown-profile",
    ),
    pytest.param(
        "condition: modbus",
        "condition: modbuss",
        "condition: modbuss",
        "rows[2].condition",
        "unknown condition 'modbuss' (did you mean 'modbus'?)",
        id="unknown-condition",
    ),
    pytest.param(
        "{from: agent, to: server}",
        "{from: agent, to: sever}",
        "to: sever",
        "rows[2].between.to",
        "unknown role 'sever' (did you mean 'server'?)",
        id="unknown-role",
    ),
    pytest.param(
        "      - cloud.example.com\n",
        "      - cloud_example..com\n",
        "cloud_example",
        "rows[1].destinations[0]",
        "invalid host name 'cloud_example..com'",
        id="bad-hostname",
    ),
    pytest.param(
        "ip: 203.0.113.5",
        "ip: 203.0.113.500",
        "203.0.113.500",
        "rows[1].destinations[1].ip",
        "invalid IP address '203.0.113.500'",
        id="bad-ip",
    ),
    pytest.param(
        "198.51.100.0/24",
        "198.51.100.7/24",
        "198.51.100.7/24",
        "rows[1].destinations[2]",
        "host bits are set (did you mean 198.51.100.0/24?)",
        id="cidr-host-bits",
    ),
    pytest.param(
        "198.51.100.0/24",
        "198.51.100.0/40",
        "198.51.100.0/40",
        "rows[1].destinations[2]",
        "invalid network '198.51.100.0/40'",
        id="cidr-bad-prefix",
    ),
    pytest.param(
        '    citation: {quote: "22 SSH"}\n',
        "",
        "  - id: ssh",
        "rows[0].citation",
        "missing required key",
        id="missing-citation",
    ),
    pytest.param(
        '{quote: "22 SSH"}',
        '{quote: ""}',
        'quote: ""',
        "rows[0].citation.quote",
        "expected text, found str ''",
        id="empty-quote",
    ),
    pytest.param(
        "    listener: required\n",
        "    listener: always\n",
        "listener: always",
        "rows[0].listener",
        "expected one of required, permitted, forbidden, loopback-only",
        id="bad-listener",
    ),
    pytest.param(
        "    default: true\n  open",
        "    default: false\n  open",
        "profiles:",
        "profiles",
        "exactly one profile must have default: true, found none",
        id="no-default-profile",
    ),
    pytest.param(
        "out: {secure: block, open: allow}",
        "out: {secure: block}",
        "out: {secure: block}",
        "default.out",
        "missing a default for profile(s) open",
        id="default-missing-profile",
    ),
    pytest.param(
        "    direction: out\n    proto: tcp\n    ports: [443",
        "    direction: in\n    proto: tcp\n    ports: [443",
        "destinations:",
        "rows[1].destinations",
        "destinations are for outbound rows, not in rows",
        id="destinations-on-inbound",
    ),
    pytest.param(
        "format: 1",
        "format: 2",
        "format: 2",
        "format",
        "expected 1, found int 2",
        id="wrong-format-version",
    ),
    pytest.param(
        "name: demo",
        "name: other",
        "name: other",
        "name",
        "the spec name 'other' must match its file name 'demo.yaml'",
        id="name-not-file-name",
    ),
    pytest.param(
        "    action: allow\n    listener",
        "    action: allow/block\n    listener",
        "action: allow/block",
        "rows[0].action",
        "(IN/OUT pairs are for direction both)",
        id="pair-on-single-direction",
    ),
]


@pytest.mark.parametrize(("old", "new", "line_text", "path", "message"), BAD_CASES)
def test_bad_spec_names_line_path_and_problem(
    tmp_path: Path, old: str, new: str, line_text: str, path: str, message: str
) -> None:
    text = edit(old, new)
    problems = problems_of(tmp_path, text)
    matching = [p for p in problems if p.path == path and message in p.message]
    assert matching, f"no problem at {path} with {message!r}; got: {[str(p) for p in problems]}"
    problem = matching[0]
    assert problem.line == line_of(text, line_text)
    assert problem.file.endswith("demo.yaml")
    assert str(problem).startswith(f"{problem.file}:{problem.line}: {path}: ")


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    text = edit("    ports: 22\n", "    ports: [22\n")
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1
    assert "malformed YAML" in problems[0].message
    assert problems[0].line is not None and problems[0].line > line_of(text, "ports: [22") - 1


def test_duplicate_mapping_key_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    text = edit("    ports: 22\n", "    ports: 22\n    ports: 23\n")
    problems = problems_of(tmp_path, text)
    assert [(p.line, p.path, p.message) for p in problems] == [
        (line_of(text, "ports: 23"), "rows[0].ports", "duplicate key")
    ]


def test_several_problems_are_reported_together_in_line_order(tmp_path: Path) -> None:
    text = edit("ports: 22\n", "ports: 70000\n").replace("proto: udp", "proto: icmp")
    problems = problems_of(tmp_path, text)
    assert [p.path for p in problems] == ["rows[0].ports", "rows[2].proto"]
    assert [p.line for p in problems] == sorted(p.line or 0 for p in problems)


def test_empty_file_and_non_mapping_top_level(tmp_path: Path) -> None:
    assert "the file is empty" in problems_of(tmp_path, "")[0].message
    problems = problems_of(tmp_path, "- just\n- a list\n")
    assert problems[0].message == "expected a mapping, found a list"
    assert problems[0].line == 1


def test_missing_top_level_keys_are_listed(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "format: 1\nname: demo\n")
    missing = {p.path for p in problems if p.message == "missing required key"}
    assert missing == {"product", "vendor", "source", "profiles", "default", "rows"}


def test_libyaml_and_the_python_parser_give_the_same_nodes_and_lines() -> None:
    """Specs are composed with libyaml where PyYAML has it; every line a problem names must match."""
    import yaml

    from pytest_portspec.spec.catalog import packaged_spec_dir, spec_files

    def flat(node: yaml.Node) -> list[tuple[str, int, int]]:
        here = [(node.tag, node.start_mark.line, node.start_mark.column)]
        if isinstance(node, yaml.MappingNode):
            return here + [n for k, v in node.value for n in flat(k) + flat(v)]
        if isinstance(node, yaml.SequenceNode):
            return here + [n for item in node.value for n in flat(item)]
        return [*here, (str(node.value), 0, 0)]

    assert yaml.__with_libyaml__  # the wheels ship it; without it the fast path is the Python one
    for path in spec_files([packaged_spec_dir()]):
        text = path.read_text(encoding="utf-8")
        fast, slow = yaml.compose(text, Loader=yaml.CSafeLoader), yaml.compose(text, Loader=yaml.SafeLoader)
        assert fast is not None and slow is not None and flat(fast) == flat(slow), path.name
