"""The outside-in scan (--scan) against real appliances: a clean one's scan agrees with the kernel
model and the document, at no extra remote command; a port exposed only through a path the
appliance's own report cannot show (the hidden-listener drift: a tc redirect into a namespace of
its own) fails the exposure audit only when scanned, with nmap and with the built-in scanner."""

from __future__ import annotations

import re
from typing import Any

import pytest
from plugin_runs import run_plugin

from pytest_portspec.lab.fixture import Appliance, LabSession

# fast for the lab's veth links; the default rate (1000/s) is for real networks
SCAN = ("--scan", "--scan-rate", "20000", "--scan-timeout", "0.5")
HIDDEN_PORT = 8443


def check(pytester: pytest.Pytester, name: str, *args: str) -> dict[str, Any]:
    return run_plugin(pytester, "--device", f"smartserver@lab:{name}", *args)


def outcomes(data: dict[str, Any]) -> dict[str, str]:
    return {r["nodeid"].split("::", 1)[1]: r["outcome"] for r in data["results"]}


def item(data: dict[str, Any], suffix: str) -> dict[str, Any]:
    return next(r for r in data["results"] if r["nodeid"].endswith(suffix))


@pytest.fixture(scope="module")
def clean(lab: LabSession) -> Appliance:
    return lab.up("smartserver", name="scan-clean")


@pytest.fixture(scope="module")
def hidden(lab: LabSession) -> Appliance:
    return lab.up("smartserver", name="scan-hidden", drifts=[f"hidden-listener:{HIDDEN_PORT}"])


def test_a_clean_appliances_scan_agrees_with_the_model_and_the_document(
    clean: Appliance, pytester: pytest.Pytester
) -> None:
    plain = check(pytester, "scan-clean")
    scanned = check(pytester, "scan-clean", *SCAN)
    assert outcomes(scanned) == outcomes(plain)
    exposure = item(scanned, "::exposure::exposure")
    assert exposure["outcome"] == "passed", exposure["observed"]
    assert re.search(r"the scan \(nmap -sS[^)]* at 20000/s\) of 2 address\(es\) saw", exposure["observed"])
    views = [n for n in exposure["notes"] if ": open from outside; document: " in n]
    assert any(n.startswith(f"22/tcp on {clean.address}") for n in views), exposure["notes"]
    assert all("kernel: lets it in" in n and "socket: " in n for n in views), views
    device = scanned["devices"][0]
    assert device["remote_commands"] == plain["devices"][0]["remote_commands"]  # the scan is from here
    assert f"{clean.address} (TCP 65535 port(s)" in device["scanned"]
    # the inbound probes of documented TCP rows were answered by the sweep, not sent again
    https = item(scanned, "::in-443-tcp-https-nginx::inbound")
    assert https["outcome"] == "passed"
    assert re.search(r"the scan \(nmap -sS[^,]*, 20000/s\) saw it open \(syn-ack\)", str(https["evidence"]))


@pytest.mark.parametrize("scanner", ["nmap", "connect"])
def test_a_port_only_a_hidden_path_exposes_fails_only_because_of_the_scan(
    hidden: Appliance, pytester: pytest.Pytester, scanner: str
) -> None:
    plain = check(pytester, "scan-hidden")
    assert item(plain, "::exposure::exposure")["outcome"] == "passed"  # ss, ufw and the kernel look clean
    scanned = check(pytester, "scan-hidden", *SCAN, "--scanner", scanner)
    exposure = item(scanned, "::exposure::exposure")
    assert exposure["outcome"] == "failed" and exposure["failure_class"] == "exposed"
    where = f"{HIDDEN_PORT}/tcp on {hidden.address}"
    assert f"{where} answers from outside" in exposure["observed"]
    assert (
        "kernel: predicts it blocked; socket: none of the device's sockets listens there"
        in exposure["observed"]
    )
    assert "a path the device's own report does not show" in exposure["observed"]
    assert any(f"{hidden.address} {HIDDEN_PORT}/tcp open" in line for line in exposure["evidence"])
    others = {k: v for k, v in outcomes(scanned).items() if not k.endswith("::exposure")}
    assert others == {k: v for k, v in outcomes(plain).items() if not k.endswith("::exposure")}
