"""Effective policy on small, made-up specs: expansion, keys, profiles, conditions, roles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_portspec.errors import SelectionError
from pytest_portspec.spec import Spec, load_spec
from pytest_portspec.spec.model import PortRange, subtract
from pytest_portspec.spec.policy import effective_policy

HEAD = """\
format: 1
name: lab
product: Lab box
vendor: Example
source: {doc: lab.txt, title: Lab ports}
profiles:
  new: {title: New firmware, default: true, firmware: {min: "2.0"}}
  old: {title: Old firmware, firmware: {below: "2.0"}}
  any: {title: Any firmware}
conditions:
  extra: {title: Extra service, default: false}
  usual: {title: Usual service, default: true}
default:
  in: block
  out: {new: block, old: allow, any: unspecified}
  citation: {quote: other ports}
"""

ROWS = """\
rows:
  - id: web
    service: Web
    process: [nginx, httpd]
    direction: both
    proto: tcp
    ports: 443
    action: {new: allow/block, old: allow/allow, any: allow/allow}
    listener: required
    citation: {quote: web}
  - id: api-out
    service: API client
    direction: out
    proto: tcp
    ports: 443
    action: allow
    destinations: [api.example.com, {configured: proxy, description: site proxy}]
    citation: {quote: api}
  - id: dns
    service: DNS
    direction: out
    proto: both
    ports: 53
    action: allow
    citation: {quote: dns}
  - id: legacy
    service: Legacy port
    direction: in
    proto: udp
    ports: ["5000-5010", 6000]
    action: {old: allow}
    citation: {quote: legacy}
  - id: extra
    service: Extra
    direction: in
    proto: tcp
    ports: 8080
    action: allow
    condition: extra
    citation: {quote: extra}
  - id: usual
    service: Usual
    direction: in
    proto: tcp
    ports: 9090
    action: block
    condition: usual
    citation: {quote: usual}
  - id: redis
    service: Redis
    direction: in
    proto: tcp
    ports: 6379
    scope: loopback
    action: allow
    citation: {quote: redis}
  - id: ntp
    service: NTP
    direction: out
    proto: udp
    ports: 123
    action: allow
    reach: any
    destinations: [a.ntp.example, b.ntp.example]
    citation: {quote: ntp}
"""


def make(tmp_path: Path, text: str) -> Spec:
    path = tmp_path / "lab.yaml"
    path.write_text(text, encoding="utf-8")
    return load_spec(path)


@pytest.fixture
def lab(tmp_path: Path) -> Spec:
    return make(tmp_path, HEAD + ROWS)


def rows(policy: dict[str, Any], **match: object) -> list[dict[str, Any]]:
    return [r for r in policy["rows"] if all(r[k] == v for k, v in match.items())]


def only(policy: dict[str, Any], **match: object) -> dict[str, Any]:
    found = rows(policy, **match)
    assert len(found) == 1, f"{match}: {[r['key'] for r in found]}"
    return found[0]


def test_direction_both_becomes_an_in_and_an_out_row(lab: Spec) -> None:
    policy = effective_policy(lab).as_dict()
    assert only(policy, id="web", direction="in")["action"] == "allow"
    assert only(policy, id="web", direction="out")["action"] == "block"
    assert only(policy, id="web", direction="in")["listener"] == "required"
    assert only(policy, id="web", direction="out")["listener"] is None


def test_proto_both_becomes_a_tcp_and_a_udp_row(lab: Spec) -> None:
    policy = effective_policy(lab).as_dict()
    assert [r["proto"] for r in rows(policy, id="dns")] == ["tcp", "udp"]


def test_keys_are_readable_and_disambiguated_only_where_needed(lab: Spec) -> None:
    policy = effective_policy(lab).as_dict()
    keys = [r["key"] for r in policy["rows"]]
    assert len(keys) == len(set(keys))
    assert only(policy, id="web", direction="in")["key"] == "in-443-tcp"
    # two rows send out on 443/tcp: both keys carry their row id
    assert only(policy, id="web", direction="out")["key"] == "out-443-tcp-web"
    assert only(policy, id="api-out")["key"] == "out-443-tcp-api-out"
    assert only(policy, id="legacy")["key"] == "in-5000-5010,6000-udp"
    assert only(policy, id="redis")["key"] == "lo-in-6379-tcp"


def test_ports_are_inclusive_ranges(lab: Spec) -> None:
    policy = effective_policy(lab, profile="old").as_dict()
    assert only(policy, id="legacy")["ports"] == [[5000, 5010], [6000, 6000]]


def test_a_row_missing_from_the_profile_does_not_apply_and_has_no_action(lab: Spec) -> None:
    policy = effective_policy(lab, profile="new").as_dict()
    legacy = only(policy, id="legacy")
    assert (legacy["applies"], legacy["action"]) == (False, None)
    assert legacy["decision"] == "does not apply in profile new (only in: old)"
    assert only(effective_policy(lab, profile="old").as_dict(), id="legacy")["applies"] is True


def test_conditions_follow_their_defaults_and_say_so(lab: Spec) -> None:
    policy = effective_policy(lab).as_dict()
    extra, usual = only(policy, id="extra"), only(policy, id="usual")
    assert (extra["applies"], extra["action"]) == (False, "allow")
    assert extra["decision"] == "condition extra is off (default): pass --enable extra"
    assert usual["applies"] is True
    assert usual["decision"] == "condition usual is on (default)"
    assert policy["enabled"] == ["usual"]
    assert policy["conditions"] == {
        "extra": {"enabled": False, "decided_by": "default"},
        "usual": {"enabled": True, "decided_by": "default"},
    }


def test_enable_and_disable_override_defaults(lab: Spec) -> None:
    policy = effective_policy(lab, enable=["extra"], disable=["usual"]).as_dict()
    assert only(policy, id="extra")["decision"] == "condition extra is on (--enable extra)"
    assert only(policy, id="usual")["applies"] is False
    assert policy["conditions"]["usual"] == {"enabled": False, "decided_by": "--disable usual"}


def test_enable_all_turns_every_condition_on_but_an_explicit_disable_wins(lab: Spec) -> None:
    policy = effective_policy(lab, enable=["all"], disable=["usual"]).as_dict()
    assert policy["conditions"]["extra"] == {"enabled": True, "decided_by": "--enable all"}
    assert policy["conditions"]["usual"]["enabled"] is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"enable": ["extar"]},
            "spec 'lab' has no condition 'extar' (did you mean 'extra'?); conditions: extra, usual",
        ),
        ({"enable": ["extra"], "disable": ["extra"]}, "condition 'extra' is both enabled and disabled"),
        (
            {"profile": "nwe"},
            "spec 'lab' has no profile 'nwe' (did you mean 'new'?); profiles: new, old, any",
        ),
        ({"role": "server"}, "spec 'lab' has no role 'server'; roles: none (it describes a single node)"),
        ({"firmware": "two"}, "firmware version 'two' is not a dotted number such as 1.6"),
        ({"profile": "new", "firmware": "1.9"}, "profile 'new' of 'lab' is for firmware >= 2.0, not 1.9"),
    ],
)
def test_choices_the_spec_does_not_offer_are_one_clear_sentence(
    lab: Spec, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(SelectionError) as info:
        effective_policy(lab, **kwargs)
    assert str(info.value) == message


def test_firmware_picks_the_default_profile_when_it_fits(lab: Spec) -> None:
    assert effective_policy(lab, firmware="2.3").profile.name == "new"


def test_firmware_compares_numbers_not_text(lab: Spec) -> None:
    assert effective_policy(lab, firmware="10.0").profile.name == "new"
    with pytest.raises(SelectionError, match="fits profiles: old, any; choose one with --profile"):
        effective_policy(lab, firmware="1.10")


def test_firmware_picks_the_only_fitting_profile(tmp_path: Path) -> None:
    spec = make(
        tmp_path,
        HEAD.replace("  any: {title: Any firmware}\n", "").replace(", any: unspecified", "")
        + ROWS.replace(", any: allow/allow", ""),
    )
    policy = effective_policy(spec, firmware="1.6")
    assert (policy.profile.name, policy.firmware) == ("old", "1.6")
    assert policy.default_out == "allow"


def test_default_policy_is_per_profile(lab: Spec) -> None:
    assert effective_policy(lab, profile="new").as_dict()["default"]["out"] == "block"
    assert effective_policy(lab, profile="any").as_dict()["default"]["out"] == "unspecified"
    assert effective_policy(lab, profile="old").as_dict()["default"]["in"] == "block"


def test_a_block_that_another_row_allows_is_marked_superseded(lab: Spec) -> None:
    policy = effective_policy(lab).as_dict()
    assert only(policy, id="web", direction="out")["superseded_by"] == ["out-443-tcp-api-out"]
    assert only(policy, id="api-out")["superseded_by"] == []


def test_destinations_keep_their_form_and_reach(lab: Spec) -> None:
    policy = effective_policy(lab).as_dict()
    assert only(policy, id="api-out")["destinations"] == [
        {"host": "api.example.com", "ip": []},
        {"configured": "proxy", "description": "site proxy"},
    ]
    assert only(policy, id="api-out")["reach"] == "all"
    assert only(policy, id="ntp")["reach"] == "any"
    assert only(policy, id="web", direction="in")["reach"] is None


CLUSTER = """\
format: 1
name: lab
product: Cluster
vendor: Example
source: {doc: lab.txt, title: Cluster ports}
profiles:
  default: {title: Default}
roles:
  proxy: {title: Proxy}
  app: {title: Application}
  db: {title: Database}
default: {in: block, out: unspecified, citation: {quote: other}}
rows:
  - id: proxy-app
    service: Cluster HTTPS
    between: {from: proxy, to: [app, db], bidirectional: true}
    proto: tcp
    ports: 8443
    action: allow
    citation: {quote: cluster}
  - id: user
    service: User access
    between: {from: proxy, to: app}
    proto: tcp
    ports: 443
    action: allow
    citation: {quote: user}
  - id: ssh
    service: SSH
    direction: in
    proto: tcp
    ports: 22
    action: allow
    citation: {quote: ssh}
  - id: web
    service: Web
    direction: in
    roles: [proxy]
    proto: tcp
    ports: 443
    action: allow
    citation: {quote: web}
"""


def test_between_rows_give_each_role_its_side_with_peers(tmp_path: Path) -> None:
    policy = effective_policy(make(tmp_path, CLUSTER)).as_dict()
    proxy_out = only(policy, id="proxy-app", role="proxy", direction="out")
    assert proxy_out["destinations"] == [{"role": "app"}, {"role": "db"}]
    assert only(policy, id="proxy-app", role="proxy", direction="in")["sources"] == [
        {"role": "app"},
        {"role": "db"},
    ]
    assert only(policy, id="proxy-app", role="db", direction="out")["destinations"] == [{"role": "proxy"}]
    assert only(policy, id="proxy-app", role="db", direction="in")["sources"] == [{"role": "proxy"}]


def test_one_way_between_rows_have_no_reverse_side(tmp_path: Path) -> None:
    policy = effective_policy(make(tmp_path, CLUSTER)).as_dict()
    assert [(r["role"], r["direction"]) for r in rows(policy, id="user")] == [("proxy", "out"), ("app", "in")]


def test_rows_without_roles_apply_to_every_role_and_role_filters(tmp_path: Path) -> None:
    spec = make(tmp_path, CLUSTER)
    assert [r["role"] for r in rows(effective_policy(spec).as_dict(), id="ssh")] == ["proxy", "app", "db"]
    db = effective_policy(spec, role="db").as_dict()
    assert {r["role"] for r in db["rows"]} == {"db"}
    assert rows(db, id="web") == []
    assert db["role"] == "db"


def test_keys_are_unique_per_role(tmp_path: Path) -> None:
    policy = effective_policy(make(tmp_path, CLUSTER)).as_dict()
    for role in ("proxy", "app", "db"):
        keys = [r["key"] for r in rows(policy, role=role)]
        assert len(keys) == len(set(keys)), role
    # on the proxy, the web row and the user-access row are different traffic: in vs out
    assert only(policy, id="web")["key"] == "in-443-tcp"
    assert only(policy, id="user", role="app")["key"] == "in-443-tcp"


def test_a_block_that_another_row_allows_only_in_part_keeps_the_rest_blocked(tmp_path: Path) -> None:
    text = (
        HEAD
        + ROWS
        + """\
  - id: range-block
    service: Range
    direction: in
    proto: udp
    ports: "7000-7100"
    action: block
    citation: {quote: range}
  - id: range-allow
    service: Part of the range
    direction: in
    proto: udp
    ports: [7050, "7090-7200"]
    action: allow
    citation: {quote: part}
"""
    )
    policy = effective_policy(make(tmp_path, text))
    block = next(e for e in policy.rows if e.row.id == "range-block")
    assert block.superseded_by == ("in-7050,7090-7200-udp",)
    assert not block.overridden
    assert only(policy.as_dict(), id="range-block")["blocked_ports"] == [[7000, 7049], [7051, 7089]]
    assert only(policy.as_dict(), id="range-allow")["blocked_ports"] is None


def test_a_block_that_another_row_allows_entirely_is_overridden(lab: Spec) -> None:
    web_out = next(e for e in effective_policy(lab).rows if e.row.id == "web" and e.side.direction == "out")
    assert web_out.overridden
    assert web_out.blocked_ports == ()


@pytest.mark.parametrize(
    ("ports", "minus", "left"),
    [
        ([(1, 10)], [(3, 4)], [(1, 2), (5, 10)]),
        ([(1, 10)], [(1, 10)], []),
        ([(1, 10)], [(0, 5), (8, 20)], [(6, 7)]),
        ([(1, 10), (20, 30)], [(11, 19)], [(1, 10), (20, 30)]),
        ([(5, 5)], [(5, 5)], []),
    ],
)
def test_subtract_port_ranges(
    ports: list[tuple[int, int]], minus: list[tuple[int, int]], left: list[tuple[int, int]]
) -> None:
    def ranges(pairs: list[tuple[int, int]]) -> tuple[PortRange, ...]:
        return tuple(PortRange(lo, hi) for lo, hi in pairs)

    assert subtract(ranges(ports), ranges(minus)) == ranges(left)
