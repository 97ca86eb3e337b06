"""The hidden-listener drift (lab/drifts_net.py) and the commands of its path (lab/hidden.py), pure."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_portspec.errors import LabError
from pytest_portspec.lab.drifts import apply_drifts
from pytest_portspec.lab.hidden import (
    APPLIANCE_END,
    HIDDEN_END,
    appliance_tc,
    hidden_ip,
    hidden_namespace,
    services_config,
)
from pytest_portspec.lab.plan import Addresses, AppliancePlan, plan_appliance
from pytest_portspec.lab.store import Store
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy


def plan() -> AppliancePlan:
    return plan_appliance(effective_policy(find_spec("smartserver")), 7)


def test_a_hidden_listener_changes_nothing_the_appliance_shows_of_itself() -> None:
    clean = plan()
    drifted = apply_drifts(clean, ["hidden-listener:8443", "hidden-listener:9999/udp"])
    assert drifted.hidden_listeners == (("tcp", 8443), ("udp", 9999))
    assert drifted.listeners == clean.listeners  # no socket in the appliance's namespace
    assert drifted.ufw_commands == clean.ufw_commands  # no firewall rule
    assert drifted.forwards == clean.forwards and drifted.nat_forwards == clean.nat_forwards
    assert drifted.drifts == ("hidden-listener:8443", "hidden-listener:9999/udp")


@pytest.mark.parametrize(
    ("drifts", "message"),
    [
        (["hidden-listener:22"], "lab's own access"),
        (["hidden-listener:22/tcp"], "lab's own access"),
        (["hidden-listener:443"], "443/tcp is already held"),  # nginx
        (["hidden-listener:6379"], "6379/tcp is already held"),  # redis on loopback: it would shadow it
        (["hidden-listener:5353/udp"], "5353/udp is already held"),  # avahi
        (["hidden-listener:8443", "hidden-listener:8443/tcp"], "8443/tcp is already hidden"),
        (["forward:8443/tcp:443", "hidden-listener:8443"], "8443/tcp is already forwarded"),
        (["nft-forward:8443/tcp:443", "hidden-listener:8443"], "8443/tcp is already forwarded"),
        (["hidden-listener:8443", "listen:8443/tcp:java"], "8443/tcp is also held"),
        (["hidden-listener:8443", "docker-forward:8443/tcp:443"], "8443/tcp is also forwarded"),
        (["hidden-listener:0"], "expected PORT or PORT/PROTO"),
        (["hidden-listener:70000"], "expected PORT or PORT/PROTO"),
        (["hidden-listener:8443/sctp"], "expected PORT or PORT/PROTO"),
        (["hidden-listener"], "expected hidden-listener:PORT"),
    ],
)
def test_a_hidden_listener_that_would_shadow_or_cut_something_is_refused(
    drifts: list[str], message: str
) -> None:
    with pytest.raises(LabError, match=message):
        apply_drifts(plan(), drifts)


def test_22_over_udp_is_no_management_port() -> None:
    assert apply_drifts(plan(), ["hidden-listener:22/udp"]).hidden_listeners == (("udp", 22),)


def test_the_hidden_namespace_can_be_no_appliances_and_no_enclaves() -> None:
    store = Store(Path("/var/lib/portspec-lab"))
    assert hidden_namespace(store, "smartserver") == "pslab-hidden.smartserver"
    # appliance names have no '.', and an enclave is pslab-enclave.NAME
    assert hidden_namespace(store, "enclave") != store.namespace("enclave.hidden")
    tagged = Store(Path("/var/lib/portspec-lab-tests"))
    assert hidden_namespace(tagged, "x").startswith(tagged.namespace("hidden."))


def test_the_tc_path_redirects_only_the_hidden_ports_of_the_management_address() -> None:
    lines = appliance_tc(Addresses(7), (("tcp", 8443), ("udp", 9999)))
    redirect = f"action mirred egress redirect dev {APPLIANCE_END}"
    assert lines == [
        "qdisc add dev eth0 clsact",
        "filter add dev eth0 ingress protocol ip pref 10 u32 match ip dst 198.18.7.2/32 "
        f"match ip protocol 6 0xff match ip dport 8443 0xffff {redirect}",
        "filter add dev eth0 ingress protocol ip pref 10 u32 match ip dst 198.18.7.2/32 "
        f"match ip protocol 17 0xff match ip dport 9999 0xffff {redirect}",
        f"qdisc add dev {APPLIANCE_END} clsact",
        f"filter add dev {APPLIANCE_END} ingress protocol ip pref 10 u32 match u32 0 0 "
        "action mirred egress redirect dev eth0",
    ]


def test_the_hidden_end_takes_eth0s_mac_and_address_and_knows_the_host() -> None:
    lines = hidden_ip(Addresses(7), "02:00:00:00:00:07", "02:00:00:00:00:01")
    assert lines == [
        "link set lo up",
        f"link set {HIDDEN_END} address 02:00:00:00:00:07",
        f"addr add 198.18.7.2/24 dev {HIDDEN_END}",
        f"link set {HIDDEN_END} up",
        f"neigh replace 198.18.7.1 lladdr 02:00:00:00:00:01 dev {HIDDEN_END} nud permanent",
    ]


def test_a_mac_that_is_no_mac_is_refused() -> None:
    with pytest.raises(LabError, match="MAC"):
        hidden_ip(Addresses(7), "02:00:00:00:00:07\nlink set lo down", "02:00:00:00:00:01")


def test_the_listener_holds_every_hidden_port_on_all_addresses() -> None:
    config = services_config((("tcp", 8443), ("udp", 9999)))
    assert config == {
        "reuseport": False,
        "groups": [
            {
                "name": "portspec-hidden",
                "sockets": [
                    {"proto": "tcp", "address": "0.0.0.0", "port": 8443},
                    {"proto": "udp", "address": "0.0.0.0", "port": 9999},
                ],
            }
        ],
    }
