"""The options of the outside-in scan (--scan), validated into Settings' `scan` field.

    scan_options(config) -> ScanOptions | None      None: no scan (the default)

A scan is never on by default: a full sweep has crashed fragile OT devices (docs/scan.md), so it
takes --scan or the ini key portspec_scan, and its rate is capped per address.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from pytest_portspec.scan.model import DEFAULT_RATE, MAX_RATE, ScannerName, ScanOptions

SCANNERS: tuple[ScannerName, ...] = ("auto", "nmap", "connect")
MAX_SCAN_TIMEOUT = 30.0


def scan_options(config: pytest.Config) -> ScanOptions | None:
    option = config.option
    if not (option.portspec_scan or config.getini("portspec_scan")):
        return None
    rate = _number(option.portspec_scan_rate or config.getini("portspec_scan_rate"), "--scan-rate", MAX_RATE)
    timeout = _number(
        option.portspec_scan_timeout or config.getini("portspec_scan_timeout"),
        "--scan-timeout",
        MAX_SCAN_TIMEOUT,
    )
    scanner = option.portspec_scanner or config.getini("portspec_scanner") or "auto"
    for choice in SCANNERS:
        if scanner == choice:
            return ScanOptions(rate=rate, scanner=choice, timeout=timeout)
    raise pytest.UsageError(f"portspec_scanner {scanner!r}: expected one of {', '.join(SCANNERS)}")


def _number(value: object, flag: str, most: float) -> float:
    try:
        number = float(str(value))
    except ValueError:
        raise pytest.UsageError(f"{flag} {value!r}: expected a number") from None
    if not math.isfinite(number) or not 0 < number <= most:
        raise pytest.UsageError(f"{flag} {value!r}: expected more than 0 and at most {most:g}")
    return number


def add_options(add: Any, parser: pytest.Parser) -> None:
    """The options and ini keys (option_table.py calls this)."""
    add(
        "--scan",
        action="store_true",
        dest="portspec_scan",
        help="also scan each device from the tester: every TCP port of its addresses, the UDP ports the "
        "document and the device name (opt-in: fragile devices have crashed under scans; ini: portspec_scan)",
    )
    add(
        "--scan-rate",
        dest="portspec_scan_rate",
        metavar="PER_SECOND",
        help=f"most probes per second to each address (default {DEFAULT_RATE:g}; ini: portspec_scan_rate)",
    )
    add(
        "--scanner",
        dest="portspec_scanner",
        choices=SCANNERS,
        help="nmap, the built-in connect scanner, or auto: nmap where installed (ini: portspec_scanner)",
    )
    add(
        "--scan-timeout",
        dest="portspec_scan_timeout",
        metavar="SECONDS",
        help="how long a scan waits for each port's answer (default 1; ini: portspec_scan_timeout)",
    )
    parser.addini("portspec_scan", "scan each device from the tester", type="bool", default=False)
    parser.addini(
        "portspec_scan_rate", "most scan probes per second to each address", default=str(DEFAULT_RATE)
    )
    parser.addini("portspec_scanner", "auto, nmap or connect", default="auto")
    parser.addini("portspec_scan_timeout", "seconds a scan waits for each port's answer", default="1")
