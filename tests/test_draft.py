"""`portspec draft`'s skeleton builder (pure): from a device's facts (the emulated SmartServer's real
ss / ufw captures, tests/data) and a scan, a spec whose every row cites what the device showed, that
the loader refuses as it stands and takes once each observation is replaced by a quote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kernelfixture import ufw_save
from test_runner import DATA, sections

from pytest_portspec.checks.context import Facts
from pytest_portspec.device import state_command as snap
from pytest_portspec.draft.skeleton import HEADER, draft_data, draft_yaml
from pytest_portspec.engine.facts import facts_from_sections
from pytest_portspec.errors import SpecError
from pytest_portspec.parse.sockets import Socket
from pytest_portspec.parse.ufw import UfwState, ufw_state
from pytest_portspec.scan.model import AddressScan, PortFinding, ScanFacts
from pytest_portspec.spec import load_spec
from pytest_portspec.spec.lint import lint


def smartserver(**override: str | tuple[int, str]) -> Facts:
    return facts_from_sections("smartserver@lab", snap.parse_sections(sections(**override)), "198.18.1.2")


def cited(data: Any) -> Any:
    """The draft with every observation replaced by a quote, as an engineer would cite it."""
    if isinstance(data, dict):
        if set(data) == {"observed"}:
            return {"quote": "the vendor's words"}
        return {k: cited(v) for k, v in data.items()}
    if isinstance(data, list):
        return [cited(v) for v in data]
    return data


def observations(data: Any) -> list[str]:
    if isinstance(data, dict):
        return (
            [data["observed"]]
            if set(data) == {"observed"}
            else [o for v in data.values() for o in observations(v)]
        )
    return [o for v in data for o in observations(v)] if isinstance(data, list) else []


def test_every_listener_is_a_row_off_loopback_required_on_loopback_internal() -> None:
    facts = smartserver()
    rows = {
        (r["proto"], r["ports"], r.get("scope", "external")): r
        for r in draft_data(facts).data["rows"]
        if r["direction"] == "in"
    }
    for sock in facts.sockets:
        scope = "loopback" if sock.loopback else "external"
        row = rows[(sock.proto, sock.port, scope)]
        assert row["process"] == sock.names[0]
        assert row["citation"]["observed"].startswith("ss: ")
        assert row.get("listener", "loopback-only") == ("loopback-only" if sock.loopback else "required")
    assert rows[("tcp", 443, "external")]["action"] == "allow"  # ufw allows it
    assert rows[("tcp", 6379, "external")]["action"] == "block"  # redis: listening, ufw's default denies it


def test_every_ufw_rule_is_quoted_by_a_row_or_a_note() -> None:
    facts = smartserver()
    text = " ".join(observations(draft_data(facts).data)) + " ".join(
        str(r.get("note", "")) for r in draft_data(facts).data["rows"]
    )
    for rule in facts.ufw.rules:
        assert rule.describe() in text, rule.describe()
    outbound = {(r["proto"], r["ports"]) for r in draft_data(facts).data["rows"] if r["direction"] == "out"}
    assert ("udp", 123) in outbound and ("tcp", 502) in outbound


def test_default_is_ufws_and_rows_sorted_with_unique_valid_ids() -> None:
    data = draft_data(smartserver()).data
    assert (data["default"]["in"], data["default"]["out"]) == ("block", "block")
    assert "deny (incoming), deny (outgoing)" in data["default"]["citation"]["observed"]
    ids = [r["id"] for r in data["rows"]]
    assert len(ids) == len(set(ids))
    order = [
        (r["direction"] != "in", r.get("scope") == "loopback", int(str(r["ports"]).split("-")[0]))
        for r in data["rows"]
    ]
    assert order == sorted(order)


def test_the_draft_is_refused_as_it_stands_and_lints_clean_once_cited(tmp_path: Path) -> None:
    draft = draft_data(smartserver(), name="acme-box", device="smartserver@lab")
    text = draft_yaml(draft)
    assert text.startswith(HEADER)
    path = tmp_path / "acme-box.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert len(caught.value.problems) == len(observations(draft.data))  # each one, nothing else
    assert all("a draft observation" in p.message and p.line for p in caught.value.problems)
    path.write_text(yaml.safe_dump(cited(yaml.safe_load(text)), sort_keys=False), encoding="utf-8")
    spec = load_spec(path)
    assert len(spec.rows) == draft.rows
    assert lint([path]).ok


def test_scan_only_ports_are_rows_citing_the_scan() -> None:
    facts = smartserver()
    finding = PortFinding("tcp", 8443, "open", "syn-ack")
    listener = PortFinding("tcp", 443, "open", "syn-ack")
    scan = ScanFacts((AddressScan("198.18.1.2", "connect", 1000.0, 3.0, tcp_open=(listener, finding)),))
    draft = draft_data(facts, scan)
    scanned = [r for r in draft.data["rows"] if r["id"].startswith("scan-")]
    assert scanned == [
        {
            "id": "scan-8443-tcp",
            "service": "open from outside, no listener or rule seen on the device",
            "direction": "in",
            "proto": "tcp",
            "ports": 8443,
            "action": "allow",
            "listener": "permitted",
            "citation": {"observed": "scan: 198.18.1.2 tcp/8443 open (syn-ack)"},
        }
    ]
    assert draft.scanned == 1 and "198.18.1.2" in draft.data["description"]


HOSTILE = "ng\x1b]0;owned\x07inx\n- id: evil\u202e'\": {x}"


def test_device_text_is_printable_and_quoted_never_yaml(tmp_path: Path) -> None:
    """A process name and a listing line with escapes, a newline and YAML syntax stay one value."""
    line = f'tcp LISTEN 0 64 0.0.0.0:443 0.0.0.0:* users:(("{HOSTILE}",pid=7,fd=3))'
    sock = Socket("tcp", "0.0.0.0", 443, ((HOSTILE, 7),), None, line)
    ufw = UfwState(True, "deny", "allow", "disabled", (), False, "status")
    draft = draft_data(Facts(ufw=ufw, sockets=(sock,)), name="hostile", device=f"x{HOSTILE}")
    text = draft_yaml(draft)
    assert text.isascii() and "\x1b" not in text and "\x07" not in text
    data = yaml.safe_load(text)
    (row,) = data["rows"]
    assert row["process"] == "ng\\x1b]0;owned\\x07inx\\n- id: evil\\u202e'\": {x}"
    assert row["id"] == "ng-x1b-0-owned-x07inx-n-id-evi-443-tcp"  # a valid id, whatever the name
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(cited(data), sort_keys=False), encoding="utf-8")
    assert [r.id for r in load_spec(path).rows] == [row["id"]]


def test_an_inactive_ufw_filters_nothing_and_twin_rules_get_distinct_ids() -> None:
    facts = smartserver(**{"ufw-status": "Status: inactive\n"})
    data = draft_data(facts).data
    assert (data["default"]["in"], data["default"]["out"]) == ("allow", "allow")
    assert "inactive" in data["default"]["citation"]["observed"]
    assert all(r["action"] == "allow" for r in data["rows"] if r["direction"] == "in")


def test_a_range_rule_and_a_rule_from_one_source_are_rows_of_their_own() -> None:
    status = (
        "Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n"
        "New profiles: skip\n\nTo                         Action      From\n"
        "--                         ------      ----\n"
        "8000:8010/tcp              ALLOW IN    Anywhere\n"
        "9999/udp                   ALLOW IN    10.1.2.0/24\n"
    )
    facts = Facts(ufw=ufw_state(status, None, None, None), sockets=())
    rows = {r["id"]: r for r in draft_data(facts).data["rows"]}
    assert rows["ufw-in-8000-8010-tcp"]["ports"] == "8000-8010"
    assert rows["ufw-in-9999-udp"]["sources"] == ["10.1.2.0/24"]
    assert rows["ufw-in-9999-udp"]["listener"] == "permitted"


def test_a_port_only_a_raw_kernel_rule_opens_is_a_row_citing_that_rule() -> None:
    """An accept ufw does not list (iptables -I INPUT ...): the draft shows it, as the default check would."""
    user = (DATA / "ufw" / "smartserver-all.user.rules").read_text()
    raw = "-A INPUT -p tcp -m tcp --dport 8443 -j ACCEPT"
    facts = smartserver(iptables=ufw_save(user, first=(raw,)))
    draft = draft_data(facts)
    rows = [r for r in draft.data["rows"] if r["id"].startswith("kernel-")]
    assert [(r["id"], r["ports"], r["action"]) for r in rows] == [("kernel-8443-tcp", 8443, "allow")]
    assert raw in rows[0]["citation"]["observed"] and draft.kernel == 1
    assert draft_data(smartserver()).kernel == 0  # ufw's own rules are the listener and rule rows
