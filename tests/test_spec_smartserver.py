"""The SmartServer IoT spec encodes document 001 faithfully.

Each test states a fact of the document (001_1f41fa5c7f5e2425.txt, "SmartServer IoT —
Firewall configuration": the table of ports open to the outside world and the table of
internal services) or of a decision recorded in specs/smartserver.yaml, and checks it in
the effective policy of both security modes (profiles) and of every condition it concerns.
"""

from __future__ import annotations

import pytest
from spectools import Policy, applying, assert_applies, assert_condition_off, load, one, policy, rows

from pytest_portspec.errors import SelectionError
from pytest_portspec.spec import Spec

PROFILES = ("enhanced", "standard")
CONDITIONS = ("bacnet", "lon", "mqtt", "ine", "remote-cms", "opcua", "local-cms")

# Table 1, "service ports that are open to the outside world", row by row:
# (row id, protocol, ports, Enhanced In/Out, Standard In/Out) as the document's columns give them.
EXTERNAL = [
    ("bacnet-ports", "udp", [[47808, 47823], [49152, 65535]], "allow/block", "allow/allow"),
    ("ssh", "tcp", [[22, 22]], "allow/block", "allow/allow"),
    ("smtp", "tcp", [[25, 25]], "block/allow", "block/allow"),
    ("dns", "tcp", [[53, 53]], "block/allow", "block/allow"),
    ("dns", "udp", [[53, 53]], "block/allow", "block/allow"),
    ("dhcp-client", "udp", [[67, 67]], "allow/block", "allow/allow"),
    ("cms-update-http", "tcp", [[80, 80]], "block/allow", "block/allow"),
    ("ntp", "udp", [[123, 123]], "block/allow", "block/allow"),
    ("modbus-tcp", "tcp", [[502, 502]], "block/allow", "block/allow"),
    ("certificates-licensing", "tcp", [[443, 443]], "block/allow", "block/allow"),
    ("https-nginx", "tcp", [[443, 443]], "allow/block", "allow/allow"),
    ("lon", "tcp", [[1628, 1645]], "allow/block", "allow/allow"),
    ("mqtt", "tcp", [[1883, 1883]], "allow/block", "allow/allow"),
    ("lon-ip70", "tcp", [[2541, 2541]], "allow/block", "allow/allow"),
    ("mdns", "udp", [[5353, 5353]], "allow/block", "allow/allow"),
    ("mqtt-ine", "tcp", [[8883, 8883]], "allow/block", "allow/allow"),
    ("remote-cms", "tcp", [[8883, 8883]], "block/allow", "block/allow"),
    ("bacnet-41797", "udp", [[41797, 41797]], "allow/block", "allow/allow"),
    ("bacnet-47808", "udp", [[47808, 47808]], "allow/block", "allow/allow"),
    ("bacnet-ephemeral", "udp", [[49152, 65535]], "block/allow", "block/allow"),
    ("opcua", "tcp", [[55000, 55000]], "allow/block", "allow/allow"),
]

# The "**" rows of table 1: open only when their service is enabled (row id -> condition).
STARRED = {
    "bacnet-ports": "bacnet",
    "lon": "lon",
    "mqtt": "mqtt",
    "mqtt-ine": "ine",
    "remote-cms": "remote-cms",
    "bacnet-41797": "bacnet",
    "bacnet-47808": "bacnet",
    "bacnet-ephemeral": "bacnet",
    "opcua": "opcua",
}

# Table 2, internal services: (row id, protocol, ports); every one Allowed/Blocked in Enhanced
# and Allowed/Allowed in Standard. "Local CMS if active" rows depend on condition local-cms.
INTERNAL = [
    ("internal-dns-tcp", "tcp", [[53, 53]]),
    ("internal-dns-udp", "udp", [[53, 53]]),
    ("internal-jmx-1099", "tcp", [[1099, 1099]]),
    ("internal-lon-1629", "udp", [[1629, 1629]]),
    ("internal-node-red", "tcp", [[1880, 1880]]),
    ("internal-mqtt-3200", "tcp", [[3200, 3200]]),
    ("internal-pgsql", "tcp", [[5432, 5432]]),
    ("internal-redis", "tcp", [[6379, 6379]]),
    ("internal-cms-8101", "tcp", [[8101, 8101]]),
    ("internal-jetty", "tcp", [[8181, 8181]]),
    ("internal-supervisor", "tcp", [[9001, 9001]]),
    ("internal-reboot-manager", "tcp", [[9090, 9090]]),
    ("internal-jmx-44444", "tcp", [[44444, 44444]]),
    ("internal-reboot-manager-dynamic", "tcp", []),
    ("internal-jmx-dynamic", "tcp", []),
    ("internal-pgsql-dynamic", "udp", []),
]
LOCAL_CMS = {
    "internal-jmx-1099",
    "internal-mqtt-3200",
    "internal-pgsql",
    "internal-redis",
    "internal-cms-8101",
    "internal-jetty",
    "internal-jmx-44444",
    "internal-jmx-dynamic",
    "internal-pgsql-dynamic",
}


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load("smartserver")


def in_out(pol: Policy, row_id: str, proto: str) -> str:
    """The row's actions for one protocol as the document's "In/Out" column writes them."""
    inbound = one(pol, row_id, direction="in", proto=proto)["action"]
    outbound = one(pol, row_id, direction="out", proto=proto)["action"]
    return f"{inbound}/{outbound}"


# --- spec shape ----------------------------------------------------------------------------


def test_rows_follow_both_tables_in_document_order(spec: Spec) -> None:
    table1 = list(dict.fromkeys(row_id for row_id, *_ in EXTERNAL))
    assert [r.id for r in spec.rows] == table1 + [row_id for row_id, *_ in INTERNAL]


def test_decisions_and_notes_are_recorded(spec: Spec) -> None:
    assert [d.id for d in spec.decisions] == [
        "https-443-two-rows",
        "mqtt-8883-two-rows",
        "bacnet-c000-ffff",
        "lon-tcp-vs-example-udp",
        "http-80-inbound",
        "example-port-1680",
    ]
    assert [n.id for n in spec.notes] == [
        "enhanced-disables-ip852",
        "ssh-may-be-disabled",
        "internal-ports-not-exposed",
        "reenable-after-enhanced",
    ]


# --- profiles and firmware -------------------------------------------------------------------


def test_enhanced_is_the_default_profile(spec: Spec) -> None:
    assert tuple(spec.profiles) == PROFILES
    pol = policy(spec)
    assert pol["spec"] == "smartserver"
    assert pol["profile"] == "enhanced"
    assert policy(spec, profile="standard")["profile"] == "standard"


@pytest.mark.parametrize(
    ("firmware", "profile"),
    [
        ("3.4", "standard"),
        ("3.0", "standard"),
        ("3.5", "enhanced"),
        ("4.4", "enhanced"),
    ],
)
def test_firmware_alone_chooses_enhanced_from_3_5(spec: Spec, firmware: str, profile: str) -> None:
    # "Enhanced Security is available with SmartServer 3.5 and higher"
    assert policy(spec, firmware=firmware)["profile"] == profile


def test_enhanced_on_firmware_before_3_5_is_refused(spec: Spec) -> None:
    with pytest.raises(SelectionError, match=r"firmware >= 3\.5, not 3\.4"):
        policy(spec, profile="enhanced", firmware="3.4")


def test_standard_fits_any_firmware(spec: Spec) -> None:
    for firmware in ("3.4", "3.5", "4.4"):
        assert policy(spec, profile="standard", firmware=firmware)["profile"] == "standard"


# --- default policy ("All other ports") --------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "inbound", "outbound"),
    [
        ("enhanced", "block", "block"),
        ("standard", "block", "allow"),
    ],
)
def test_all_other_ports_per_profile(spec: Spec, profile: str, inbound: str, outbound: str) -> None:
    default = policy(spec, profile=profile)["default"]
    assert (default["in"], default["out"]) == (inbound, outbound)
    assert "All other ports" in default["citation"]["quote"]


# --- conditions --------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_only_local_cms_is_on_by_default(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile=profile)
    assert tuple(pol["conditions"]) == CONDITIONS
    assert pol["enabled"] == ["local-cms"]
    assert pol["conditions"] == {
        name: {"enabled": name == "local-cms", "decided_by": "default"} for name in CONDITIONS
    }


@pytest.mark.parametrize("profile", PROFILES)
def test_enable_all_turns_every_condition_and_row_on(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile=profile, enable=["all"])
    assert pol["enabled"] == list(CONDITIONS)
    assert {c["decided_by"] for c in pol["conditions"].values()} == {"--enable all"}
    assert rows(pol) == applying(pol)


# --- table 1: ports open to the outside world ------------------------------------------------


def test_table_one_is_every_external_row(spec: Spec) -> None:
    pol = policy(spec, enable=["all"])
    assert {(r["id"], r["proto"]) for r in pol["rows"] if r["scope"] == "external"} == {
        (row_id, proto) for row_id, proto, *_ in EXTERNAL
    }


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(("row_id", "proto", "ports", "enhanced", "standard"), EXTERNAL)
def test_external_row_has_the_documents_in_out_actions(
    spec: Spec, profile: str, row_id: str, proto: str, ports: list[list[int]], enhanced: str, standard: str
) -> None:
    pol = policy(spec, profile=profile, enable=["all"])
    assert in_out(pol, row_id, proto) == (enhanced if profile == "enhanced" else standard)
    for direction in ("in", "out"):
        row = one(pol, row_id, direction=direction, proto=proto)
        assert row["applies"] is True
        assert row["ports"] == ports
        assert row["scope"] == "external"
        assert not row["key"].startswith("lo-")


def test_ssh_in_allowed_and_out_blocked_only_in_enhanced(spec: Spec) -> None:
    enhanced = policy(spec, profile="enhanced")
    assert_applies(one(enhanced, "ssh", direction="in"), "allow")
    assert_applies(one(enhanced, "ssh", direction="out"), "block")
    standard = policy(spec, profile="standard")
    assert_applies(one(standard, "ssh", direction="in"), "allow")
    assert_applies(one(standard, "ssh", direction="out"), "allow")
    ssh = one(standard, "ssh", direction="in")
    assert (ssh["key"], ssh["process"], ssh["listener"]) == ("in-22-tcp", ["sshd"], "required")


CLIENT_SERVICES = [
    # (row id, protocols, port, configured destination): "Blocked/Allowed" in both modes
    ("smtp", ("tcp",), 25, "smtp"),
    ("dns", ("tcp", "udp"), 53, "dns"),
    ("cms-update-http", ("tcp",), 80, "cms-update"),
    ("ntp", ("udp",), 123, "ntp"),
    ("modbus-tcp", ("tcp",), 502, "modbus"),
    ("certificates-licensing", ("tcp",), 443, "licensing"),
]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(("row_id", "protos", "port", "dest"), CLIENT_SERVICES)
def test_client_services_in_blocked_out_allowed_in_both_profiles(
    spec: Spec, profile: str, row_id: str, protos: tuple[str, ...], port: int, dest: str
) -> None:
    pol = policy(spec, profile=profile)
    assert {r["proto"] for r in rows(pol, row_id)} == set(protos)
    for proto in protos:
        inbound = one(pol, row_id, direction="in", proto=proto)
        outbound = one(pol, row_id, direction="out", proto=proto)
        assert_applies(inbound, "block")
        assert_applies(outbound, "allow")
        assert outbound["ports"] == [[port, port]]
        assert outbound["condition"] is None
        assert [d["configured"] for d in outbound["destinations"]] == [dest]


@pytest.mark.parametrize("profile", PROFILES)
def test_nginx_443_in_allowed_with_its_listener_required(spec: Spec, profile: str) -> None:
    nginx = one(policy(spec, profile=profile), "https-nginx", direction="in")
    assert_applies(nginx, "allow")
    assert nginx["key"] == "in-443-tcp-https-nginx"
    assert nginx["listener"] == "required"
    assert nginx["process"] == ["nginx"]
    assert nginx["superseded_by"] == []


@pytest.mark.parametrize("profile", PROFILES)
def test_certificates_inbound_443_block_is_superseded_by_nginx(spec: Spec, profile: str) -> None:
    """Decision https-443-two-rows: a row's "Blocked" means that service needs no traffic."""
    certificates = one(policy(spec, profile=profile), "certificates-licensing", direction="in")
    assert_applies(certificates, "block")
    assert certificates["key"] == "in-443-tcp-certificates-licensing"
    assert certificates["superseded_by"] == ["in-443-tcp-https-nginx"]


def test_enhanced_nginx_outbound_443_block_is_superseded_by_certificates(spec: Spec) -> None:
    nginx_out = one(policy(spec, profile="enhanced"), "https-nginx", direction="out")
    assert_applies(nginx_out, "block")
    assert nginx_out["superseded_by"] == ["out-443-tcp-certificates-licensing"]
    standard = one(policy(spec, profile="standard"), "https-nginx", direction="out")
    assert_applies(standard, "allow")
    assert standard["superseded_by"] == []


@pytest.mark.parametrize("profile", PROFILES)
def test_lon_ip70_2541_is_always_open(spec: Spec, profile: str) -> None:
    # "External IP-70 This port is always open."
    ip70 = one(policy(spec, profile=profile, disable=["all"]), "lon-ip70", direction="in")
    assert_applies(ip70, "allow")
    assert ip70["condition"] is None
    assert ip70["listener"] == "required"


def test_dhcp_client_note_names_before_rules(spec: Spec) -> None:
    dhcp = one(policy(spec), "dhcp-client", direction="in")
    assert dhcp["process"] == ["dnsmasq"]
    assert "/etc/ufw/before.rules" in dhcp["note"]


# --- table 1: the "**" rows ----------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(("row_id", "condition"), list(STARRED.items()))
def test_starred_row_does_not_apply_by_default(spec: Spec, profile: str, row_id: str, condition: str) -> None:
    found = rows(policy(spec, profile=profile), row_id)
    assert {r["direction"] for r in found} == {"in", "out"}
    for row in found:
        assert_condition_off(row, condition)
        assert f"pass --enable {condition}" in row["decision"]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(("row_id", "condition"), list(STARRED.items()))
def test_starred_row_applies_with_enable(spec: Spec, profile: str, row_id: str, condition: str) -> None:
    pol = policy(spec, profile=profile, enable=[condition])
    assert pol["enabled"] == [condition, "local-cms"]
    for row in rows(pol, row_id):
        assert row["applies"] is True
        assert row["decision"] == f"condition {condition} is on (--enable {condition})"
    # enabling one service leaves the other "**" rows closed
    for other, other_condition in STARRED.items():
        if other_condition != condition:
            assert not [r for r in rows(pol, other) if r["applies"]], other


def test_bacnet_server_range_is_hex_read_as_decimal_and_configurable(spec: Spec) -> None:
    # "BAC0-BACF, C000-FFFF" are hexadecimal: 47808-47823 and 49152-65535.
    assert (0xBAC0, 0xBACF, 0xC000, 0xFFFF) == (47808, 47823, 49152, 65535)
    bacnet = one(policy(spec, enable=["bacnet"]), "bacnet-ports", direction="in")
    assert_applies(bacnet, "allow")
    assert bacnet["ports"] == [[47808, 47823], [49152, 65535]]
    assert bacnet["configurable"] is True
    assert bacnet["listener"] == "required"
    assert bacnet["process"] == ["echbacnet"]


def test_configurable_ports_are_the_user_configurable_rows(spec: Spec) -> None:
    pol = policy(spec, enable=["all"])
    assert {r["id"] for r in pol["rows"] if r["configurable"]} == {
        "bacnet-ports",
        "lon",
        "bacnet-ephemeral",
        "opcua",
    }


@pytest.mark.parametrize("profile", PROFILES)
def test_bacnet_ephemeral_inbound_block_is_superseded_by_the_bacnet_range(spec: Spec, profile: str) -> None:
    """Decision bacnet-c000-ffff: with BACnet on, the server row's In Allowed wins."""
    ephemeral = one(policy(spec, profile=profile, enable=["bacnet"]), "bacnet-ephemeral", direction="in")
    assert_applies(ephemeral, "block")
    assert ephemeral["superseded_by"] == ["in-47808-47823,49152-65535-udp"]


@pytest.mark.parametrize("profile", PROFILES)
def test_8883_ine_inbound_and_remote_cms_outbound_are_separate_rows(spec: Spec, profile: str) -> None:
    """Decision mqtt-8883-two-rows: each 8883 row applies with its own condition."""
    ine = policy(spec, profile=profile, enable=["ine"])
    assert_applies(one(ine, "mqtt-ine", direction="in"), "allow")
    assert one(ine, "mqtt-ine", direction="in")["key"] == "in-8883-tcp-mqtt-ine"
    assert one(ine, "remote-cms", direction="out")["applies"] is False
    remote = policy(spec, profile=profile, enable=["remote-cms"])
    assert_applies(one(remote, "remote-cms", direction="out"), "allow")
    assert one(remote, "remote-cms", direction="out")["key"] == "out-8883-tcp-remote-cms"
    assert one(remote, "mqtt-ine", direction="in")["applies"] is False
    both = policy(spec, profile=profile, enable=["ine", "remote-cms"])
    remote_in = one(both, "remote-cms", direction="in")
    assert_applies(remote_in, "block")
    assert remote_in["superseded_by"] == ["in-8883-tcp-mqtt-ine"]


@pytest.mark.parametrize(
    ("enable", "expected"),
    [
        ((), {22, 443, 2541}),
        (("all",), {22, 443, 2541, 1628, 1883, 8883, 47808, 55000}),
    ],
)
def test_required_external_listeners(spec: Spec, enable: tuple[str, ...], expected: set[int]) -> None:
    pol = policy(spec, enable=enable)
    required = {r["ports"][0][0] for r in applying(pol, direction="in") if r["listener"] == "required"}
    assert required == expected


# --- table 2: internal services --------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(("row_id", "proto", "ports"), INTERNAL)
def test_internal_row_is_loopback_only(
    spec: Spec, profile: str, row_id: str, proto: str, ports: list[list[int]]
) -> None:
    pol = policy(spec, profile=profile)
    assert in_out(pol, row_id, proto) == ("allow/block" if profile == "enhanced" else "allow/allow")
    inbound = one(pol, row_id, direction="in", proto=proto)
    outbound = one(pol, row_id, direction="out", proto=proto)
    for row in (inbound, outbound):
        assert row["scope"] == "loopback"
        assert row["key"].startswith(f"lo-{row['direction']}-")
        assert row["ports"] == ports
        assert row["applies"] is True
        assert row["condition"] == ("local-cms" if row_id in LOCAL_CMS else None)
    assert inbound["listener"] == "loopback-only"
    assert outbound["listener"] is None


def test_table_two_is_every_loopback_row(spec: Spec) -> None:
    pol = policy(spec)
    assert {(r["id"], r["proto"]) for r in pol["rows"] if r["scope"] == "loopback"} == {
        (row_id, proto) for row_id, proto, _ in INTERNAL
    }


def test_dynamic_port_rows_have_no_port_numbers(spec: Spec) -> None:
    pol = policy(spec)
    dynamic = {r["key"] for r in pol["rows"] if r["ports"] == []}
    assert dynamic == {
        "lo-in-dynamic-tcp-internal-reboot-manager-dynamic",
        "lo-out-dynamic-tcp-internal-reboot-manager-dynamic",
        "lo-in-dynamic-tcp-internal-jmx-dynamic",
        "lo-out-dynamic-tcp-internal-jmx-dynamic",
        "lo-in-dynamic-udp",
        "lo-out-dynamic-udp",
    }


@pytest.mark.parametrize("profile", PROFILES)
def test_disable_local_cms_turns_off_the_local_cms_rows(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile=profile, disable=["local-cms"])
    assert pol["conditions"]["local-cms"] == {"enabled": False, "decided_by": "--disable local-cms"}
    assert {r["id"] for r in pol["rows"] if r["condition"] == "local-cms"} == LOCAL_CMS
    for row_id in LOCAL_CMS:
        for row in rows(pol, row_id):
            assert_condition_off(row, "local-cms")
    others = {row_id for row_id, *_ in INTERNAL} - LOCAL_CMS
    assert others == {
        "internal-dns-tcp",
        "internal-dns-udp",
        "internal-lon-1629",
        "internal-node-red",
        "internal-supervisor",
        "internal-reboot-manager",
        "internal-reboot-manager-dynamic",
    }
    for row_id in others:
        assert all(r["applies"] for r in rows(pol, row_id))


# --- keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("enable", [(), ("all",)])
def test_keys_are_unique_within_a_policy(spec: Spec, profile: str, enable: tuple[str, ...]) -> None:
    keys = [r["key"] for r in policy(spec, profile=profile, enable=enable)["rows"]]
    assert len(keys) == len(set(keys)) == 2 * len(EXTERNAL) + 2 * len(INTERNAL)
