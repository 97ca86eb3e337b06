"""The ufw parsers against recorded real outputs (tests/data/ufw/).

forms.*            many rule forms (ranges, lists, interfaces, v6, LIMIT, REJECT, CIDRs, out rules,
                   source ports, comments, proto any), as ufw 0.36 writes and prints them;
smartserver-all.*  a lab appliance with every SmartServer condition on;
exotic.*           recorded in a lab appliance from exotic.commands.sh: logging, application
                   profiles, route rules, interface wildcards, device-side addresses, unicode comments;
vendor-example.*   the vendor document's own `ufw status numbered` listing, quirks included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_portspec.parse.ufw import (
    UfwRule,
    decode_comment,
    display_order,
    format_ports,
    parse_ports,
    parse_status,
    parse_status_rules,
    parse_user_rules,
    ufw_state,
)
from pytest_portspec.spec.model import PortRange

DATA = Path(__file__).parent / "data" / "ufw"
RULE_WORDS = (" ALLOW", " DENY", " REJECT", " LIMIT")


def text(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def user_rules(name: str) -> list[UfwRule]:
    return parse_user_rules(text(f"{name}.user.rules"), False) + parse_user_rules(
        text(f"{name}.user6.rules"), True
    )


def rule_lines(listing: str) -> list[str]:
    return [line for line in listing.splitlines() if any(w in line for w in RULE_WORDS)]


def find(rules: list[UfwRule], fragment: str) -> UfwRule:
    """The one rule whose source line contains `fragment`."""
    found = [r for r in rules if fragment in r.text]
    assert len(found) == 1, (fragment, [r.text for r in found])
    return found[0]


def R(lo: int, hi: int | None = None) -> PortRange:
    return PortRange(lo, lo if hi is None else hi)


# ---------------------------------------------------------------------------------------------
# user.rules / user6.rules


@pytest.mark.parametrize(
    ("name", "v4", "v6"),
    [("forms", 25, 21), ("smartserver-all", 24, 22), ("exotic", 24, 14)],
)
def test_rule_counts_per_family(name: str, v4: int, v6: int) -> None:
    assert len(parse_user_rules(text(f"{name}.user.rules"), False)) == v4
    assert len(parse_user_rules(text(f"{name}.user6.rules"), True)) == v6


def test_positions_are_file_order_within_each_family() -> None:
    for v6 in (False, True):
        rules = [r for r in user_rules("forms") if r.v6 == v6]
        assert [r.position for r in rules] == list(range(1, len(rules) + 1))
        assert all(r.v6 == v6 for r in rules)


# (fragment of the tuple line, expected fields)
TUPLES = [
    (
        "allow any any 0.0.0.0/0 any 0.0.0.0/0 in_lo",
        dict(position=1, action="allow", direction="in", proto="any", dports=(), sports=(), interface="lo"),
    ),
    (
        "allow any any 0.0.0.0/0 any 0.0.0.0/0 out_lo",
        dict(position=2, direction="out", interface="lo", src="0.0.0.0/0", dst="0.0.0.0/0"),
    ),
    ("deny any any 0.0.0.0/0 any 127.0.0.0/8 in", dict(position=3, action="deny", src="127.0.0.0/8")),
    (
        "allow tcp 22 0.0.0.0/0 any 198.18.1.1 in_eth0",
        dict(
            position=4,
            proto="tcp",
            dports=(R(22),),
            src="198.18.1.1",
            dst="0.0.0.0/0",
            interface="eth0",
            comment="mgmt access",
            v6=False,
        ),
    ),
    ("limit tcp 2222", dict(position=12, action="limit", dports=(R(2222),), comment=None)),
    ("reject tcp 3306", dict(position=13, action="reject", direction="in")),
    ("deny tcp 5432 0.0.0.0/0 any 203.0.113.0/24 in", dict(action="deny", src="203.0.113.0/24")),
    (
        "allow tcp 443 198.51.100.7 any 0.0.0.0/0 out",
        dict(position=15, direction="out", dst="198.51.100.7", src="0.0.0.0/0", interface=None),
    ),
    (
        "allow udp 47808:47823,49152:65535 0.0.0.0/0",
        dict(proto="udp", dports=(R(47808, 47823), R(49152, 65535))),
    ),
    ("allow any 1443 0.0.0.0/0", dict(proto="any", dports=(R(1443),), interface=None)),
    ("allow any 1883 0.0.0.0/0 any 0.0.0.0/0 in_eth0", dict(proto="any", interface="eth0")),
    ("deny tcp 25 0.0.0.0/0 any 0.0.0.0/0 out", dict(position=19, action="deny", direction="out")),
    ("allow udp 123 0.0.0.0/0 any 0.0.0.0/0 out_eth1", dict(direction="out", interface="eth1")),
    ("allow tcp 22 0.0.0.0/0 any 198.18.0.0/15 in", dict(position=21, src="198.18.0.0/15")),
    ("allow udp 60000:61000", dict(dports=(R(60000, 61000),))),
    ("allow tcp 8443 0.0.0.0/0 1024:65535 0.0.0.0/0 in", dict(dports=(R(8443),), sports=(R(1024, 65535),))),
    ("reject tcp 6667 0.0.0.0/0 any 0.0.0.0/0 out", dict(position=24, action="reject", direction="out")),
]


@pytest.mark.parametrize(("fragment", "fields"), TUPLES, ids=[t[0] for t in TUPLES])
def test_tuple_fields(fragment: str, fields: dict[str, object]) -> None:
    rule = find(parse_user_rules(text("forms.user.rules"), False), fragment)
    for key, value in fields.items():
        assert getattr(rule, key) == value, key


V6_TUPLES = [
    ("allow any any ::/0 any ::/0 in_lo", dict(position=1, interface="lo", src="::/0", dst="::/0")),
    ("allow tcp 443 ::/0 any 2001:db8::/32 in", dict(position=17, src="2001:db8::/32", dports=(R(443),))),
    ("limit tcp 2222 ::/0", dict(position=10, action="limit")),
    ("allow udp 123 ::/0 any ::/0 out_eth1", dict(direction="out", interface="eth1")),
]


@pytest.mark.parametrize(("fragment", "fields"), V6_TUPLES, ids=[t[0] for t in V6_TUPLES])
def test_v6_tuple_fields(fragment: str, fields: dict[str, object]) -> None:
    rule = find(parse_user_rules(text("forms.user6.rules"), True), fragment)
    assert rule.v6
    for key, value in fields.items():
        assert getattr(rule, key) == value, key


EXOTIC = [
    ("allow_log tcp 8081", dict(action="allow", log="log", direction="in")),
    ("deny_log-all any any", dict(action="deny", log="log-all", src="198.18.99.0/24")),
    ("allow udp any 0.0.0.0/0 any 198.18.7.0/24 in", dict(proto="udp", dports=(), src="198.18.7.0/24")),
    ("allow tcp 8082 198.18.1.2 any", dict(dst="198.18.1.2", dports=(R(8082),))),
    (
        "allow udp 6000 0.0.0.0/0 5000 198.18.5.5 in",
        dict(dports=(R(6000),), sports=(R(5000),), src="198.18.5.5"),
    ),
    ("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in", dict(dapp="OpenSSH", sapp=None, dports=(R(22),))),
    ("allow tcp 22 0.0.0.0/0 any 198.18.3.3 OpenSSH - in", dict(dapp="OpenSSH", src="198.18.3.3")),
    (
        "route:allow tcp 80 198.19.128.1 any 0.0.0.0/0 in_eth0!out_eth1",
        dict(direction="fwd", interface="eth0", route_out_interface="eth1", dst="198.19.128.1"),
    ),
    ("route:deny tcp 25", dict(direction="fwd", action="deny", interface=None, route_out_interface="eth1")),
    ("route:reject any any", dict(direction="fwd", action="reject", interface="eth0", src="198.18.9.0/24")),
    ("allow tcp 8084 0.0.0.0/0 any 0.0.0.0/0 in_eth+", dict(interface="eth+")),
    ("allow udp 9020,9022,9030:9040", dict(dports=(R(9020), R(9022), R(9030, 9040)))),
    ("allow any 53 0.0.0.0/0", dict(proto="any", comment="café # über")),
    ("deny tcp 5671 198.19.128.2 any 0.0.0.0/0 out_eth1", dict(direction="out", interface="eth1")),
    ("allow_log-all udp 8086", dict(direction="out", log="log-all", comment="x", interface="eth1")),
    ("allow tcp any 0.0.0.0/0 any 0.0.0.0/0 in", dict(proto="tcp", dports=(), sports=())),
]


@pytest.mark.parametrize(("fragment", "fields"), EXOTIC, ids=[t[0] for t in EXOTIC])
def test_exotic_tuple_fields(fragment: str, fields: dict[str, object]) -> None:
    rule = find(parse_user_rules(text("exotic.user.rules"), False), fragment)
    for key, value in fields.items():
        assert getattr(rule, key) == value, key


def test_app_route_and_v6_exotic_tuples() -> None:
    v6 = parse_user_rules(text("exotic.user6.rules"), True)
    assert find(v6, "2001:db8::1").dst == "2001:db8::1"
    assert find(v6, "2001:db8::1").direction == "out"
    assert find(v6, "OpenSSH").dapp == "OpenSSH"
    assert find(v6, "route:deny").route_out_interface == "eth1"


DESCRIBED = [
    ("forms.user.rules", "in_eth0 comment=", "22/tcp on eth0 ALLOW IN 198.18.1.1 # mgmt access"),
    ("forms.user.rules", "out_lo", "Anywhere ALLOW OUT Anywhere on lo"),
    ("forms.user.rules", "198.51.100.7", "198.51.100.7 443/tcp ALLOW OUT Anywhere"),
    ("forms.user.rules", "1024:65535", "8443/tcp ALLOW IN 1024:65535/tcp"),
    ("forms.user.rules", "allow any 1883", "1883 on eth0 ALLOW IN Anywhere"),
    ("forms.user6.rules", "47808", "47808:47823,49152:65535/udp (v6) ALLOW IN Anywhere (v6)"),
    ("forms.user6.rules", "2001:db8::/32", "443/tcp ALLOW IN 2001:db8::/32"),
    ("exotic.user.rules", "allow_log tcp 8081", "8081/tcp ALLOW IN Anywhere (log)"),
    ("exotic.user.rules", "198.18.8.8", "198.18.1.2/tcp ALLOW IN 198.18.8.8/tcp"),
    ("exotic.user.rules", "198.18.7.0/24", "Anywhere ALLOW IN 198.18.7.0/24/udp"),
    ("exotic.user.rules", "OpenSSH - in\n", "22/tcp (OpenSSH) ALLOW IN Anywhere"),
    ("exotic.user.rules", "in_eth0!out_eth1", "198.19.128.1 80/tcp on eth1 ALLOW FWD Anywhere on eth0"),
    ("exotic.user6.rules", "allow tcp any ::/0", "Anywhere/tcp (v6) ALLOW IN Anywhere/tcp (v6)"),
]


@pytest.mark.parametrize(("file", "fragment", "expected"), DESCRIBED, ids=[d[2] for d in DESCRIBED])
def test_describe_is_ufws_verbose_line_single_spaced(file: str, fragment: str, expected: str) -> None:
    v6 = "user6" in file
    lines = [line for line in text(file).splitlines(keepends=True) if line.startswith("### tuple")]
    line = next(line for line in lines if fragment in line).rstrip("\n")
    (rule,) = parse_user_rules(line, v6)
    assert rule.describe() == expected


# ---------------------------------------------------------------------------------------------
# the status listings, reproduced exactly from user.rules and parsed back


@pytest.mark.parametrize("name", ["forms", "smartserver-all", "exotic"])
def test_status_verbose_reproduced_exactly(name: str) -> None:
    rules = display_order(user_rules(name))
    assert [r.status_line() for r in rules] == rule_lines(text(f"{name}.status-verbose.txt"))


@pytest.mark.parametrize("name", ["forms", "exotic"])
def test_plain_and_numbered_status_reproduced_exactly(name: str) -> None:
    rules = user_rules(name)
    plain = [r.status_line(verbose=False) for r in display_order(rules)]
    numbered = [r.status_line(number=i, verbose=False) for i, r in enumerate(rules, start=1)]
    assert plain == rule_lines(text(f"{name}.status.txt"))
    assert numbered == rule_lines(text(f"{name}.status-numbered.txt"))


@pytest.mark.parametrize(
    ("listing", "order"),
    [
        ("forms.status.txt", "display"),
        ("forms.status-verbose.txt", "display"),
        ("forms.status-numbered.txt", "file"),
        ("smartserver-all.status-verbose.txt", "display"),
        ("exotic.status-verbose.txt", "display"),
    ],
)
def test_status_rules_equal_the_user_rules(listing: str, order: str) -> None:
    name = listing.split(".")[0]
    files = user_rules(name)
    expected = display_order(files) if order == "display" else files
    parsed = parse_status_rules(text(listing))
    assert [r.describe() for r in parsed] == [r.describe() for r in expected]
    semantic = (
        "action",
        "direction",
        "proto",
        "dports",
        "sports",
        "src",
        "dst",
        "interface",
        "v6",
        "comment",
    )
    for got, want in zip(parsed, expected, strict=True):
        assert {k: getattr(got, k) for k in semantic} == {k: getattr(want, k) for k in semantic}


def test_status_positions_count_within_each_family() -> None:
    rules = parse_status_rules(text("forms.status-numbered.txt"))
    assert [r.position for r in rules if not r.v6] == list(range(1, 26))
    assert [r.position for r in rules if r.v6] == list(range(1, 22))
    assert rules[41].text.startswith("[42] 443/tcp")  # a v6 rule without the (v6) mark: its address says so
    assert rules[41].v6 and rules[41].position == 17


@pytest.mark.parametrize("listing", ["exotic.status.txt", "exotic.status-numbered.txt"])
def test_application_names_without_ports_are_refused(listing: str) -> None:
    with pytest.raises(ValueError, match="application profile"):
        parse_status_rules(text(listing))


def test_vendor_example_with_its_quirks() -> None:
    rules = parse_status_rules(text("vendor-example.status-numbered.txt"))
    assert len(rules) == 25
    assert not any(r.v6 for r in rules)  # the listing shows no (v6) lines
    assert [r.position for r in rules] == list(range(1, 26))  # listed order, not the printed numbers
    quirk = rules[15]
    assert quirk.text.startswith("[26] 1443")  # printed [26] between [15] and [17]
    assert (quirk.proto, quirk.dports, quirk.direction, quirk.action) == ("any", (R(1443),), "in", "allow")
    ip70 = find(rules, "ip70")
    assert (ip70.direction, ip70.interface, ip70.dports, ip70.proto) == ("out", "ip70", (), "any")
    assert ip70.describe() == "Anywhere ALLOW OUT Anywhere on ip70"
    outs = [r for r in rules if "(out)" in r.text]
    assert len(outs) == 13 and all(r.direction == "out" for r in outs)
    assert all(r.direction == "in" for r in rules if "(out)" not in r.text)
    assert find(rules, "1883 on eth0").interface == "eth0"
    assert find(rules, "1883 on eth0").proto == "any"
    assert find(rules, "127.0.0.0/8").src == "127.0.0.0/8"
    assert find(rules, "[ 4]").describe() == "2541/udp ALLOW OUT Anywhere"


# ---------------------------------------------------------------------------------------------
# parse_status


def test_parse_status_verbose() -> None:
    assert parse_status(text("forms.status-verbose.txt")) == (
        True,
        {"in": "deny", "out": "allow", "routed": "disabled"},
    )
    assert parse_status(text("smartserver-all.status-verbose.txt"))[1]["out"] == "deny"


def test_inactive_has_no_policy_at_all() -> None:
    assert parse_status("Status: inactive\n") == (
        False,
        {"in": "disabled", "out": "disabled", "routed": "disabled"},
    )
    assert parse_status_rules("Status: inactive\n") == []


@pytest.mark.parametrize(
    "output",
    [
        "",
        "ERROR: You need to be root to run this script\n",
        "Status: aktiv\n",
        "sudo: a password is required\n",
        "Netid State Recv-Q Send-Q Local Address:Port\n",
        "Status: inactive\nTo Action From\n",
    ],
)
def test_not_ufw_status_output(output: str) -> None:
    with pytest.raises(ValueError):
        parse_status(output)


def test_the_defaults_need_the_verbose_status() -> None:
    with pytest.raises(ValueError, match="verbose"):
        parse_status(text("forms.status-numbered.txt"))


@pytest.mark.parametrize(
    "line",
    [
        "22/tcp                     ACCEPT IN   Anywhere",
        "22/tcp (v6)                ALLOW IN    10.0.0.0/8",
        "22/tcp                     ALLOW IN    2001:db8::/32 10.0.0.1",
        "Anywhere on lo             ALLOW OUT   Anywhere",
        "Anywhere                   ALLOW IN    Anywhere                   (out)",
        "Anywhere                   ALLOW IN    Anywhere/ospf",
    ],
)
def test_unreadable_rule_lines(line: str) -> None:
    with pytest.raises(ValueError):
        parse_status_rules(f"Status: active\n\nTo  Action  From\n--  ------  ----\n{line}\n")


# ---------------------------------------------------------------------------------------------
# ufw_state


def test_state_from_user_rules() -> None:
    state = ufw_state(text("forms.status-verbose.txt"), text("forms.user.rules"), text("forms.user6.rules"))
    assert state.source == "user.rules"
    assert (state.active, state.default_in, state.default_out, state.default_routed) == (
        True,
        "deny",
        "allow",
        "disabled",
    )
    assert state.ipv6
    assert len(state.rules) == 46
    assert [r.v6 for r in state.rules] == [False] * 25 + [True] * 21
    assert [r.position for r in state.family(True)] == list(range(1, 22))


def test_state_from_status_only() -> None:
    state = ufw_state(text("smartserver-all.status-verbose.txt"), None, None)
    assert state.source == "status"
    assert state.ipv6
    assert len(state.family(False)) == 24 and len(state.family(True)) == 22
    files = user_rules("smartserver-all")
    for v6 in (False, True):
        got = sorted(r.describe() for r in state.family(v6))
        assert got == sorted(r.describe() for r in files if r.v6 == v6)


def test_ipv6_setting_from_default_ufw() -> None:
    status, v4 = text("forms.status-verbose.txt"), text("forms.user.rules")
    assert ufw_state(
        status, v4, text("forms.user6.rules"), default_ufw='IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\n'
    ).ipv6
    v4_only = "\n".join(line for line in status.splitlines() if "(v6)" not in line and "2001:db8" not in line)
    state = ufw_state(v4_only, v4, text("forms.user6.rules"), default_ufw="# comment\nIPV6=no\n")
    assert not state.ipv6
    assert not ufw_state(v4_only, v4, text("forms.user6.rules")).ipv6  # IPV6=no: ufw lists no v6 rule
    with pytest.raises(ValueError, match="IPV6"):
        ufw_state(status, v4, text("forms.user6.rules"), default_ufw="IPT_SYSCTL=/etc/ufw/sysctl.conf\n")


def test_inactive_state_keeps_the_rules_of_the_files() -> None:
    state = ufw_state("Status: inactive\n", text("forms.user.rules"), text("forms.user6.rules"))
    assert not state.active
    assert (state.default_in, state.default_out) == ("disabled", "disabled")
    assert len(state.rules) == 46 and state.source == "user.rules"
    assert ufw_state("Status: inactive\n", None, None).rules == ()


def test_status_and_files_must_agree() -> None:
    with pytest.raises(ValueError, match=r"disagree|lists"):
        ufw_state(
            text("smartserver-all.status-verbose.txt"), text("forms.user.rules"), text("forms.user6.rules")
        )
    with pytest.raises(ValueError, match=r"user6\.rules"):
        ufw_state(text("forms.status-verbose.txt"), text("forms.user.rules"), None)


# ---------------------------------------------------------------------------------------------
# malformed input


@pytest.mark.parametrize(
    ("line", "v6"),
    [
        ("### tuple ### allow tcp 22 0.0.0.0/0 any", False),  # too short
        ("### tuple ### accept tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", False),
        ("### tuple ### allow_loud tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", False),
        ("### tuple ### allow ospf any 0.0.0.0/0 any 0.0.0.0/0 in", False),  # ufw supports no ospf
        ("### tuple ### allow tcp 0 0.0.0.0/0 any 0.0.0.0/0 in", False),
        ("### tuple ### allow tcp 70000 0.0.0.0/0 any 0.0.0.0/0 in", False),
        ("### tuple ### allow tcp 10:5 0.0.0.0/0 any 0.0.0.0/0 in", False),
        ("### tuple ### allow tcp ssh 0.0.0.0/0 any 0.0.0.0/0 in", False),
        ("### tuple ### allow tcp 22 0.0.0.0/0 any 10.0.0.1 in", True),  # v4 address in user6.rules
        ("### tuple ### allow tcp 22 0.0.0.0/0 any 10.0.0.999 in", False),
        ("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 sideways_eth0", False),
        ("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in_eth0!out_eth1", False),  # not a route rule
        ("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=zz", False),
    ],
)
def test_malformed_tuples_are_refused(line: str, v6: bool) -> None:
    with pytest.raises(ValueError, match=r"user6?\.rules line 1"):
        parse_user_rules(line, v6)


def test_old_six_field_tuples_are_inbound() -> None:
    (rule,) = parse_user_rules("### tuple ### deny udp 137 0.0.0.0/0 any 0.0.0.0/0\n", False)
    assert (rule.direction, rule.action, rule.proto, rule.dports) == ("in", "deny", "udp", (R(137),))


def test_ports_and_comments() -> None:
    assert parse_ports("any") == ()
    assert parse_ports("22") == (R(22),)
    assert parse_ports("47808:47823,49152:65535") == (R(47808, 47823), R(49152, 65535))
    for spec in ("22", "1:100", "47808:47823,49152:65535", "any"):
        assert format_ports(parse_ports(spec)) == spec
    for bad in ("", ":22", "22,", "a", "0", "65536", "22-23"):
        with pytest.raises(ValueError):
            parse_ports(bad)
    assert decode_comment("6d676d7420616363657373") == "mgmt access"
    assert decode_comment("6d676d7") == "mgm"  # odd length: ufw drops the last digit
    assert decode_comment("ff") == "\\xff"
