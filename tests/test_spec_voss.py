"""The VOSS platform spec encodes document 002 faithfully.

Each test states a fact of the document (002_41be44c79507ffab.txt, "Network Security") or
of a decision recorded in specs/voss.yaml, and checks it in the effective policy of the
profile (cluster), of every condition and of every node role it concerns.
"""

from __future__ import annotations

import pytest
from spectools import Policy, Row, applying, assert_applies, assert_condition_off, load, one, policy, rows

from pytest_portspec.spec import Spec

ROLES = ("webproxy", "application", "database", "unified")
CONDITIONS = ("ucm", "cuxn", "webex", "ldap", "ldaps", "sso", "hcmf", "sftp-backup")


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load("voss")


def roles_of(pol: Policy, row_id: str) -> set[str]:
    return {r["role"] for r in rows(pol, row_id)}


def ranges(*ports: int | tuple[int, int]) -> list[list[int]]:
    return [[p, p] if isinstance(p, int) else [p[0], p[1]] for p in ports]


def assert_allowed(row: Row, *ports: int | tuple[int, int]) -> None:
    assert row["ports"] == ranges(*ports), row["key"]
    assert_applies(row, "allow")


def allowed_in_ports(pol: Policy, role: str, proto: str) -> set[int]:
    """Every single port an applying allow row opens inbound on `role` (ranges expanded)."""
    found: set[int] = set()
    for r in applying(pol, role=role, direction="in", proto=proto):
        assert r["action"] == "allow"
        for lo, hi in r["ports"]:
            found.update(range(lo, hi + 1))
    return found


def required_listeners(pol: Policy, role: str) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for r in applying(pol, role=role):
        if r["listener"] == "required":
            for lo, hi in r["ports"]:
                found.update((r["proto"], p) for p in range(lo, hi + 1))
    return found


# --- spec shape ------------------------------------------------------------------------------


def test_every_document_row_is_encoded_in_order(spec: Spec) -> None:
    assert [r.id for r in spec.rows] == [
        # Network Communications between Nodes within the Cluster
        "proxy-proxy-cluster",
        "proxy-app-user-access",
        "proxy-app-cluster",
        "unified-unified-database",
        "unified-unified-cluster",
        "app-app-cluster",
        "app-db-database",
        "app-db-cluster",
        "db-db-database",
        "db-db-cluster",
        # Outbound from the Application/Unified nodes ("389 and/or 636" is two rows)
        "ucm",
        "cuxn",
        "webex",
        "ldap",
        "ldaps",
        "sso",
        "hcmf",
        # Outbound from the proxy node
        "api-responses",
        "northbound-notifications",
        # Outbound from all nodes
        "snmp-traps",
        "sftp-backup",
        "ntp",
        # Inbound to the proxy node
        "web-access",
        "api-request",
        # Inbound to all nodes ("TCP/UDP 22" is two rows: listener only on TCP)
        "ssh",
        "ssh-udp",
        # Service and Ports list, per node type and port group
        "webproxy-ports-ssh",
        "webproxy-ports-http",
        "webproxy-ports-snmp",
        "webproxy-ports-https",
        "application-ports-ssh",
        "application-ports-http",
        "application-ports-snmp",
        "application-ports-https",
        "application-ports-database",
        "database-ports-ssh",
        "database-ports-snmp",
        "database-ports-database",
    ]


def test_one_cluster_profile_four_roles_eight_conditions(spec: Spec) -> None:
    pol = policy(spec)
    assert pol["spec"] == "voss"
    assert pol["profile"] == "cluster"
    assert policy(spec, profile="cluster")["profile"] == "cluster"
    assert set(spec.roles) == set(ROLES)
    assert set(pol["conditions"]) == set(CONDITIONS)
    assert {r["role"] for r in pol["rows"]} == set(ROLES)


# --- default policy ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [None, *ROLES])
def test_default_in_block_out_unspecified(spec: Spec, role: str | None) -> None:
    pol = policy(spec, role=role)
    assert pol["default"]["in"] == "block"
    assert pol["default"]["out"] == "unspecified"
    assert "pinholes only those ports required" in pol["default"]["citation"]["quote"]


def test_notes_dynamic_firewall_rate_limit_standalone_cisco(spec: Spec) -> None:
    notes = {n["id"]: n for n in policy(spec)["notes"]}
    assert {"dynamic-firewall", "rate-limiting", "standalone", "cisco-additional-ports"} <= set(notes)
    assert "ports are automatically closed" in notes["dynamic-firewall"]["citation"]["quote"]
    assert "rate limit" in notes["rate-limiting"]["citation"]["quote"]
    assert "Standalone is only a single node" in notes["standalone"]["citation"]["quote"]
    assert "external Cisco equipment" in notes["cisco-additional-ports"]["citation"]["quote"]


# --- between nodes of the cluster --------------------------------------------------------------


def test_proxy_to_proxy_8443_both_ways(spec: Spec) -> None:
    pol = policy(spec)
    out = one(pol, "proxy-proxy-cluster", role="webproxy", direction="out", proto="tcp")
    inn = one(pol, "proxy-proxy-cluster", role="webproxy", direction="in", proto="tcp")
    assert_allowed(out, 8443)
    assert_allowed(inn, 8443)
    assert out["destinations"] == [{"role": "webproxy"}]
    assert inn["sources"] == [{"role": "webproxy"}]
    assert inn["listener"] == "required"
    assert roles_of(pol, "proxy-proxy-cluster") == {"webproxy"}


def test_proxy_to_unified_application_443_is_one_way(spec: Spec) -> None:
    pol = policy(spec)
    assert_allowed(one(pol, "proxy-app-user-access", role="webproxy", direction="out", proto="tcp"), 443)
    for role in ("unified", "application"):
        inn = one(pol, "proxy-app-user-access", role=role, direction="in", proto="tcp")
        assert_allowed(inn, 443)
        assert inn["sources"] == [{"role": "webproxy"}]
        assert inn["listener"] == "required"
        # one way: the application side does not send 443 to the proxy, nor the proxy listen
        assert not rows(pol, "proxy-app-user-access", role=role, direction="out", proto="tcp")
    assert not rows(pol, "proxy-app-user-access", role="webproxy", direction="in", proto="tcp")
    assert roles_of(pol, "proxy-app-user-access") == {"webproxy", "unified", "application"}


def test_proxy_to_unified_application_8443_bidirectional(spec: Spec) -> None:
    pol = policy(spec)
    for role in ("webproxy", "unified", "application"):
        assert_allowed(one(pol, "proxy-app-cluster", role=role, direction="out", proto="tcp"), 8443)
        inn = one(pol, "proxy-app-cluster", role=role, direction="in", proto="tcp")
        assert_allowed(inn, 8443)
        assert inn["listener"] == "required"
    assert one(pol, "proxy-app-cluster", role="webproxy", direction="in", proto="tcp")["sources"] == [
        {"role": "unified"},
        {"role": "application"},
    ]
    assert "database" not in roles_of(pol, "proxy-app-cluster")


def test_unified_to_unified_database_and_cluster(spec: Spec) -> None:
    pol = policy(spec)
    for direction in ("in", "out"):
        database = one(pol, "unified-unified-database", role="unified", direction=direction, proto="tcp")
        assert_allowed(database, 27017, 27030)
        cluster = one(pol, "unified-unified-cluster", role="unified", direction=direction, proto="tcp")
        assert_allowed(cluster, 8443)
    # decision database-listeners: database ports may listen; cluster 8443 must
    database = one(pol, "unified-unified-database", role="unified", direction="in", proto="tcp")
    assert database["listener"] == "permitted"
    cluster = one(pol, "unified-unified-cluster", role="unified", direction="in", proto="tcp")
    assert cluster["listener"] == "required"
    assert roles_of(pol, "unified-unified-database") == {"unified"}
    assert roles_of(pol, "unified-unified-cluster") == {"unified"}


def test_application_to_application_8443(spec: Spec) -> None:
    pol = policy(spec)
    for direction in ("in", "out"):
        cluster = one(pol, "app-app-cluster", role="application", direction=direction, proto="tcp")
        assert_allowed(cluster, 8443)
    assert roles_of(pol, "app-app-cluster") == {"application"}


def test_application_database_27017_27030_bidirectional(spec: Spec) -> None:
    pol = policy(spec)
    for role, peer in (("application", "database"), ("database", "application")):
        out = one(pol, "app-db-database", role=role, direction="out", proto="tcp")
        inn = one(pol, "app-db-database", role=role, direction="in", proto="tcp")
        assert_allowed(out, 27017, 27030)
        assert_allowed(inn, 27017, 27030)
        assert out["destinations"] == [{"role": peer}]
        assert inn["sources"] == [{"role": peer}]
        assert inn["listener"] == "permitted"


def test_application_database_8443_one_way(spec: Spec) -> None:
    """Decision cluster-8443-direction: no "bi-directional" written, read as one way."""
    pol = policy(spec)
    assert_allowed(one(pol, "app-db-cluster", role="application", direction="out", proto="tcp"), 8443)
    inn = one(pol, "app-db-cluster", role="database", direction="in", proto="tcp")
    assert_allowed(inn, 8443)
    assert inn["listener"] == "required"
    assert not rows(pol, "app-db-cluster", role="application", direction="in", proto="tcp")
    assert not rows(pol, "app-db-cluster", role="database", direction="out", proto="tcp")


def test_database_to_database_including_second_table(spec: Spec) -> None:
    """Decision db-db-second-table: the lone 8443 table belongs to Database to Database."""
    pol = policy(spec)
    for direction in ("in", "out"):
        assert_allowed(
            one(pol, "db-db-database", role="database", direction=direction, proto="tcp"), 27017, 27030
        )
        assert_allowed(one(pol, "db-db-cluster", role="database", direction=direction, proto="tcp"), 8443)
    assert one(pol, "db-db-cluster", role="database", direction="in", proto="tcp")["listener"] == "required"
    assert roles_of(pol, "db-db-cluster") == {"database"}


def test_no_process_names(spec: Spec) -> None:
    assert all(r["process"] == [] for r in policy(spec, enable=("all",))["rows"])


# --- external: integrations are conditions, off by default ---------------------------------


INTEGRATIONS: list[tuple[str, str, int, tuple[str, ...]]] = [
    # (row id = condition, destination key, port, protocols)
    ("ucm", "ucm", 8443, ("tcp",)),
    ("cuxn", "cuxn", 8443, ("tcp",)),
    ("webex", "webex", 443, ("tcp",)),
    ("ldap", "ldap", 389, ("tcp", "udp")),
    ("ldaps", "ldaps", 636, ("tcp", "udp")),
    ("sso", "sso", 443, ("tcp",)),
    ("hcmf", "hcmf", 8443, ("tcp",)),
]


@pytest.mark.parametrize(("row_id", "dest", "port", "protos"), INTEGRATIONS)
def test_integration_is_off_by_default(
    spec: Spec, row_id: str, dest: str, port: int, protos: tuple[str, ...]
) -> None:
    pol = policy(spec)
    assert pol["conditions"][row_id]["enabled"] is False
    assert row_id not in pol["enabled"]
    for role in ("application", "unified"):
        for proto in protos:
            assert_condition_off(one(pol, row_id, role=role, direction="out", proto=proto), row_id)
    # the documented port survives as a skipped row, on Application/Unified nodes only
    assert roles_of(pol, row_id) == {"application", "unified"}


@pytest.mark.parametrize(("row_id", "dest", "port", "protos"), INTEGRATIONS)
def test_integration_enabled_allows_outbound(
    spec: Spec, row_id: str, dest: str, port: int, protos: tuple[str, ...]
) -> None:
    pol = policy(spec, enable=(row_id,))
    assert pol["conditions"][row_id]["enabled"] is True
    assert pol["enabled"] == [row_id]
    for role in ("application", "unified"):
        for proto in protos:
            row = one(pol, row_id, role=role, direction="out", proto=proto)
            assert_allowed(row, port)
            assert [d["configured"] for d in row["destinations"]] == [dest]
        assert len([r for r in pol["rows"] if r["id"] == row_id and r["role"] == role]) == len(protos)
    # enabling one integration does not enable the others
    for other, *_ in INTEGRATIONS:
        if other != row_id:
            assert all(not r["applies"] for r in pol["rows"] if r["id"] == other)


def test_ldap_and_ldaps_are_independent(spec: Spec) -> None:
    pol = policy(spec, enable=("ldaps",))
    assert not any(r["applies"] for r in pol["rows"] if r["id"] == "ldap")
    assert all(r["applies"] for r in pol["rows"] if r["id"] == "ldaps")
    both = policy(spec, enable=("ldap", "ldaps"))
    assert all(r["applies"] for r in both["rows"] if r["id"] in ("ldap", "ldaps"))


def test_enable_all_then_disable_one(spec: Spec) -> None:
    pol = policy(spec, enable=("all",), disable=("webex",))
    assert set(pol["enabled"]) == set(CONDITIONS) - {"webex"}
    assert pol["conditions"]["webex"]["enabled"] is False
    assert not any(r["applies"] for r in pol["rows"] if r["id"] == "webex")
    assert all(r["applies"] for r in pol["rows"] if r["id"] == "ucm")


# --- external: proxy and all-node outbound -------------------------------------------------


def test_proxy_outbound_api_responses_and_northbound_manual(spec: Spec) -> None:
    pol = policy(spec)
    api = one(pol, "api-responses", role="webproxy", direction="out", proto="tcp")
    assert_allowed(api, 443)
    assert api["destinations"] == [
        {
            "configured": "api-clients",
            "description": "API clients that receive sync and async responses",
        }
    ]
    north = one(pol, "northbound-notifications", role="webproxy", direction="out", proto="tcp")
    assert north["ports"] == []
    assert north["applies"] is True
    assert north["manual"] and "no default" in north["manual"]
    assert roles_of(pol, "api-responses") == {"webproxy"}
    assert roles_of(pol, "northbound-notifications") == {"webproxy"}


@pytest.mark.parametrize("role", ROLES)
def test_all_nodes_outbound_snmp_ntp(spec: Spec, role: str) -> None:
    pol = policy(spec, role=role)
    for proto in ("tcp", "udp"):
        row = one(pol, "snmp-traps", role=role, direction="out", proto=proto)
        assert_allowed(row, 162)
        assert row["destinations"][0]["configured"] == "snmp-manager"
    ntp = one(pol, "ntp", role=role, direction="out", proto="udp")
    assert_allowed(ntp, 123)
    assert ntp["destinations"][0]["configured"] == "ntp"
    assert not rows(pol, "ntp", role=role, direction="out", proto="tcp")


@pytest.mark.parametrize("role", ROLES)
def test_sftp_backup_condition(spec: Spec, role: str) -> None:
    off = policy(spec, role=role)
    assert off["conditions"]["sftp-backup"]["enabled"] is False
    assert_condition_off(one(off, "sftp-backup", role=role, direction="out", proto="tcp"), "sftp-backup")
    on = policy(spec, enable=("sftp-backup",), role=role)
    row = one(on, "sftp-backup", role=role, direction="out", proto="tcp")
    assert_allowed(row, 22)
    assert row["destinations"][0]["configured"] == "sftp-backup"
    assert not rows(on, "sftp-backup", role=role, direction="out", proto="udp")


# --- external: inbound ---------------------------------------------------------------------


def test_proxy_inbound_web_access_and_api_request(spec: Spec) -> None:
    pol = policy(spec)
    for row_id in ("web-access", "api-request"):
        row = one(pol, row_id, role="webproxy", direction="in", proto="tcp")
        assert_allowed(row, 443)
        assert row["listener"] == "required"
        assert roles_of(pol, row_id) == {"webproxy"}
    ids = ("web-access", "api-request")
    keys = {one(pol, i, role="webproxy", direction="in", proto="tcp")["key"] for i in ids}
    assert len(keys) == 2


@pytest.mark.parametrize("role", ROLES)
def test_ssh_inbound_on_every_node(spec: Spec, role: str) -> None:
    """Decision ssh-udp: TCP 22 must listen; UDP 22 is allowed as written but need not."""
    pol = policy(spec, role=role)
    tcp = one(pol, "ssh", role=role, direction="in", proto="tcp")
    assert_allowed(tcp, 22)
    assert tcp["listener"] == "required"
    udp = one(pol, "ssh-udp", role=role, direction="in", proto="udp")
    assert_allowed(udp, 22)
    assert udp["listener"] == "permitted"


# --- Service and Ports list ----------------------------------------------------------------


def test_webproxy_port_list(spec: Spec) -> None:
    pol = policy(spec, role="webproxy")
    assert_allowed(one(pol, "webproxy-ports-ssh", role="webproxy", direction="in", proto="tcp"), 22)
    assert_allowed(one(pol, "webproxy-ports-http", role="webproxy", direction="in", proto="tcp"), 80)
    for proto in ("tcp", "udp"):
        assert_allowed(
            one(pol, "webproxy-ports-snmp", role="webproxy", direction="in", proto=proto),
            (161, 162),
        )
    https = one(pol, "webproxy-ports-https", role="webproxy", direction="in", proto="tcp")
    assert_allowed(https, 443, 8443)
    assert https["listener"] == "permitted"


@pytest.mark.parametrize("role", ["application", "unified"])
def test_application_port_list_applies_to_application_and_unified(spec: Spec, role: str) -> None:
    pol = policy(spec, role=role)
    assert_allowed(one(pol, "application-ports-http", role=role, direction="in", proto="tcp"), 80)
    https = one(pol, "application-ports-https", role=role, direction="in", proto="tcp")
    assert_allowed(https, 443, 8443)
    assert https["listener"] == "required"
    db = one(pol, "application-ports-database", role=role, direction="in", proto="tcp")
    assert_allowed(db, 27017, 27030)
    assert db["listener"] == "permitted"


@pytest.mark.parametrize("role", ["database", "unified"])
def test_database_port_list_27019_27020_as_written(spec: Spec, role: str) -> None:
    """Decision database-port-lists: the per-node list's 27019 & 27020 are encoded too."""
    pol = policy(spec, role=role)
    db = one(pol, "database-ports-database", role=role, direction="in", proto="tcp")
    assert_allowed(db, 27019, 27020)
    assert db["listener"] == "permitted"
    for proto in ("tcp", "udp"):
        assert_allowed(one(pol, "database-ports-snmp", role=role, direction="in", proto=proto), (161, 162))
    assert roles_of(pol, "database-ports-database") == {role}


# --- what each node must let in, in total ------------------------------------------------------


def test_inbound_tcp_ports_per_role(spec: Spec) -> None:
    pol = policy(spec, enable=("all",))
    assert allowed_in_ports(pol, "webproxy", "tcp") == {22, 80, 161, 162, 443, 8443}
    assert allowed_in_ports(pol, "application", "tcp") == {22, 80, 161, 162, 443, 8443, 27017, 27030}
    # Database: cluster tables (27017, 27030, 8443) plus the per-node list (27019, 27020)
    assert allowed_in_ports(pol, "database", "tcp") == {22, 161, 162, 8443, 27017, 27019, 27020, 27030}
    # Unified: union of the Application and Database lines (decision unified-port-list)
    unified = {22, 80, 161, 162, 443, 8443, 27017, 27019, 27020, 27030}
    assert allowed_in_ports(pol, "unified", "tcp") == unified
    for role in ROLES:
        assert allowed_in_ports(pol, role, "udp") == {22, 161, 162}


def test_database_node_gets_no_http_or_https_from_the_port_list(spec: Spec) -> None:
    pol = policy(spec, role="database")
    inbound = allowed_in_ports(pol, "database", "tcp")
    assert 80 not in inbound
    assert 443 not in inbound


def test_required_listeners_per_role(spec: Spec) -> None:
    pol = policy(spec, enable=("all",))
    assert required_listeners(pol, "webproxy") == {("tcp", 22), ("tcp", 443), ("tcp", 8443)}
    assert required_listeners(pol, "application") == {("tcp", 22), ("tcp", 443), ("tcp", 8443)}
    assert required_listeners(pol, "unified") == {("tcp", 22), ("tcp", 443), ("tcp", 8443)}
    assert required_listeners(pol, "database") == {("tcp", 22), ("tcp", 8443)}


def test_nothing_is_blocked_explicitly(spec: Spec) -> None:
    """The document only pinholes; 'block' comes from the default policy alone."""
    pol = policy(spec, enable=("all",))
    assert {r["action"] for r in pol["rows"]} == {"allow"}
    assert all(r["applies"] for r in pol["rows"])
