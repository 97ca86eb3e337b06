"""The Digi Device Cloud spec encodes document 003 faithfully.

Each test states a fact of the document (003_0eb74d3bb885db77.txt, "Getting Device Cloud
Connected: Firewall concerns for outbound Gateway connections to Device Cloud") or of a
decision recorded in specs/digi-device-cloud.yaml, and checks it in the effective policy of
every profile (gateway family) and condition (server name, NTP time management) it concerns.
"""

from __future__ import annotations

import pytest
from spectools import Policy, Row, applying, hosts, load, one, policy, rows

from pytest_portspec.spec import Spec

PROFILES = ("linux", "nds-ssl", "nds-legacy")
NDS = ("nds-ssl", "nds-legacy")
CONDITIONS = ("us-cloud", "eu-cloud", "legacy-names-us", "legacy-names-eu", "ntp-time-management")
# Server-name condition -> the Device Cloud server name it stands for.
SERVER_NAMES = {
    "us-cloud": "login.etherios.com",
    "eu-cloud": "login.etherios.co.uk",
    "legacy-names-us": "my.idigi.com",
    "legacy-names-eu": "my.idigi.co.uk",
}
NTP_SERVERS = [
    "time.etherios.com",
    "time.etherios.co.uk",
    "0.idigi.pool.ntp.org",
    "1.idigi.pool.ntp.org",
    "2.idigi.pool.ntp.org",
    "3.idigi.pool.ntp.org",
]
EDP_PORT = {"linux": 3199, "nds-ssl": 3199, "nds-legacy": 3197}


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load("digi-device-cloud")


def automatic(pol: Policy) -> list[Row]:
    """Rows that apply and that a tool checks (not manual)."""
    return [r for r in applying(pol) if r["manual"] is None]


def edp_targets(pol: Policy) -> set[tuple[int, str]]:
    """(port, host) of every applying EDP row."""
    return {
        (r["ports"][0][0], d["host"])
        for r in automatic(pol)
        if r["proto"] == "tcp"
        for d in r["destinations"]
    }


def ntp_rows(pol: Policy) -> list[Row]:
    return [r for r in automatic(pol) if r["proto"] == "udp" and r["ports"] == [[123, 123]]]


# --- profiles, conditions, defaults ------------------------------------------------------------


def test_profiles_and_default_profile(spec: Spec) -> None:
    assert tuple(spec.profiles) == PROFILES
    pol = policy(spec)
    assert pol["spec"] == "digi-device-cloud"
    assert pol["profile"] == "linux"


def test_condition_defaults(spec: Spec) -> None:
    pol = policy(spec)
    assert tuple(pol["conditions"]) == CONDITIONS
    assert pol["enabled"] == ["us-cloud"]
    for name in CONDITIONS:
        assert pol["conditions"][name] == {"enabled": name == "us-cloud", "decided_by": "default"}


@pytest.mark.parametrize("profile", PROFILES)
def test_default_policy_unspecified(spec: Spec, profile: str) -> None:
    # The document is about the site's outbound firewall only.
    default = policy(spec, profile=profile)["default"]
    assert (default["in"], default["out"]) == ("unspecified", "unspecified")


@pytest.mark.parametrize("profile", PROFILES)
def test_nothing_inbound(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile=profile, enable=("all",))
    assert rows(pol, direction="in") == []
    assert {r["action"] for r in applying(pol)} == {"allow"}


# --- EDP: 3199 (SSL) or 3197 (unencrypted) ----------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_edp_default_us_cloud(spec: Spec, profile: str) -> None:
    # Default: the US Device Cloud, login.etherios.com, on the profile's EDP port only.
    assert edp_targets(policy(spec, profile=profile)) == {(EDP_PORT[profile], "login.etherios.com")}


@pytest.mark.parametrize("profile", ["linux", "nds-ssl"])
def test_ssl_profiles_use_3199_not_3197(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile=profile, enable=("all",))
    ports = {r["ports"][0][0] for r in automatic(pol) if r["proto"] == "tcp"}
    assert ports == {3199}
    unencrypted = one(pol, "edp-unencrypted-us", proto="tcp")
    assert unencrypted["applies"] is False
    assert unencrypted["action"] is None


def test_legacy_nds_uses_3197_not_3199(spec: Spec) -> None:
    pol = policy(spec, profile="nds-legacy", enable=("all",))
    ports = {r["ports"][0][0] for r in automatic(pol) if r["proto"] == "tcp"}
    assert ports == {3197}
    assert one(pol, "edp-ssl-us", proto="tcp")["applies"] is False


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("condition", list(SERVER_NAMES))
def test_each_server_name_condition_alone(spec: Spec, profile: str, condition: str) -> None:
    others = tuple(c for c in SERVER_NAMES if c != condition)
    pol = policy(spec, profile=profile, enable=(condition,), disable=others)
    assert edp_targets(pol) == {(EDP_PORT[profile], SERVER_NAMES[condition])}
    in_profile = {r["key"] for r in applying(policy(spec, profile=profile, enable=("all",)))}
    for r in pol["rows"]:
        if r["condition"] in others and r["key"] in in_profile:
            assert r["applies"] is False
            assert f"condition {r['condition']} is off" in r["decision"]


def test_eu_gateway(spec: Spec) -> None:
    pol = policy(spec, profile="linux", enable=("eu-cloud",), disable=("us-cloud",))
    assert edp_targets(pol) == {(3199, "login.etherios.co.uk")}
    assert pol["conditions"]["us-cloud"] == {"enabled": False, "decided_by": "--disable us-cloud"}


def test_legacy_name_adds_to_the_new_name(spec: Spec) -> None:
    pol = policy(spec, profile="nds-ssl", enable=("legacy-names-us",))
    assert edp_targets(pol) == {(3199, "login.etherios.com"), (3199, "my.idigi.com")}
    legacy = one(pol, "edp-ssl-us-legacy-name", proto="tcp")
    assert "login.etherios.com" in legacy["note"]


def test_no_edp_address_is_invented(spec: Spec) -> None:
    pol = policy(spec, profile="nds-legacy", enable=("all",))
    for r in pol["rows"]:
        for d in r["destinations"]:
            assert "host" in d
            assert d["ip"] == []


# --- NTP ---------------------------------------------------------------------------------------


def test_ntp_always_required_on_linux(spec: Spec) -> None:
    for pol in (policy(spec, profile="linux"), policy(spec, profile="linux", disable=("all",))):
        ntp = ntp_rows(pol)
        assert [r["id"] for r in ntp] == ["ntp-linux"]
        assert ntp[0]["condition"] is None
        assert hosts(ntp[0]) == NTP_SERVERS


def test_ntp_time_management_has_no_effect_on_linux(spec: Spec) -> None:
    pol = policy(spec, profile="linux", enable=("ntp-time-management",))
    assert [r["id"] for r in ntp_rows(pol)] == ["ntp-linux"]
    nds_row = one(pol, "ntp-time-management", proto="udp")
    assert nds_row["applies"] is False


@pytest.mark.parametrize("profile", NDS)
def test_ntp_on_nds_only_with_time_management(spec: Spec, profile: str) -> None:
    off = policy(spec, profile=profile)
    assert ntp_rows(off) == []
    assert "--enable ntp-time-management" in one(off, "ntp-time-management", proto="udp")["decision"]
    assert one(off, "ntp-linux", proto="udp")["applies"] is False
    on = policy(spec, profile=profile, enable=("ntp-time-management",))
    ntp = ntp_rows(on)
    assert [r["id"] for r in ntp] == ["ntp-time-management"]
    assert ntp[0]["action"] == "allow"
    assert hosts(ntp[0]) == NTP_SERVERS


def test_ntp_server_notes(spec: Spec) -> None:
    ntp = one(policy(spec), "ntp-linux", proto="udp")
    notes = {d["host"]: d["note"] for d in ntp["destinations"]}
    assert "alias of 0.idigi.pool.ntp.org" in notes["time.etherios.co.uk"]
    assert "primary" in notes["time.etherios.com"]
    assert all("secondary/tertiary" in notes[f"{i}.idigi.pool.ntp.org"] for i in range(4))


# --- manual rows -------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_manual_rows_always_listed(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile=profile, disable=("all",))
    manual = [r for r in pol["rows"] if r["manual"] is not None]
    assert {r["id"] for r in manual} == {"firewall-rules-by-ip", "rules-for-every-server-name"}
    for r in manual:
        assert r["applies"] is True
        assert r["ports"] == []
        assert r["direction"] == "out"
    assert "nslookup" in one(pol, "firewall-rules-by-ip", proto="tcp")["manual"]


# --- the whole table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "enable", "expected"),
    [
        ("linux", (), {("tcp", 3199), ("udp", 123)}),
        ("linux", ("all",), {("tcp", 3199), ("udp", 123)}),
        ("nds-ssl", (), {("tcp", 3199)}),
        ("nds-ssl", ("ntp-time-management",), {("tcp", 3199), ("udp", 123)}),
        ("nds-legacy", (), {("tcp", 3197)}),
        ("nds-legacy", ("ntp-time-management",), {("tcp", 3197), ("udp", 123)}),
    ],
)
def test_required_ports_per_profile(
    spec: Spec, profile: str, enable: tuple[str, ...], expected: set[tuple[str, int]]
) -> None:
    pol = policy(spec, profile=profile, enable=enable)
    assert {(r["proto"], r["ports"][0][0]) for r in automatic(pol)} == expected
