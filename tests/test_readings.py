"""A document that contradicts itself: a device that satisfies either reading passes, and says which.

SmartServer's table gives LON 1628-1645 and 2541 as TCP, its own `ufw status numbered` listing
allows 1628/udp and 2541/udp in and out (decision lon-tcp-vs-example-udp). The devices here are
plain data: kernels built the way ufw builds them (kernelfixture), sockets as ss shows them, and
the tester's inbound probes answered where something listens.
"""

from __future__ import annotations

from dataclasses import replace

from kernelfixture import ufw_kernel

from pytest_portspec.checks import Judgement, judge
from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.reach import inbound_probes
from pytest_portspec.checks.readings import reading_policies
from pytest_portspec.checks.verdict import Verdict
from pytest_portspec.parse.sockets import Socket
from pytest_portspec.parse.ufw_rules import UfwState
from pytest_portspec.probe.model import ProbeResult
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import EffectivePolicy, effective_policy

ADDRESS = "198.18.1.2"
UFW = UfwState(True, "deny", "deny", "disabled", (), True, "user.rules")
SSH = ("-A ufw-user-input -p tcp --dport 22 -j ACCEPT",)
LISTING_RULES = (  # the vendor's listing, rules [3] [4] [17] [18]
    "-A ufw-user-input -p udp --dport 2541 -j ACCEPT",
    "-A ufw-user-output -p udp --dport 2541 -j ACCEPT",
    "-A ufw-user-input -p udp --dport 1628 -j ACCEPT",
    "-A ufw-user-output -p udp --dport 1628 -j ACCEPT",
)
TABLE_RULES = (
    "-A ufw-user-input -p tcp --dport 2541 -j ACCEPT",
    "-A ufw-user-input -p tcp --dport 1628 -j ACCEPT",
)
LON_ROWS = ("lon", "lon-ip70")


def sock(proto: str, port: int, process: str) -> Socket:
    state = "UNCONN" if proto == "udp" else "LISTEN"
    line = f'{proto} {state} 0 0 0.0.0.0:{port} 0.0.0.0:* users:(("{process}",pid=7,fd=3))'
    return Socket(proto, "0.0.0.0", port, ((process, 7),), None, line)  # type: ignore[arg-type]


def device(
    policy: EffectivePolicy, rules: tuple[str, ...], sockets: list[Socket], *, default_out: str = "deny"
) -> Judgement:
    """Judge a device whose tester probes answer exactly where something listens."""
    kernel = ufw_kernel("\n".join(SSH + rules) + "\n", default_out=default_out, addresses=(ADDRESS,))
    held = tuple([sock("tcp", 22, "sshd"), *sockets])
    facts = Facts(ufw=UFW, sockets=held, kernel=kernel, address=ADDRESS, own_addresses=(ADDRESS,))
    listening = {(s.proto, s.port) for s in held}
    probes = [p for each in reading_policies(policy) for p in inbound_probes(each, facts, Declarations())]
    answers = {
        p.id: ProbeResult(
            p.id,
            ADDRESS,
            p.proto,
            p.port,
            "ok" if (p.proto, p.port) in listening else "timeout",
            ADDRESS,
            (ADDRESS,),
            0.01,
            "answered" if (p.proto, p.port) in listening else "no answer",
        )
        for p in probes
    }
    return judge(policy, replace(facts, inbound=answers), Declarations())


def lon_policy() -> EffectivePolicy:
    return effective_policy(find_spec("smartserver"), profile="enhanced", enable=["lon"])


def lon_items(judged: Judgement) -> dict[tuple[str, str], Verdict]:
    return {k: v for k, v in judged.verdicts.items() if v.row in LON_ROWS}


def choice(judged: Judgement, decision: str) -> str | None:
    return next(c.reading_id for c in judged.readings if c.decision == decision)


def test_a_device_set_up_as_the_vendor_listing_is_accepted_with_the_listing_reading() -> None:
    judged = device(lon_policy(), LISTING_RULES, [sock("udp", 1628, "echlte"), sock("udp", 2541, "echlte")])
    items = lon_items(judged)
    # the items keep the keys collected from the table's reading; their verdicts are the listing's
    assert ("in-1628-1645-tcp", "listening") in items and ("in-2541-tcp", "inbound") in items
    assert {v.outcome for v in items.values()} <= {"passed", "skipped"}
    assert (
        items[("in-2541-tcp", "ufw")].outcome == "passed"
        and "2541/udp" in items[("in-2541-tcp", "ufw")].observed
    )
    assert items[("in-1628-1645-tcp", "listening")].outcome == "passed"
    note = next(n for n in items[("in-2541-tcp", "listening")].notes if "contradicts" in n)
    assert "matched the reading the example listing" in note and "2541/udp ALLOW IN Anywhere" in note
    assert "the reading the table (TCP)" in note and "2541LON (echlte)TCP" in note  # both sides quoted
    assert choice(judged, "lon-tcp-vs-example-udp") == "example-listing"


def test_the_exposure_audit_counts_the_listing_udp_listeners_as_documented_when_it_holds() -> None:
    judged = device(lon_policy(), LISTING_RULES, [sock("udp", 1628, "echlte"), sock("udp", 2541, "echlte")])
    exposure = judged.verdicts[("exposure", "exposure")]
    assert exposure.outcome == "passed", exposure.observed
    assert any("the example listing" in n for n in exposure.notes)
    # under the table's reading alone the same device's udp listeners are undocumented
    primary_only = replace(lon_policy(), spec=replace(find_spec("smartserver"), decisions=()))
    udp = device(primary_only, LISTING_RULES, [sock("udp", 1628, "echlte"), sock("udp", 2541, "echlte")])
    assert udp.verdicts[("exposure", "exposure")].outcome == "failed"
    assert "udp 0.0.0.0:1628" in udp.verdicts[("exposure", "exposure")].observed


def test_a_device_set_up_as_the_table_is_accepted_with_the_table_reading() -> None:
    judged = device(lon_policy(), TABLE_RULES, [sock("tcp", 1628, "echlte"), sock("tcp", 2541, "echlte")])
    items = lon_items(judged)
    assert {v.outcome for v in items.values()} <= {"passed", "skipped"}
    assert choice(judged, "lon-tcp-vs-example-udp") is None
    [chosen] = [c for c in judged.readings if c.decision == "lon-tcp-vs-example-udp"]
    assert chosen.held and chosen.reading == "the table (TCP)"
    notes = items[("in-2541-tcp", "listening")].notes
    assert any(
        "reading: the table (TCP)" in n and "the example listing" in n and "is also accepted" in n
        for n in notes
    )


def test_a_device_following_neither_reading_fails_with_both_quoted() -> None:
    judged = device(lon_policy(), (), [])
    items = lon_items(judged)
    failed = [v for v in items.values() if v.outcome == "failed"]
    assert failed and all(v.proto == "tcp" for v in failed)  # the table's verdicts are kept
    note = next(n for n in failed[0].notes if "no reading of it holds" in n)
    assert "the table (TCP)" in note and "the example listing (UDP, in and out)" in note
    assert "2541/udp ALLOW IN Anywhere" in note and "LON (echlte)TCP" in note
    [chosen] = [c for c in judged.readings if c.decision == "lon-tcp-vs-example-udp"]
    assert not chosen.held and len(chosen.tried) == 2


def test_a_device_mixing_the_readings_fails() -> None:
    """A reading is whole: LON on tcp as the table says, IP-70 on udp as the listing says."""
    rules = ("-A ufw-user-input -p tcp --dport 1628 -j ACCEPT", *LISTING_RULES[:2])
    judged = device(lon_policy(), rules, [sock("tcp", 1628, "echlte"), sock("udp", 2541, "echlte")])
    outcomes = {k: v.outcome for k, v in lon_items(judged).items()}
    assert "failed" in outcomes.values()
    assert choice(judged, "lon-tcp-vs-example-udp") is None
    assert not next(c for c in judged.readings if c.decision == "lon-tcp-vs-example-udp").held


def test_probes_are_planned_for_every_reading() -> None:
    """The tester's probes run before any verdict: the listing's udp ports are probed too."""
    probes = {
        (p.proto, p.port)
        for each in reading_policies(lon_policy())
        for p in inbound_probes(each, None, Declarations())
    }
    assert ("tcp", 2541) in probes and ("udp", 2541) in probes


# --- VOSS: the cluster tables give 27017 and 27030, the node list 27019 and 27020 ---------------

DATABASE = ("27017", "27030", "27019", "27020")


def voss_database(*ports: str) -> Judgement:
    """A database node whose database ports only the cluster's network reaches: they are
    cluster-only (issue 18), open to every address they would fail whatever the reading."""
    policy = effective_policy(find_spec("voss"), role="database")
    rules = tuple(f"-A ufw-user-input -s 198.18.40.0/24 -p tcp --dport {p} -j ACCEPT" for p in ports)
    return device(policy, rules, [sock("tcp", int(p), "mongod") for p in ports], default_out="allow")


def database_items(judged: Judgement) -> dict[tuple[str, str], Verdict]:
    rows = ("app-db-database", "db-db-database", "database-ports-database")
    return {k: v for k, v in judged.verdicts.items() if v.row in rows}


def test_a_database_node_with_both_lists_follows_the_rows_as_written() -> None:
    judged = voss_database(*DATABASE)
    assert {v.outcome for v in database_items(judged).values()} <= {"passed", "skipped"}
    assert choice(judged, "database-port-lists") is None


def test_a_database_node_with_the_cluster_tables_ports_only_is_accepted() -> None:
    judged = voss_database("27017", "27030")
    items = database_items(judged)
    assert {v.outcome for v in items.values()} <= {"passed", "skipped"}, [v.observed for v in items.values()]
    assert choice(judged, "database-port-lists") == "cluster-tables"


def test_a_database_node_with_the_node_list_ports_only_is_accepted() -> None:
    judged = voss_database("27019", "27020")
    items = database_items(judged)
    assert {v.outcome for v in items.values()} <= {"passed", "skipped"}, [v.observed for v in items.values()]
    assert choice(judged, "database-port-lists") == "service-and-ports-list"


def test_a_database_node_with_no_database_port_fails() -> None:
    judged = voss_database()
    assert "failed" in {v.outcome for v in database_items(judged).values()}
    assert not next(c for c in judged.readings if c.decision == "database-port-lists").held
