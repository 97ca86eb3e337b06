"""The CopperCube spec encodes document 000 (KbA0007) faithfully.

Each test states a fact of the document (000_079d76b3aa043524.txt, "KbA0007: TCP Port
Requirements and CopperCube Security") or of a decision recorded in specs/coppercube.yaml,
and checks it in the effective policy of every firmware profile and condition it concerns.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pytest_portspec.errors import SelectionError
from pytest_portspec.policy import effective_policy
from pytest_portspec.spec import Spec, load_spec

SPECS = Path(__file__).resolve().parents[1] / "specs"
DOCS = Path("/work/shared/vendor-docs")
DOC = "000_079d76b3aa043524.txt"
PROFILES = ("fw-1.23", "fw-1.6", "pre-1.6")
CONDITIONS = ("ntp", "technician-access")
INTAKE = {"host": "intake1.coppertreeanalytics.com", "ip": ["35.182.117.170"]}
KAIZEN = {"host": "kaizen.coppertreeanalytics.com", "ip": ["35.182.117.170"]}

Row = dict[str, Any]
Policy = dict[str, Any]


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec(SPECS / "coppercube.yaml")


def policy(
    spec: Spec,
    profile: str | None = None,
    enable: tuple[str, ...] = (),
    disable: tuple[str, ...] = (),
    firmware: str | None = None,
) -> Policy:
    return effective_policy(
        spec, profile=profile, enable=list(enable), disable=list(disable), firmware=firmware,
        role=None,
    ).as_dict()


def row(pol: Policy, row_id: str, direction: str, proto: str = "tcp") -> Row:
    found = [r for r in pol["rows"]
             if r["id"] == row_id and r["direction"] == direction and r["proto"] == proto]
    assert len(found) == 1, f"{row_id} {direction}/{proto}: {len(found)} rows, expected 1"
    first: Row = found[0]
    return first


def applying(pol: Policy) -> set[tuple[str, str, int, str]]:
    """(direction, proto, first port, action) of every row that applies."""
    return {(r["direction"], r["proto"], r["ports"][0][0], r["action"])
            for r in pol["rows"] if r["applies"]}


def assert_applies(r: Row, action: str = "allow") -> None:
    assert r["applies"] is True, r["decision"]
    assert r["action"] == action


def assert_not_applicable(r: Row) -> None:
    assert r["applies"] is False
    assert r["action"] is None


# --- profiles, firmware and defaults -----------------------------------------------------------

def test_profiles_and_default_profile(spec: Spec) -> None:
    assert tuple(spec.profiles) == PROFILES
    pol = policy(spec)
    assert pol["spec"] == "coppercube"
    assert pol["profile"] == "fw-1.23"


@pytest.mark.parametrize(("firmware", "profile"), [
    ("1.23", "fw-1.23"), ("1.25", "fw-1.23"), ("2.0", "fw-1.23"),
    ("1.6", "fw-1.6"), ("1.10", "fw-1.6"), ("1.22.9", "fw-1.6"),
    ("1.5", "pre-1.6"), ("1.0", "pre-1.6"),
])
def test_firmware_chooses_the_profile_numerically(spec: Spec, firmware: str, profile: str) -> None:
    # 1.23 is newer than 1.6: versions compare number by number, not as text.
    assert policy(spec, firmware=firmware)["profile"] == profile


def test_profile_that_does_not_fit_firmware_is_refused(spec: Spec) -> None:
    with pytest.raises(SelectionError):
        policy(spec, profile="pre-1.6", firmware="1.23")


@pytest.mark.parametrize("profile", PROFILES)
def test_default_policy_inbound_blocked_outbound_unspecified(spec: Spec, profile: str) -> None:
    # "No inbound ports are required to use CopperCubes on a daily basis."; nothing about
    # other outbound traffic.
    default = policy(spec, profile)["default"]
    assert default["in"] == "block"
    assert default["out"] == "unspecified"
    assert "No inbound ports are required" in default["citation"]["quote"]


def test_conditions_are_off_by_default(spec: Spec) -> None:
    pol = policy(spec)
    assert tuple(pol["conditions"]) == CONDITIONS
    for name in CONDITIONS:
        assert pol["conditions"][name]["enabled"] is False
        assert pol["conditions"][name]["decided_by"] == "default"
    assert pol["enabled"] == []


# --- outbound rows -----------------------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_dns_both_protocols_to_configured_resolver(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile)
    for proto in ("tcp", "udp"):
        dns = row(pol, "dns", "out", proto)
        assert_applies(dns)
        assert dns["ports"] == [[53, 53]]
        assert dns["condition"] is None
        assert dns["destinations"] == [{
            "configured": "dns",
            "description": "network Domain Name Server as configured by the gateway",
        }]


@pytest.mark.parametrize("profile", ["fw-1.6", "fw-1.23"])
def test_amqps_5671_from_firmware_1_6(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile)
    amqps = row(pol, "amqps", "out")
    assert_applies(amqps)
    assert amqps["ports"] == [[5671, 5671]]
    assert amqps["destinations"][0]["host"] == INTAKE["host"]
    assert amqps["destinations"][0]["ip"] == INTAKE["ip"]
    # "Port 5672 can be closed after upgrading to 1.6": the 5672 row does not apply.
    assert_not_applicable(row(pol, "amqp-pre-1.6", "out"))


def test_amqp_5672_instead_of_5671_before_1_6(spec: Spec) -> None:
    pol = policy(spec, "pre-1.6")
    amqp = row(pol, "amqp-pre-1.6", "out")
    assert_applies(amqp)
    assert amqp["ports"] == [[5672, 5672]]
    assert amqp["destinations"][0]["host"] == INTAKE["host"]
    assert_not_applicable(row(pol, "amqps", "out"))
    assert ("out", "tcp", 5671, "allow") not in applying(pol)


@pytest.mark.parametrize(("profile", "applies", "skipped"), [
    ("fw-1.23", "updates-http-deltacontrols", "updates-http-coppertree"),
    ("fw-1.6", "updates-http-coppertree", "updates-http-deltacontrols"),
    ("pre-1.6", "updates-http-coppertree", "updates-http-deltacontrols"),
])
def test_update_server_by_firmware(spec: Spec, profile: str, applies: str, skipped: str) -> None:
    # "Older versions use coppertree update, As of version 1.23 the Delta Controls update
    # server is used"
    pol = policy(spec, profile)
    used = row(pol, applies, "out")
    assert_applies(used)
    assert used["ports"] == [[80, 80]]
    host = ("cucube-updates.deltacontrols.com" if applies.endswith("deltacontrols")
            else "cucube-updates.coppertreeanalytics.com")
    assert [d["host"] for d in used["destinations"]] == [host]
    assert_not_applicable(row(pol, skipped, "out"))
    # Exactly one HTTP update row applies in each profile.
    assert [r["id"] for r in pol["rows"]
            if r["applies"] and r["direction"] == "out" and r["ports"] == [[80, 80]]] == [applies]


def test_update_ip_is_not_pinned_on_either_name(spec: Spec) -> None:
    # The document gives 209.52.68.117 for a row naming two servers, without saying whose
    # it is (decision update-server-ip): it is kept visible in a note, not as an address.
    for profile in PROFILES:
        pol = policy(spec, profile)
        for row_id in ("updates-http-coppertree", "updates-http-deltacontrols"):
            r = row(pol, row_id, "out")
            assert all(d["ip"] == [] for d in r["destinations"])
            assert "209.52.68.117" in r["note"]
    assert "update-server-ip" in [d.id for d in spec.decisions]


@pytest.mark.parametrize("profile", PROFILES)
def test_heartbeat_https_443_to_kaizen(spec: Spec, profile: str) -> None:
    hb = row(policy(spec, profile), "heartbeat-https", "out")
    assert_applies(hb)
    assert hb["ports"] == [[443, 443]]
    assert hb["destinations"][0]["host"] == KAIZEN["host"]
    assert hb["destinations"][0]["ip"] == KAIZEN["ip"]
    assert "15 minutes" in hb["note"]


def test_intake_and_kaizen_share_one_ip(spec: Spec) -> None:
    assert INTAKE["ip"] == KAIZEN["ip"]
    assert "shared-ip" in [n.id for n in spec.notes]


@pytest.mark.parametrize("profile", PROFILES)
def test_ntp_optional_udp_123(spec: Spec, profile: str) -> None:
    off = row(policy(spec, profile), "ntp", "out", "udp")
    assert off["applies"] is False
    assert off["condition"] == "ntp"
    assert "--enable ntp" in off["decision"]
    on = row(policy(spec, profile, enable=("ntp",)), "ntp", "out", "udp")
    assert_applies(on)
    assert on["ports"] == [[123, 123]]
    assert on["destinations"] == [{"configured": "ntp",
                                   "description": "Network-Time-Protocol server"}]
    assert not [r for r in policy(spec, profile)["rows"] if r["id"] == "ntp" and r["proto"] == "tcp"]


# --- inbound (technician access) ---------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_no_inbound_port_without_technician_access(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile, enable=("ntp",))
    assert not [r for r in pol["rows"] if r["direction"] == "in" and r["applies"]]
    for row_id in ("ssh-technician", "http-ui-technician"):
        r = row(pol, row_id, "in")
        assert r["condition"] == "technician-access"
        assert "--enable technician-access" in r["decision"]


@pytest.mark.parametrize("profile", PROFILES)
def test_technician_access_opens_ssh_and_http(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile, enable=("technician-access",))
    assert pol["enabled"] == ["technician-access"]
    ssh = row(pol, "ssh-technician", "in")
    assert_applies(ssh)
    assert ssh["ports"] == [[22, 22]]
    assert ssh["listener"] == "required"
    assert ssh["process"] == ["sshd"]
    ui = row(pol, "http-ui-technician", "in")
    assert_applies(ui)
    assert ui["ports"] == [[80, 80]]
    assert ui["listener"] == "required"
    inbound = {(r["proto"], r["ports"][0][0]) for r in pol["rows"]
               if r["direction"] == "in" and r["applies"]}
    assert inbound == {("tcp", 22), ("tcp", 80)}


def test_enable_all_and_disable(spec: Spec) -> None:
    pol = policy(spec, enable=("all",))
    assert sorted(pol["enabled"]) == sorted(CONDITIONS)
    assert row(pol, "ntp", "out", "udp")["applies"] is True
    pol = policy(spec, enable=("all",), disable=("technician-access",))
    assert pol["conditions"]["technician-access"] == {
        "enabled": False, "decided_by": "--disable technician-access"}
    assert row(pol, "ssh-technician", "in")["applies"] is False
    assert row(pol, "ntp", "out", "udp")["applies"] is True


# --- the whole table per profile ---------------------------------------------------------------

@pytest.mark.parametrize(("profile", "expected"), [
    ("fw-1.23", {5671, 80, 443}),
    ("fw-1.6", {5671, 80, 443}),
    ("pre-1.6", {5672, 80, 443}),
])
def test_outbound_tcp_per_profile(spec: Spec, profile: str, expected: set[int]) -> None:
    pol = policy(spec, profile, enable=("all",))
    tcp_out = {r["ports"][0][0] for r in pol["rows"]
               if r["applies"] and r["direction"] == "out" and r["proto"] == "tcp"}
    assert tcp_out == expected | {53}
    udp_out = {r["ports"][0][0] for r in pol["rows"]
               if r["applies"] and r["direction"] == "out" and r["proto"] == "udp"}
    assert udp_out == {53, 123}


def test_every_row_is_allow_and_automatic(spec: Spec) -> None:
    pol = policy(spec, enable=("all",))
    assert {r["action"] for r in pol["rows"] if r["applies"]} == {"allow"}
    assert all(r["manual"] is None for r in pol["rows"])


def test_citations_occur_in_the_document(spec: Spec) -> None:
    text = re.sub(r"\s+", " ", (DOCS / DOC).read_text(encoding="utf-8"))
    for label, cite in spec.citations():
        assert cite.doc == DOC, label
        assert re.sub(r"\s+", " ", cite.quote) in text, label
