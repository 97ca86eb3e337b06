"""What a probe puts on the wire, how an answer is judged, and the exchange itself.

One API for both directions: inbound probes import it on the tester, and outbound
probes run it ON the device, where `program.remote_program()` turns the source of
DEVICE_MODULES into the program (annotations, docstrings, the typing imports and the
imports between those modules are stripped with `ast`; nothing is copied by hand):

    protocols   the SNTP / DNS / BACnet requests and their reply checks
    exchanges   the exchanges, name resolution, the concurrent runner and main()

This module re-exports both. Everything in them must run on Python >= 3.5 with the
standard library only once annotations are gone:

- no f-strings, no variable annotations outside what the generator strips (module and
  function level `name: type = value`), no walrus, no positional-only parameters,
  no underscores in numbers (the generator refuses the syntax it can see);
- no library calls newer than 3.5: `json.loads` of str (not bytes), no `secrets`, no
  `subprocess.run`, `socket.timeout` is caught as itself (it is only an alias of
  TimeoutError from 3.10 on, so `except TimeoutError` would miss it on old devices);
- text is built by concatenation: ruff's pyupgrade rules would turn `%` and
  `str.format` into f-strings;
- from this package, a device module imports only names of the device modules before it
  (`from pytest_portspec.probe.protocols import name`, no `as`): the program has their
  code already, and the generator refuses any other import of the package.

The verdicts (outcome names as in `outbound.ProbeResult`):
    ok            TCP: the connection was accepted. UDP: a valid reply of the port's
                  protocol (SNTP server-mode reply, DNS response to our id, BACnet
                  reply to our invoke id) came back from the address probed.
    answered      UDP: a reply came back from the address probed, but not a valid reply of
                  the port's protocol (junk, an echo, a kiss-o'-death, another query id):
                  something answers there, but not the service.
    refused       TCP reset, or ICMP port unreachable on UDP (a closed port, or a
                  firewall that rejects on its behalf).
    timeout       no answer in time; a name lookup that ate the whole timeout too.
    no-route      EHOSTUNREACH / ENETUNREACH.
    dns-failure   the resolver (the device's, for outbound probes) cannot resolve the host.
    unverifiable  a UDP port without a known protocol: nothing is sent, since a
                  datagram without a reply proves nothing.
    error         the prober's own failure: a local errno such as EPERM from the prober's
                  own firewall, a socket it cannot use, a probe that crashed. Nothing
                  about the far end is learnt from it.
"""

from pytest_portspec.probe import exchanges, protocols
from pytest_portspec.probe.exchanges import (
    GRACE,
    PROGRAM,
    RESULT_KEYS,
    UDP_SENDS,
    VERSION,
    Lookups,
    classify_error,
    main,
    resolve,
    run_probes,
    tcp_exchange,
    udp_exchange,
)
from pytest_portspec.probe.protocols import (
    BACNET_READ_PROPERTY,
    BACNET_REPLIES,
    DNS_QUESTION,
    DNS_RCODES,
    NTP_EPOCH_OFFSET,
    UDP_PORTS,
    UDP_PROTOCOLS,
    UdpProtocol,
    bacnet_check,
    bacnet_request,
    dns_check,
    dns_request,
    sntp_check,
    sntp_request,
    udp_protocol,
)

# The modules the device program is made of, in program order (a module may import names
# only from the ones before it).
DEVICE_MODULES = (protocols, exchanges)

__all__ = [
    "BACNET_READ_PROPERTY",
    "BACNET_REPLIES",
    "DEVICE_MODULES",
    "DNS_QUESTION",
    "DNS_RCODES",
    "GRACE",
    "NTP_EPOCH_OFFSET",
    "PROGRAM",
    "RESULT_KEYS",
    "UDP_PORTS",
    "UDP_PROTOCOLS",
    "UDP_SENDS",
    "VERSION",
    "Lookups",
    "UdpProtocol",
    "bacnet_check",
    "bacnet_request",
    "classify_error",
    "dns_check",
    "dns_request",
    "main",
    "resolve",
    "run_probes",
    "sntp_check",
    "sntp_request",
    "tcp_exchange",
    "udp_exchange",
    "udp_protocol",
]
