"""Issue 13's cases on real emulated appliances: what the plugin must see, and its verdicts.

Each appliance is set up by drifts (lab/drifts_net.py) so the case really happens: an
internal service on a dual-stack socket reached over IPv6 past an IPv6-only ufw rule, a
blocked UDP port that answers junk, port forwards published as Docker and nft do (and one
on loopback only, which is no exposure), and the SmartServer set up as the vendor's own
`ufw status numbered` listing of LON. The first tests show the case is real (packets flow);
the others assert the CORRECT verdicts, whichever part of the plugin has to give them.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_portspec.lab.fixture import Appliance, LabSession
from pytest_portspec.lab.plan import Addresses
from pytest_portspec.lab.services import JUNK

APPLIANCES: dict[str, tuple[list[str], list[str]]] = {  # name: (drifts, --enable)
    "dual": (["expose-dual:6379", "ufw-allow6:6379/tcp", "docker-forward-local:8081/tcp:443"], []),
    "junk": (["udp-junk:123", "ufw-allow:123/udp"], []),
    "fwd": (["docker-forward:8080/tcp:443", "nft-forward:8082/tcp:443"], []),
    "lon": (["vendor-lon-listing"], ["lon"]),
}
PLUGIN_ARGS = {"lon": ["--port", "lon=1628"]}  # the listing's LON port, as a site declares it


@dataclass(frozen=True)
class Case:
    appliance: Appliance
    results: dict[str, Any]  # the plugin's results file

    def failed(self) -> dict[str, str | None]:
        return self.outcome("failed")

    def outcome(self, outcome: str) -> dict[str, str | None]:
        return {
            r["nodeid"].split("::", 1)[1]: r.get("failure_class")
            for r in self.results["results"]
            if r["outcome"] == outcome
        }

    def text(self, key: str) -> str:
        """What an item tells its reader: observed, evidence and notes."""
        entry = next(r for r in self.results["results"] if r["nodeid"].endswith(f"::{key}"))
        return json.dumps([entry.get("observed"), entry.get("evidence"), entry.get("notes")])


def run_plugin(workdir: Path, name: str, enable: list[str]) -> dict[str, Any]:
    """The plugin in a pytest subprocess against appliance `name` (each case once per module)."""
    out = workdir / f"{name}.json"
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--probe-timeout", "1"]
    argv += ["--portspec-json", str(out), "--device", f"smartserver@lab:{name}"]
    argv += [f"--enable={c}" for c in enable] + PLUGIN_ARGS.get(name, [])
    done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-2000:]
    data: dict[str, Any] = json.loads(out.read_text())
    return data


@pytest.fixture(scope="module")
def cases(lab: LabSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Case]]:
    workdir = tmp_path_factory.mktemp("honest")
    found = {}
    for name, (drifts, enable) in APPLIANCES.items():
        appliance = lab.up("smartserver", name=name, drifts=drifts, enable=enable)
        found[name] = Case(appliance, run_plugin(workdir, name, enable))
    yield found


def out(appliance: Appliance, command: str) -> str:
    status, stdout, stderr = appliance.run(command)
    assert status == 0, stderr
    return stdout


def connects(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


# --- the cases are real -------------------------------------------------------------------


def test_an_internal_service_on_a_dual_stack_socket_is_reached_over_ipv6_only(cases: dict[str, Case]) -> None:
    dual = cases["dual"].appliance
    assert '*:6379 *:* users:(("redis-server"' in " ".join(out(dual, "sudo -n ss -H -tlpn").split())
    assert "--dport 6379 -j ACCEPT" in out(dual, "sudo -n cat /etc/ufw/user6.rules")
    assert "6379" not in out(dual, "sudo -n cat /etc/ufw/user.rules")  # the rule is IPv6 only
    ipv6 = Addresses(int(dual.state["index"])).management6
    assert ipv6 in out(dual, "ip -6 addr show dev eth0")
    assert connects(ipv6, 6379) and not connects(dual.address, 6379)


def test_a_blocked_udp_port_answers_junk(cases: dict[str, Case]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(2)
        client.sendto(b"\x23" + bytes(47), (cases["junk"].appliance.address, 123))
        assert client.recv(512) == JUNK


def test_published_ports_really_forward_and_the_loopback_one_does_not(cases: dict[str, Case]) -> None:
    fwd, dual = cases["fwd"].appliance, cases["dual"].appliance
    assert connects(fwd.address, 8080) and connects(fwd.address, 8082)  # DNAT to nginx on 443
    assert not connects(dual.address, 8081)  # published on 127.0.0.1 only
    nat = out(fwd, "sudo -n iptables -t nat -S")
    assert "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER" in nat
    assert f"--dport 8080 -j DNAT --to-destination {fwd.address}:443" in nat
    assert f"dnat to {fwd.address}:443" in out(fwd, "sudo -n nft list table ip portspec-nat")
    assert "-A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 8081" in out(
        dual, "sudo -n iptables -t nat -S"
    )


def test_the_lon_listing_is_the_vendors(cases: dict[str, Case]) -> None:
    lon = cases["lon"].appliance
    rules = [" ".join(line.split()[1:]) for line in out(lon, "sudo -n ufw status numbered").splitlines()]
    for line in ("2541/udp ALLOW IN Anywhere", "2541/udp ALLOW OUT Anywhere (out)"):
        assert line in rules
    for line in ("1628/udp ALLOW IN Anywhere", "1628/udp ALLOW OUT Anywhere (out)"):
        assert line in rules
    assert not [r for r in rules if "/tcp" in r and r.split("/")[0] in ("2541", "1628")]
    sockets = {
        tuple(line.split()[:5:4])
        for line in out(lon, "sudo -n ss -H -tulpn").splitlines()
        if "echlte" in line
    }
    assert sockets == {("udp", "0.0.0.0:2541"), ("udp", "0.0.0.0:1628"), ("udp", "127.0.0.1:1629")}


# --- the verdicts ----------------------------------------------------------------------------


def test_an_internal_service_reachable_over_ipv6_fails_its_loopback_item(cases: dict[str, Case]) -> None:
    case = cases["dual"]
    assert case.failed().get("lo-in-6379-tcp::listening") == "exposed-internal"
    assert "*:6379" in case.text("lo-in-6379-tcp::listening")


def test_an_internal_service_reachable_over_ipv6_fails_the_exposure_audit(cases: dict[str, Case]) -> None:
    case = cases["dual"]
    assert case.failed() == {
        "lo-in-6379-tcp::listening": "exposed-internal",
        "exposure::exposure": "exposed",
        "default-in::default": "undocumented-open",  # 6379/tcp gets in over IPv6
    }
    assert "6379" in case.text("exposure::exposure") and "6379" in case.text("default-in::default")
    assert case.outcome("error") == {}


def test_a_loopback_only_published_port_is_no_exposure(cases: dict[str, Case]) -> None:
    case = cases["dual"]
    assert "8081" not in case.text("exposure::exposure")
    assert "8081" not in case.text("default-in::default")


def test_a_blocked_udp_port_that_answers_anything_is_reachable(cases: dict[str, Case]) -> None:
    case = cases["junk"]
    assert case.failed() == {
        "in-123-udp::ufw": "permitted-by-ufw",
        "in-123-udp::inbound": "reachable",  # any answer: the port is open, valid reply or not
        "exposure::exposure": "exposed",  # udp-junk on 0.0.0.0:123: no inbound allow row documents it
    }
    assert "123" in case.text("in-123-udp::inbound")
    assert case.outcome("error") == {}


def test_published_ports_fail_the_exposure_audit(cases: dict[str, Case]) -> None:
    case = cases["fwd"]
    assert case.failed() == {"exposure::exposure": "exposed", "default-in::default": "undocumented-open"}
    for port in ("8080", "8082"):  # Docker's iptables DNAT, and the nft one
        assert port in case.text("exposure::exposure") and port in case.text("default-in::default")
    assert case.outcome("error") == {}


def test_a_smartserver_set_up_as_the_vendors_lon_listing_is_accepted(cases: dict[str, Case]) -> None:
    case = cases["lon"]
    assert case.failed() == {}
    assert case.outcome("error") == {}
    said = json.dumps([[r.get("observed"), r.get("evidence")] for r in case.results["results"]])
    assert "2541/udp" in said and "1628/udp" in said  # the items say they read the listing
