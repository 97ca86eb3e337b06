"""The exposure audit ("all other ports blocked") holds only where the document says so: a document
that is silent on inbound traffic (Digi's is about the site's outbound firewall) gives no such rule."""

from __future__ import annotations

from kernelfixture import ufw_kernel

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.exposure import check_exposure
from pytest_portspec.parse.sockets import parse_listening
from pytest_portspec.parse.ufw_rules import UfwState
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy

# `ufw allow 8080/tcp` as ufw 0.36 writes it to user.rules
WEB_UI = (
    "### tuple ### allow tcp 8080 0.0.0.0/0 any 0.0.0.0/0 in\n"
    "-A ufw-user-input -p tcp --dport 8080 -j ACCEPT\n"
)
# `ss -H -tlpn` of a gateway whose web UI listens on every address (the form ss prints)
SS = 'tcp   LISTEN 0      511          0.0.0.0:8080       0.0.0.0:*    users:(("httpd",pid=812,fd=6))'
WEB_UI6 = WEB_UI.replace("ufw-", "ufw6-").replace("0.0.0.0/0", "::/0")
ACTIVE = UfwState(True, "deny", "allow", "deny", (), False, "user.rules")


def facts() -> Facts:
    return Facts(ufw=ACTIVE, sockets=tuple(parse_listening(SS)), kernel=ufw_kernel(WEB_UI, WEB_UI6))


def test_a_web_ui_the_document_says_nothing_about_is_not_an_exposure_finding() -> None:
    digi = effective_policy(find_spec("digi-device-cloud"))
    assert digi.default_in == "unspecified"
    verdict = check_exposure(digi, facts(), Declarations())
    assert verdict.outcome == "skipped", verdict.observed
    assert "says nothing about inbound" in verdict.observed
    assert "tcp 0.0.0.0:8080 (httpd" in verdict.observed  # shown to the reviewer all the same


def test_the_same_web_ui_fails_where_the_document_blocks_all_other_inbound_ports() -> None:
    smartserver = effective_policy(find_spec("smartserver"))
    assert smartserver.default_in == "block"
    assert check_exposure(smartserver, facts(), Declarations()).outcome == "failed"
