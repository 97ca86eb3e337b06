"""Listening verdicts from plain sockets: every port a row lists needs its listener."""

from __future__ import annotations

from typing import Any

import pytest
from kernelfixture import ufw_kernel
from sockettools import processes_section

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.exposure import check_exposure
from pytest_portspec.checks.sockets import check_listening
from pytest_portspec.parse.sockets import Socket, cross_check, parse_listening
from pytest_portspec.parse.ufw_rules import UfwState
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import Expectation, effective_policy

INACTIVE = UfwState(False, "deny", "allow", "deny", (), False, "user.rules")


def listening(*ports: int, address: str = "0.0.0.0", process: str = "sops") -> Facts:
    sockets = tuple(
        Socket("tcp", address, port, ((process, 1),), None, f"tcp LISTEN {address}:{port} {process}")
        for port in ports
    )
    return Facts(ufw=INACTIVE, sockets=sockets)


@pytest.mark.parametrize(
    ("ports", "outcome", "observed"),
    [
        ((8443, 8883), "passed", "listens"),
        ((8443,), "failed", "nothing listens on 8883/tcp"),  # one of the two is not enough
        ((8883,), "failed", "nothing listens on 8443/tcp"),
        ((), "failed", "nothing listens on 8443,8883/tcp"),
    ],
)
def test_a_row_of_two_ports_needs_a_listener_on_each(
    ports: tuple[int, ...], outcome: str, observed: str
) -> None:
    """SyncSign SOPS's MQTT row: 8443 and 8883/tcp, listener required."""
    policy = effective_policy(find_spec("syncsign-sops"), profile="internet", role="sops")
    e = next(e for e in policy.rows if e.key == "in-8443,8883-tcp")
    assert e.listener == "required" and not e.row.configurable
    verdict = check_listening(e, listening(*ports, process=(e.row.process or ("sops",))[0]), Declarations())
    assert verdict.outcome == outcome and observed in verdict.observed, verdict.observed
    if outcome == "failed":
        assert verdict.failure_class == "not-listening"


def test_a_range_needs_one_listener_within_it() -> None:
    """A documented range is a pool: one listener anywhere in it serves the row."""
    policy = effective_policy(find_spec("smartserver"), enable=["lon"])
    e = next(e for e in policy.rows if e.key == "in-1628-1645-tcp")
    process = (e.row.process or ("lon",))[0]
    assert e.listener == "required"
    assert check_listening(e, listening(1630, process=process), Declarations()).outcome == "passed"


# --- which families a socket takes, and who holds it (tests/data/sockets: real captures) ---

SMARTSERVER = effective_policy(find_spec("smartserver"), enable=["all"])
OPEN_6379_V6 = "-A ufw6-user-input -p tcp --dport 6379 -j ACCEPT"
OPEN_6379_V4 = "-A ufw-user-input -p tcp --dport 6379 -j ACCEPT"


def expectation(key: str) -> Expectation:
    return next(e for e in SMARTSERVER.rows if e.key == key)


def read(ss: str, processes: str | None = None, **facts: Any) -> Facts:
    """Facts from `ss -H -tulpn` lines, owners checked against the processes section (by default
    the one a device prints when each process is what ss calls it)."""
    sockets = cross_check(parse_listening(ss), processes_section(ss) if processes is None else processes)
    return Facts(ufw=INACTIVE, sockets=tuple(sockets), **facts)


REDIS_DUAL = 'tcp LISTEN 0 128 *:6379 *:* users:(("redis-server",pid=3,fd=3))'  # capture.py's line


def test_a_dual_stack_socket_is_reachable_over_ipv6_when_only_ipv6_opens_it() -> None:
    """`*:6379` takes IPv4 and IPv6: a v6-only rule opening redis exposes it (it was read as IPv4)."""
    facts = read(REDIS_DUAL, kernel=ufw_kernel("", OPEN_6379_V6))
    verdict = check_listening(expectation("lo-in-6379-tcp"), facts, Declarations())
    assert (verdict.outcome, verdict.failure_class) == ("failed", "exposed-internal"), verdict.observed
    assert "tcp *:6379 (redis-server; IPv4 and IPv6) listens beyond loopback" in verdict.observed
    exposure = check_exposure(SMARTSERVER, facts, Declarations())
    assert exposure.outcome == "failed" and "undocumented exposed service tcp *:6379" in exposure.observed


@pytest.mark.parametrize(
    ("line", "rules4", "rules6", "outcome"),
    [
        ('tcp LISTEN 0 128 [::]:6379 [::]:* users:(("redis-server",pid=3,fd=3))', "", OPEN_6379_V6, "failed"),
        ('tcp LISTEN 0 128 [::]:6379 [::]:* users:(("redis-server",pid=3,fd=3))', OPEN_6379_V4, "", "passed"),
        (
            'tcp LISTEN 0 128 0.0.0.0:6379 0.0.0.0:* users:(("redis-server",pid=3,fd=3))',
            "",
            OPEN_6379_V6,
            "passed",
        ),
        (REDIS_DUAL, "", "", "passed"),
    ],
)
def test_each_family_a_socket_takes_is_judged_and_only_those(
    line: str, rules4: str, rules6: str, outcome: str
) -> None:
    facts = read(line, kernel=ufw_kernel(rules4, rules6))
    verdict = check_listening(expectation("lo-in-6379-tcp"), facts, Declarations())
    assert verdict.outcome == outcome, verdict.observed


def test_an_ipv4_mapped_listener_is_judged_as_ipv4_to_its_address() -> None:
    line = 'tcp LISTEN 0 128 [::ffff:198.18.1.2]:6379 *:* users:(("redis-server",pid=3,fd=3))'
    rule = "-A ufw-user-input -p tcp -d 198.18.1.2 --dport 6379 -j ACCEPT"
    verdict = check_listening(
        expectation("lo-in-6379-tcp"), read(line, kernel=ufw_kernel(rule)), Declarations()
    )
    assert (verdict.outcome, verdict.failure_class) == ("failed", "exposed-internal"), verdict.observed
    assert "tcp [::ffff:198.18.1.2]:6379 (redis-server)" in verdict.observed
    closed = read(line, kernel=ufw_kernel("", OPEN_6379_V6))
    assert check_listening(expectation("lo-in-6379-tcp"), closed, Declarations()).outcome == "passed"


NGINX = expectation("in-443-tcp-https-nginx")


def test_a_listener_whose_owner_ss_does_not_show_is_an_error_not_a_wrong_process() -> None:
    """`ss` not run as root, or a kernel socket: nobody to blame (tests/data/sockets/ss-unprivileged.txt)."""
    verdict = check_listening(NGINX, read("tcp LISTEN 0 64 0.0.0.0:443 0.0.0.0:*", ""), Declarations())
    assert verdict.outcome == "error" and verdict.failure_class is None
    assert verdict.observed.startswith("the owner of tcp 0.0.0.0:443 is unknown: ss shows no process")


def test_a_quote_in_a_process_name_does_not_make_it_nginx() -> None:
    """A process named `nginx",pid=1` (real: tests/data/sockets) holds 443: not nginx, and known."""
    line = 'tcp LISTEN 0 128 0.0.0.0:443 0.0.0.0:* users:(("nginx",pid=1",pid=10,fd=3))'
    verdict = check_listening(NGINX, read(line), Declarations())
    assert (verdict.outcome, verdict.failure_class) == ("failed", "wrong-process"), verdict.observed
    assert 'tcp 0.0.0.0:443 (nginx",pid=1) holds the port, not nginx' in verdict.observed


def test_a_name_ss_cut_short_is_an_error_not_a_pass() -> None:
    """`nginx)x` shows as "nginx" in ss; the kernel's name for the pid is checked."""
    line = 'tcp LISTEN 0 128 0.0.0.0:443 0.0.0.0:* users:(("nginx",pid=11,fd=3))'
    processes = "11\t" + b"nginx)x\n".hex() + "\t"
    verdict = check_listening(NGINX, read(line, processes), Declarations())
    assert verdict.outcome == "error" and "the owner of tcp 0.0.0.0:443 is unknown" in verdict.observed
    assert "nginx)x" in verdict.observed


def test_an_ambiguous_process_column_credits_nobody() -> None:
    line = 'tcp LISTEN 0 1 0.0.0.0:443 *:* users:(("",pid=1,fd=2)) ",pid=5,fd=3))'
    facts = read(line, "5\t" + b'",pid=1,fd=2)) \n'.hex() + "\t")
    verdict = check_listening(NGINX, facts, Declarations())
    assert verdict.outcome == "error" and "more than one way" in verdict.observed


def test_one_socket_with_the_right_owner_is_enough() -> None:
    lines = (
        "tcp LISTEN 0 64 0.0.0.0:443 0.0.0.0:*\n"
        'tcp LISTEN 0 64 [::]:443 [::]:* users:(("nginx",pid=7,fd=3))\n'
    )
    verdict = check_listening(NGINX, read(lines), Declarations())
    assert verdict.outcome == "passed", verdict.observed
    assert any("/usr/sbin/nginx" in line for line in verdict.evidence)  # the pid's exe, as evidence


def test_a_socket_of_another_established_process_is_still_a_wrong_process() -> None:
    line = 'tcp LISTEN 0 64 0.0.0.0:443 0.0.0.0:* users:(("apache2",pid=7,fd=3))'
    verdict = check_listening(NGINX, read(line), Declarations())
    assert (verdict.outcome, verdict.failure_class) == ("failed", "wrong-process")


def test_an_exposed_socket_of_unknown_owner_may_be_an_internal_service_s_dynamic_port() -> None:
    e = expectation("lo-in-dynamic-tcp-internal-jmx-dynamic")  # java's dynamic ports, loopback only
    unknown = read("tcp LISTEN 0 64 0.0.0.0:40000 0.0.0.0:*", "", kernel=ufw_kernel(default_in="allow"))
    verdict = check_listening(e, unknown, Declarations())
    assert verdict.outcome == "error" and "tcp 0.0.0.0:40000 (unknown process)" in verdict.observed
    known = read(
        'tcp LISTEN 0 64 0.0.0.0:40000 0.0.0.0:* users:(("sshd",pid=7,fd=3))',
        kernel=ufw_kernel(default_in="allow"),
    )
    assert check_listening(e, known, Declarations()).outcome == "passed"


CUT = "tcp6       0      48 2601:1:ad80:1445::54776 2620:0:861:52:208::6667 LISTEN 0 21702 2043/pidgin"


def test_an_address_netstat_cut_short_is_judged_on_the_device_s_addresses_it_may_be() -> None:
    """InSpec's netstat-tulpen: `2601:1:ad80:1445::54776` is an address cut short, port 54776."""
    own = ("198.18.1.2", "2601:1:ad80:1445::54", "fe80::2")
    everything = read(CUT, kernel=ufw_kernel(default_in="allow", addresses=own), own_addresses=own)
    assert check_exposure(SMARTSERVER, everything, Declarations()).outcome == "failed"
    elsewhere = "-A ufw6-user-input -p tcp -d fe80::2 --dport 54776 -j ACCEPT"
    other = read(CUT, kernel=ufw_kernel("", elsewhere, addresses=own), own_addresses=own)
    verdict = check_exposure(SMARTSERVER, other, Declarations())
    assert verdict.outcome == "passed", verdict.observed  # open only to an address the socket is not on
    unknown = read(CUT, kernel=ufw_kernel("", elsewhere, addresses=own))  # own addresses not read
    verdict = check_exposure(SMARTSERVER, unknown, Declarations())
    assert verdict.outcome == "error" and "2601:1:ad80:1445:" in verdict.observed
