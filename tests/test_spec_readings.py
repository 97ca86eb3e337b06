"""The `alternatives:` of a decision: other readings of a self-contradicting document, validated
at load with the line and key path of every mistake, shown by `portspec show` and checked by lint."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_loader_errors import GOOD, line_of, problems_of, write

from pytest_portspec.spec import load_spec
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.lint import spec_notes
from pytest_portspec.spec.readings import apply, describe

DECISION = """\
decisions:
  - id: ssh-udp-or-tcp
    rows: [ssh, cloud]
    issue: The table says tcp, the example udp.
    decision: Either reading passes.
    reading: the table
    alternatives:
      - id: example
        title: the example
        citation: {quote: "22/udp ALLOW IN"}
        rows:
          ssh: {proto: udp, listener: permitted}
          cloud: {ports: 8883, action: {secure: block, open: allow}}
"""


def with_decision(old: str = "", new: str = "") -> str:
    text = GOOD + DECISION
    assert old in text
    return text.replace(old, new, 1)


def test_a_reading_gives_the_rows_as_it_reads_them(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, with_decision()))
    [decision] = spec.decisions
    assert decision.reading == "the table"
    [reading] = decision.alternatives
    assert reading.id == "example" and reading.citation.quote == "22/udp ALLOW IN"
    other = apply(spec, dict(reading.rows))
    ssh, cloud = other.rows[0], other.rows[1]
    assert ssh.protos == ("udp",) and ssh.listener == "permitted" and ssh.ports == spec.rows[0].ports
    assert [str(p) for p in cloud.ports] == ["8883"] and cloud.actions["secure"].outbound == "block"
    assert spec.rows[0].protos == ("tcp",)  # the spec itself is unchanged
    assert describe(reading.rows["ssh"]) == "proto udp, listener permitted"
    assert ("decisions[ssh-udp-or-tcp].alternatives[example]", reading.citation) in spec.citations()


BAD = [
    pytest.param(
        "ssh: {proto: udp",
        "sssh: {proto: udp",
        "sssh:",
        "unknown row 'sssh' (did you mean 'ssh'?)",
        id="unknown-row",
    ),
    pytest.param(
        "ssh: {proto: udp",
        "agent-link: {proto: udp",
        "agent-link: {",
        "unknown row 'agent-link'",
        id="row-not-in-decision",
    ),
    pytest.param(
        "{proto: udp, listener",
        "{protocol: udp, listener",
        "ssh: {protocol",
        "unknown key (did you mean 'proto'?)",
        id="unknown-field",
    ),
    pytest.param(
        "listener: permitted}",
        "listener: sometimes}",
        "ssh: {proto",
        "expected one of required, permitted",
        id="bad-listener",
    ),
    pytest.param(
        "cloud: {ports: 8883, action",
        "cloud: {listener: required, action",
        "cloud: {listener",
        "outbound rows have no listener",
        id="listener-on-outbound",
    ),
    pytest.param(
        "    reading: the table\n",
        "",
        "alternatives:",
        "names the reading its rows follow",
        id="no-primary-reading",
    ),
    pytest.param(
        "        citation: {quote",
        "        cite: {quote",
        "- id: example",
        "missing required key",
        id="misspelt-citation",
    ),
    pytest.param(
        "ssh: {proto: udp, listener: permitted}",
        "ssh: {}",
        "ssh: {}",
        "expected one or more of proto, ports",
        id="empty-override",
    ),
]


@pytest.mark.parametrize(("old", "new", "where", "message"), BAD)
def test_a_wrong_reading_is_a_problem_with_its_line(
    tmp_path: Path, old: str, new: str, where: str, message: str
) -> None:
    text = with_decision(old, new)
    problems = problems_of(tmp_path, text)
    assert any(message in p.message for p in problems), problems
    found = next(p for p in problems if message in p.message)
    assert found.line == line_of(text, where), found


def test_two_decisions_with_readings_cannot_share_a_row(tmp_path: Path) -> None:
    second = DECISION.replace("decisions:\n", "").replace("ssh-udp-or-tcp", "again")
    problems = problems_of(tmp_path, GOOD + DECISION + second)
    assert any("row ssh is also in decision ssh-udp-or-tcp" in p.message for p in problems)


def test_lint_lists_each_reading_and_show_prints_it() -> None:
    spec = find_spec("smartserver")
    notes = "\n".join(spec_notes(spec))
    assert "decision lon-tcp-vs-example-udp" in notes
    assert "reading: the table (TCP); also accepted: the example listing (UDP, in and out)" in notes
    assert "lon: proto udp" in notes


def test_show_prints_the_other_readings() -> None:
    from pytest_portspec.report.policy_text import policy_text
    from pytest_portspec.spec.policy import effective_policy

    text = policy_text(effective_policy(find_spec("smartserver")))
    assert (
        "decision lon-tcp-vs-example-udp: rows as the table (TCP); also accepted: the example listing" in text
    )
    assert "lon-ip70: proto udp, actions as the reading gives them" in text
