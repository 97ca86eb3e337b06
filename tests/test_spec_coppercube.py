"""The CopperCube spec encodes document 000 (KbA0007) faithfully.

Each test states a fact of the document (000_079d76b3aa043524.txt, "KbA0007: TCP Port
Requirements and CopperCube Security") or of a decision recorded in specs/coppercube.yaml,
and checks it in the effective policy of every firmware profile and condition it concerns.
"""

from __future__ import annotations

import pytest
from spectools import applying, assert_applies, assert_not_in_profile, hosts, load, one, policy, rows

from pytest_portspec.errors import SelectionError
from pytest_portspec.spec import Spec

PROFILES = ("fw-1.23", "fw-1.6", "pre-1.6")
CONDITIONS = ("ntp", "technician-access")
INTAKE = {"host": "intake1.coppertreeanalytics.com", "ip": ["35.182.117.170"]}
KAIZEN = {"host": "kaizen.coppertreeanalytics.com", "ip": ["35.182.117.170"]}


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load("coppercube")


# --- profiles, firmware and defaults -----------------------------------------------------------


def test_profiles_and_default_profile(spec: Spec) -> None:
    assert tuple(spec.profiles) == PROFILES
    pol = policy(spec)
    assert pol["spec"] == "coppercube"
    assert pol["profile"] == "fw-1.23"


@pytest.mark.parametrize(
    ("firmware", "profile"),
    [
        ("1.23", "fw-1.23"),
        ("1.25", "fw-1.23"),
        ("2.0", "fw-1.23"),
        ("1.6", "fw-1.6"),
        ("1.10", "fw-1.6"),
        ("1.22.9", "fw-1.6"),
        ("1.5", "pre-1.6"),
        ("1.0", "pre-1.6"),
    ],
)
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
    default = policy(spec, profile=profile)["default"]
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
    pol = policy(spec, profile=profile)
    for proto in ("tcp", "udp"):
        dns = one(pol, "dns", direction="out", proto=proto)
        assert_applies(dns)
        assert dns["ports"] == [[53, 53]]
        assert dns["condition"] is None
        assert dns["destinations"] == [
            {
                "configured": "dns",
                "description": "network Domain Name Server as configured by the gateway",
            }
        ]


@pytest.mark.parametrize("profile", ["fw-1.6", "fw-1.23"])
def test_amqps_5671_from_firmware_1_6(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile=profile)
    amqps = one(pol, "amqps", direction="out", proto="tcp")
    assert_applies(amqps)
    assert amqps["ports"] == [[5671, 5671]]
    assert amqps["destinations"][0]["host"] == INTAKE["host"]
    assert amqps["destinations"][0]["ip"] == INTAKE["ip"]
    # "Port 5672 can be closed after upgrading to 1.6": the 5672 row does not apply.
    assert_not_in_profile(one(pol, "amqp-pre-1.6", direction="out", proto="tcp"))


def test_amqp_5672_instead_of_5671_before_1_6(spec: Spec) -> None:
    pol = policy(spec, profile="pre-1.6")
    amqp = one(pol, "amqp-pre-1.6", direction="out", proto="tcp")
    assert_applies(amqp)
    assert amqp["ports"] == [[5672, 5672]]
    assert amqp["destinations"][0]["host"] == INTAKE["host"]
    assert_not_in_profile(one(pol, "amqps", direction="out", proto="tcp"))
    assert not [
        r
        for r in applying(pol, direction="out", proto="tcp")
        if r["ports"][0][0] == 5671 and r["action"] == "allow"
    ]


@pytest.mark.parametrize(
    ("profile", "applies", "skipped"),
    [
        ("fw-1.23", "updates-http-deltacontrols", "updates-http-coppertree"),
        ("fw-1.6", "updates-http-coppertree", "updates-http-deltacontrols"),
        ("pre-1.6", "updates-http-coppertree", "updates-http-deltacontrols"),
    ],
)
def test_update_server_by_firmware(spec: Spec, profile: str, applies: str, skipped: str) -> None:
    # "Older versions use coppertree update, As of version 1.23 the Delta Controls update
    # server is used"
    pol = policy(spec, profile=profile)
    used = one(pol, applies, direction="out", proto="tcp")
    assert_applies(used)
    assert used["ports"] == [[80, 80]]
    host = (
        "cucube-updates.deltacontrols.com"
        if applies.endswith("deltacontrols")
        else "cucube-updates.coppertreeanalytics.com"
    )
    assert hosts(used) == [host]
    assert_not_in_profile(one(pol, skipped, direction="out", proto="tcp"))
    # Exactly one HTTP update row applies in each profile.
    assert [r["id"] for r in applying(pol, direction="out") if r["ports"] == [[80, 80]]] == [applies]


def test_update_ip_is_not_pinned_on_either_name(spec: Spec) -> None:
    # The document gives 209.52.68.117 for a row naming two servers, without saying whose
    # it is (decision update-server-ip): it is kept visible in a note, not as an address.
    for profile in PROFILES:
        pol = policy(spec, profile=profile)
        for row_id in ("updates-http-coppertree", "updates-http-deltacontrols"):
            r = one(pol, row_id, direction="out", proto="tcp")
            assert all(d["ip"] == [] for d in r["destinations"])
            assert "209.52.68.117" in r["note"]
    assert "update-server-ip" in [d.id for d in spec.decisions]


@pytest.mark.parametrize("profile", PROFILES)
def test_heartbeat_https_443_to_kaizen(spec: Spec, profile: str) -> None:
    hb = one(policy(spec, profile=profile), "heartbeat-https", direction="out", proto="tcp")
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
    off = one(policy(spec, profile=profile), "ntp", direction="out", proto="udp")
    assert off["applies"] is False
    assert off["condition"] == "ntp"
    assert "--enable ntp" in off["decision"]
    on = one(policy(spec, profile=profile, enable=("ntp",)), "ntp", direction="out", proto="udp")
    assert_applies(on)
    assert on["ports"] == [[123, 123]]
    assert on["destinations"] == [{"configured": "ntp", "description": "Network-Time-Protocol server"}]
    assert not rows(policy(spec, profile=profile), "ntp", proto="tcp")


# --- inbound (technician access) ---------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_no_inbound_port_without_technician_access(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile=profile, enable=("ntp",))
    assert not applying(pol, direction="in")
    for row_id in ("ssh-technician", "http-ui-technician"):
        r = one(pol, row_id, direction="in", proto="tcp")
        assert r["condition"] == "technician-access"
        assert "--enable technician-access" in r["decision"]


@pytest.mark.parametrize("profile", PROFILES)
def test_technician_access_opens_ssh_and_http(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile=profile, enable=("technician-access",))
    assert pol["enabled"] == ["technician-access"]
    ssh = one(pol, "ssh-technician", direction="in", proto="tcp")
    assert_applies(ssh)
    assert ssh["ports"] == [[22, 22]]
    assert ssh["listener"] == "required"
    assert ssh["process"] == ["sshd"]
    ui = one(pol, "http-ui-technician", direction="in", proto="tcp")
    assert_applies(ui)
    assert ui["ports"] == [[80, 80]]
    assert ui["listener"] == "required"
    inbound = {(r["proto"], r["ports"][0][0]) for r in applying(pol, direction="in")}
    assert inbound == {("tcp", 22), ("tcp", 80)}


def test_enable_all_and_disable(spec: Spec) -> None:
    pol = policy(spec, enable=("all",))
    assert sorted(pol["enabled"]) == sorted(CONDITIONS)
    assert one(pol, "ntp", direction="out", proto="udp")["applies"] is True
    pol = policy(spec, enable=("all",), disable=("technician-access",))
    assert pol["conditions"]["technician-access"] == {
        "enabled": False,
        "decided_by": "--disable technician-access",
    }
    assert one(pol, "ssh-technician", direction="in", proto="tcp")["applies"] is False
    assert one(pol, "ntp", direction="out", proto="udp")["applies"] is True


# --- the whole table per profile ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("fw-1.23", {5671, 80, 443}),
        ("fw-1.6", {5671, 80, 443}),
        ("pre-1.6", {5672, 80, 443}),
    ],
)
def test_outbound_tcp_per_profile(spec: Spec, profile: str, expected: set[int]) -> None:
    pol = policy(spec, profile=profile, enable=("all",))
    tcp_out = {r["ports"][0][0] for r in applying(pol, direction="out", proto="tcp")}
    assert tcp_out == expected | {53}
    udp_out = {r["ports"][0][0] for r in applying(pol, direction="out", proto="udp")}
    assert udp_out == {53, 123}


def test_every_row_is_allow_and_automatic(spec: Spec) -> None:
    pol = policy(spec, enable=("all",))
    assert {r["action"] for r in applying(pol)} == {"allow"}
    assert all(r["manual"] is None for r in pol["rows"])
