"""The SyncSign On-Premise Server (SOPS) spec encodes document 004 faithfully.

Each test states a fact of the document (004_1b59df0978d6d788.txt) or of a decision
recorded in specs/syncsign-sops.yaml, and checks it in the effective policy of every
profile (deployment) and condition it concerns.
"""

from __future__ import annotations

import pytest
from spectools import Row, assert_applies, assert_not_in_profile, hosts, load, one, policy

from pytest_portspec.errors import SelectionError
from pytest_portspec.spec import Spec

PROFILES = ("internet", "lan")
CONDITIONS = ("google-calendar", "office365", "webhook")


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load("syncsign-sops")


def assert_allowed(row: Row, direction: str, proto: str, ports: list[list[int]], role: str) -> None:
    shape = (row["direction"], row["proto"], row["ports"], row["role"])
    assert shape == (direction, proto, ports, role)
    assert_applies(row, "allow")


# --- spec shape ---------------------------------------------------------------------------


def test_every_document_row_is_encoded_in_order(spec: Spec) -> None:
    assert [r.id for r in spec.rows] == [
        # From SOPS to Internet (Outbound): OTA, basic services, data sources (optional)
        "ota-update",
        "ota-firmware",
        "ota-docker",
        "ntp",
        "google-calendar-api",
        "office365-api",
        # From Internet to SOPS (Inbound, for Hubs), then (Inbound, for Data Source)
        "mqtts-wss-in",
        "mqtt-ws-in",
        "api-in",
        "webhook-in",
        # From Hubs to SOPS on the Internet (Outbound)
        "hub-mqtts-wss",
        "hub-mqtt-ws",
        "hub-api",
        "hub-health-report",
        "hub-ota-update",
        "hub-ota-firmware",
        "hub-time-failsafe",
    ]


def test_roles_are_server_and_hub(spec: Spec) -> None:
    assert list(spec.roles) == ["sops", "hub"]
    with pytest.raises(SelectionError, match="role"):
        policy(spec, role="gateway")


def test_decisions_are_recorded(spec: Spec) -> None:
    assert {d.id for d in spec.decisions} >= {
        "deployments-as-profiles",
        "sops-outbound-both-deployments",
        "ota-port-8433",
        "hub-inbound-both-deployments",
        "hub-outbound-per-deployment",
        "mqtt-transport-alternatives",
        "lan-ip-destination",
        "webhook-optional",
    }


# --- profiles and default policy ----------------------------------------------------------


def test_internet_deployment_is_the_default_profile(spec: Spec) -> None:
    assert policy(spec)["profile"] == "internet"
    assert policy(spec, profile="lan")["profile"] == "lan"


@pytest.mark.parametrize("profile", PROFILES)
def test_default_policy_is_unspecified(spec: Spec, profile: str) -> None:
    default = policy(spec, profile=profile)["default"]
    assert (default["in"], default["out"]) == ("unspecified", "unspecified")
    assert "WiFi router or firewall" in default["citation"]["quote"]


# --- conditions ---------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_conditions_are_off_by_default(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile=profile)
    assert pol["enabled"] == []
    assert pol["conditions"] == {name: {"enabled": False, "decided_by": "default"} for name in CONDITIONS}


@pytest.mark.parametrize("profile", PROFILES)
def test_enable_all_turns_every_condition_on_and_disable_wins(spec: Spec, profile: str) -> None:
    assert sorted(policy(spec, profile=profile, enable=("all",))["enabled"]) == sorted(CONDITIONS)
    pol = policy(spec, profile=profile, enable=("all",), disable=("webhook",))
    assert sorted(pol["enabled"]) == ["google-calendar", "office365"]
    assert pol["conditions"]["webhook"] == {"enabled": False, "decided_by": "--disable webhook"}


# --- From SOPS to Internet (Outbound) -----------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_sops_ota_outbound_in_both_deployments(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile=profile)
    ota = one(pol, "ota-update")
    # "443, 8433" encoded as written (decision ota-port-8433), not as 8443.
    assert_allowed(ota, "out", "tcp", [[443, 443], [8433, 8433]], "sops")
    assert hosts(ota) == ["up.sync-sign.com"]
    firmware = one(pol, "ota-firmware")
    assert_allowed(firmware, "out", "tcp", [[22, 22], [443, 443]], "sops")
    assert hosts(firmware) == ["github.com"]
    docker = one(pol, "ota-docker")
    assert_allowed(docker, "out", "tcp", [[443, 443]], "sops")
    assert hosts(docker) == ["registry.hub.docker.com", "docker.io"]


@pytest.mark.parametrize("profile", PROFILES)
def test_sops_ntp_is_udp_123_to_three_servers(spec: Spec, profile: str) -> None:
    ntp = one(policy(spec, profile=profile), "ntp")
    assert_allowed(ntp, "out", "udp", [[123, 123]], "sops")
    assert ntp["key"] == "out-123-udp"
    assert hosts(ntp) == ["pool.ntp.org", "europe.pool.ntp.org", "time.google.com"]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(
    ("row_id", "condition", "host"),
    [
        ("google-calendar-api", "google-calendar", "www.googleapis.com"),
        ("office365-api", "office365", "graph.microsoft.com"),
    ],
)
def test_data_source_apis_only_when_their_condition_is_on(
    spec: Spec, profile: str, row_id: str, condition: str, host: str
) -> None:
    off = one(policy(spec, profile=profile), row_id)
    assert off["applies"] is False
    assert off["condition"] == condition
    assert f"--enable {condition}" in off["decision"]

    on = one(policy(spec, profile=profile, enable=(condition,)), row_id)
    assert_allowed(on, "out", "tcp", [[443, 443]], "sops")
    assert hosts(on) == [host]
    # Same port as the docker registry row: the key names the row.
    assert on["key"] == f"out-443-tcp-{row_id}"

    other = next(c for c in ("google-calendar", "office365") if c != condition)
    assert one(policy(spec, profile=profile, enable=(other,)), row_id)["applies"] is False


# --- From Internet to SOPS (Inbound, for Hubs), with the hubs' side of each link ---------

# Each hub link is two rows of the document: the SOPS's inbound row ("From Internet to SOPS")
# and the hubs' outbound row ("From Hubs to SOPS on the Internet"), with the same ports.
HUB_LINKS = [
    # (SOPS inbound row, hub outbound row, ports)
    ("mqtts-wss-in", "hub-mqtts-wss", [[8443, 8443], [8883, 8883]]),
    ("mqtt-ws-in", "hub-mqtt-ws", [[1883, 1883], [8888, 8888]]),
    ("api-in", "hub-api", [[80, 80], [443, 443]]),
]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(("sops_row", "hub_row", "ports"), HUB_LINKS)
def test_hub_links_are_open_on_both_ends_in_both_deployments(
    spec: Spec, profile: str, sops_row: str, hub_row: str, ports: list[list[int]]
) -> None:
    pol = policy(spec, profile=profile)
    inbound = one(pol, sops_row)
    # Both ports of each MQTT row (mqtts and wss, mqtt and ws) must be open and listening.
    assert_allowed(inbound, "in", "tcp", ports, "sops")
    assert inbound["listener"] == "required"
    assert inbound["sources"] == [{"role": "hub"}]
    assert inbound["condition"] is None
    outbound = one(pol, hub_row)
    assert_allowed(outbound, "out", "tcp", ports, "hub")
    assert [d["role"] for d in outbound["destinations"]] == ["sops"]
    assert outbound["listener"] is None


# --- From Internet to SOPS (Inbound, for Data Source) -------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_webhook_inbound_only_when_enabled(spec: Spec, profile: str) -> None:
    off = one(policy(spec, profile=profile), "webhook-in")
    assert off["applies"] is False
    assert "--enable webhook" in off["decision"]

    on = one(policy(spec, profile=profile, enable=("webhook",)), "webhook-in")
    assert_allowed(on, "in", "tcp", [[80, 80], [443, 443]], "sops")
    assert on["listener"] == "required"
    # 80/443 in is also the hubs' API row; keys stay distinct per row.
    assert on["key"] == "in-80,443-tcp-webhook-in"
    api = one(policy(spec, profile=profile, enable=("webhook",)), "api-in")
    assert api["key"] == "in-80,443-tcp-api-in"


def test_api_ports_stay_required_without_webhook(spec: Spec) -> None:
    api = one(policy(spec, disable=("webhook",)), "api-in")
    assert api["applies"] is True
    assert api["listener"] == "required"


# --- From Hubs to SOPS on the Internet (Outbound) -----------------------------------------


CLOUD_ROWS = [
    ("hub-health-report", 443, "sync.sync-sign.com"),
    ("hub-ota-update", 443, "update.sync-sign.com"),
    ("hub-ota-firmware", 443, "file.sync-sign.com"),
    ("hub-time-failsafe", 80, "pub.sync-sign.com"),
]


@pytest.mark.parametrize(("row_id", "port", "host"), CLOUD_ROWS)
def test_hub_cloud_rows_apply_in_internet_deployment(spec: Spec, row_id: str, port: int, host: str) -> None:
    row = one(policy(spec, profile="internet"), row_id)
    assert_allowed(row, "out", "tcp", [[port, port]], "hub")
    assert hosts(row) == [host]


@pytest.mark.parametrize(("row_id", "port", "host"), CLOUD_ROWS)
def test_hub_cloud_rows_do_not_apply_in_lan_deployment(spec: Spec, row_id: str, port: int, host: str) -> None:
    row = one(policy(spec, profile="lan", enable=("all",)), row_id)
    assert_not_in_profile(row)
    assert "does not apply in profile lan" in row["decision"]
    assert hosts(row) == [host]


def test_hub_time_failsafe_is_http_not_ntp(spec: Spec) -> None:
    row = one(policy(spec, profile="internet"), "hub-time-failsafe")
    assert (row["proto"], row["ports"], row["key"]) == ("tcp", [[80, 80]], "out-80-tcp")


# --- roles --------------------------------------------------------------------------------


SOPS_ROWS = {
    "ota-update",
    "ota-firmware",
    "ota-docker",
    "ntp",
    "google-calendar-api",
    "office365-api",
    "mqtts-wss-in",
    "mqtt-ws-in",
    "api-in",
    "webhook-in",
}
HUB_ROWS = {
    "hub-mqtts-wss",
    "hub-mqtt-ws",
    "hub-api",
    "hub-health-report",
    "hub-ota-update",
    "hub-ota-firmware",
    "hub-time-failsafe",
}


@pytest.mark.parametrize("profile", PROFILES)
def test_role_selection_splits_server_and_hub_rows(spec: Spec, profile: str) -> None:
    sops = policy(spec, profile=profile, role="sops")
    hub = policy(spec, profile=profile, role="hub")
    assert {r["id"] for r in sops["rows"]} == SOPS_ROWS
    assert {r["id"] for r in hub["rows"]} == HUB_ROWS
    assert {r["role"] for r in sops["rows"]} == {"sops"}
    assert {r["role"] for r in hub["rows"]} == {"hub"}
    # Without --role every row of every role is listed.
    assert {r["id"] for r in policy(spec, profile=profile)["rows"]} == SOPS_ROWS | HUB_ROWS


@pytest.mark.parametrize("profile", PROFILES)
def test_hubs_only_make_outbound_connections(spec: Spec, profile: str) -> None:
    hub = policy(spec, profile=profile, role="hub", enable=("all",))
    assert {r["direction"] for r in hub["rows"]} == {"out"}
    assert all(r["action"] in ("allow", None) for r in hub["rows"])


@pytest.mark.parametrize("profile", PROFILES)
def test_nothing_is_blocked_or_manual(spec: Spec, profile: str) -> None:
    pol = policy(spec, profile=profile, enable=("all",))
    assert all(r["action"] != "block" for r in pol["rows"])
    assert all(r["manual"] is None for r in pol["rows"])
    assert all(r["superseded_by"] == [] for r in pol["rows"])
