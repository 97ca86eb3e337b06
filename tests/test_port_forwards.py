"""Port forwards (Docker's published ports, a REDIRECT) in the exposure audit: asked of the kernel
model, judged on whole port sets. Rulesets: ufw's stock chains (kernelfixture) with the nat table
of real captures (tests/data/kernel/nat/README.md, tests/data/kernel/public/moby/SOURCE.md)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from kernelfixture import ufw_save

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.exposure import check_exposure
from pytest_portspec.checks.verdict import Verdict
from pytest_portspec.firewall.model import KernelModel, KernelSources
from pytest_portspec.parse.ufw_rules import UfwState
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy

DATA = Path(__file__).parent / "data" / "kernel"
NAT = DATA / "nat"
MOBY = DATA / "public" / "moby" / "iptabler"
UFW = UfwState(True, "deny", "allow", "deny", (), False, "user.rules")
DOCKER_RULE = "-A DOCKER ! -i br-dummy -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.168.0.2:80"


def nat(path: Path) -> str:
    """The `*nat` table of a save file, up to its COMMIT."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index("*nat")
    return "\n".join(lines[start : lines.index("COMMIT", start) + 1]) + "\n"


def audit(
    v4_nat: str = "",
    v6_nat: str = "",
    declared: Declarations | None = None,
    *,
    kernel: bool = True,
) -> Verdict:
    """The SyncSign SOPS (8443, 8883, 1883, 8888, 80, 443 documented inbound) behind ufw's deny, its
    other inbound ports read as blocked (the document itself leaves them unspecified: no audit)."""
    sops = effective_policy(find_spec("syncsign-sops"), profile="internet", role="sops")
    policy = replace(sops, default_in="block")
    model = KernelModel.build(
        KernelSources(
            iptables=ufw_save() + v4_nat,
            ip6tables=ufw_save(v6=True) + v6_nat,
            addresses=("198.18.1.2", "2001:2::2", "fe80::2"),
            interfaces=("lo", "eth0"),
        )
    )
    facts = Facts(ufw=UFW, sockets=(), kernel=model if kernel else None)
    return check_exposure(policy, facts, declared or Declarations())


def test_a_docker_published_port_fails_the_audit_though_ufw_never_shows_it() -> None:
    verdict = audit(nat(MOBY / "nat-published.iptables-save"), nat(MOBY / "nat-published.ip6tables-save"))
    assert verdict.outcome == "failed" and verdict.failure_class == "exposed"
    assert (
        f"undocumented port forward 8080/tcp (IPv4) DNAT to 192.168.0.2:80 `{DOCKER_RULE}`, "
        "which ufw's rules do not see" in verdict.observed
    )
    assert "undocumented port forward 8080/tcp (IPv6) DNAT to [fd49:efd7:54aa::1]:80" in verdict.observed
    assert any(
        line.endswith(f": {DOCKER_RULE}") and "iptables-save line" in line for line in verdict.evidence
    )
    allowed = Declarations(site_allow=frozenset({("tcp", 8080)}))
    assert audit(nat(MOBY / "nat-published.iptables-save"), declared=allowed).outcome == "passed"


def test_a_port_published_on_127_0_0_1_is_not_exposed() -> None:
    assert audit(nat(NAT / "moby-iptabler-published-localhost.iptables-save")).outcome == "passed"
    assert audit(nat(MOBY / "nat-localhost-wsl2.iptables-save")).outcome == "passed"


def test_whole_port_sets_are_judged_and_documented_ports_left_out() -> None:
    """multiport 8000,8443:8445: 8443 is the document's, the rest is not."""
    verdict = audit(nat(NAT / "netns-nat.iptables-save"))
    assert verdict.outcome == "failed"
    assert "undocumented port forward 8000, 8444-8445/tcp (IPv4) DNAT to 10.0.0.5 `" in verdict.observed
    assert "0-52, 54-65535/udp (IPv4) REDIRECT to port 5353" in verdict.observed  # ! --dport 53
    assert "2222/tcp (IPv4) DNAT to 10.0.0.6:22" in verdict.observed  # from one source only: still a way in
    assert "9000" not in verdict.observed and "7000" not in verdict.observed  # on lo; nat OUTPUT


def test_a_dnat_without_a_port_is_reported_as_ranges_beyond_any_64_port_cap() -> None:
    verdict = audit(nat(NAT / "every-port.iptables-save"))
    assert verdict.outcome == "failed"
    undocumented = "0-79, 81-442, 444-1882, 1884-8442, 8444-8882, 8884-8887, 8889-65535"
    assert (
        f"undocumented port forward {undocumented}/tcp (IPv4) DNAT to 10.0.0.9 `-A PREROUTING"
        in verdict.observed
    )
    assert "undocumented port forward 0-65535/udp (IPv4) DNAT to 10.0.0.9" in verdict.observed


def test_the_lab_forward_drift_a_redirect_to_a_port_is_a_forward() -> None:
    """lab/appliance.py: `iptables -t nat -A PREROUTING -p tcp --dport 8080 -j REDIRECT --to-ports 443`."""
    rule = "-A PREROUTING -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 443"
    lab = nat(NAT / "every-port.iptables-save").replace(
        "-A PREROUTING -i eth0 -j DNAT --to-destination 10.0.0.9", rule
    )
    verdict = audit(lab)
    assert verdict.outcome == "failed" and verdict.observed == (
        f"undocumented port forward 8080/tcp (IPv4) REDIRECT to port 443 `{rule}`, "
        "which ufw's rules do not see"
    )


def test_a_forward_the_model_cannot_decide_is_an_error_and_an_unread_kernel_too() -> None:
    verdict = audit(nat(NAT / "unsure.iptables-save"))
    assert verdict.outcome == "error"
    assert "cannot decide: port forward of 8080/tcp (IPv4): cannot decide: nat PREROUTING rule 1" in (
        verdict.observed
    )
    assert "-m string" in verdict.observed
    covered = Declarations(site_allow=frozenset({("tcp", 8080)}))
    assert audit(nat(NAT / "unsure.iptables-save"), declared=covered).outcome == "passed"
    unread = audit(kernel=False)
    assert (
        unread.outcome == "error"
        and "port forwards: the kernel's ruleset could not be read" in unread.observed
    )


def test_an_undecided_forward_does_not_hide_a_failure() -> None:
    both = nat(NAT / "unsure.iptables-save").replace(
        "COMMIT", "-A PREROUTING -p tcp -m tcp --dport 6379 -j DNAT --to-destination 172.17.0.3:6379\nCOMMIT"
    )
    verdict = audit(both)
    assert verdict.outcome == "failed" and "6379/tcp (IPv4) DNAT to 172.17.0.3:6379" in verdict.observed
    assert any("port forward of 8080/tcp" in note for note in verdict.notes)


def test_an_unread_family_makes_the_audit_an_error_unless_the_other_fails_it() -> None:
    sops = effective_policy(find_spec("syncsign-sops"), profile="internet", role="sops")
    policy = replace(sops, default_in="block")
    for extra, outcome in (("", "error"), (nat(MOBY / "nat-published.iptables-save"), "failed")):
        sources = KernelSources(iptables=ufw_save() + extra, missing=("ip6tables-save: not found",))
        facts = Facts(ufw=UFW, sockets=(), kernel=KernelModel.build(sources))
        verdict = check_exposure(policy, facts, Declarations())
        assert verdict.outcome == outcome
        assert any(
            "port forwards: ip6tables-save: not found" in line for line in (verdict.observed, *verdict.notes)
        )
