"""Reachability probes with real protocol exchanges.

    outbound   from the device, in one remote command: `python_command` (python3 >= 3.5,
               TCP and UDP), `shell_command` (bash /dev/tcp or nc -z: TCP only), read back
               with `parse_results`
    inbound    from the tester to the device: `probe_inbound`
    payloads   the SNTP / DNS / BACnet requests, their reply checks and the exchanges, shared
               by both (and the source of the program the device runs)

Every result is a `ProbeResult` whose outcome is one of OUTCOMES; only a completed TCP
handshake or a validated protocol reply is "ok".
"""

from pytest_portspec.probe.inbound import InboundProbe, probe_inbound
from pytest_portspec.probe.outbound import (
    OUTCOMES,
    UDP_PROTOCOLS,
    OutboundProbe,
    Outcome,
    ProbeResult,
    Proto,
    choose_runner,
    parse_results,
    python_command,
    remote_program,
    shell_command,
    tools_command,
)

__all__ = [
    "OUTCOMES",
    "UDP_PROTOCOLS",
    "InboundProbe",
    "OutboundProbe",
    "Outcome",
    "ProbeResult",
    "Proto",
    "choose_runner",
    "parse_results",
    "probe_inbound",
    "python_command",
    "remote_program",
    "shell_command",
    "tools_command",
]
