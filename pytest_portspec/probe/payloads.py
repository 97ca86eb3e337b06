"""What a probe puts on the wire, how an answer is judged, and the exchange itself.

One module for both directions: inbound probes import it on the tester, and outbound
probes run it ON the device, where `outbound.remote_program()` turns this very source
into the program (annotations, docstrings and the typing imports are stripped with
`ast`; nothing is copied by hand). So everything here must run on Python >= 3.5 with
the standard library only once annotations are gone:

- no f-strings, no variable annotations outside what the generator strips (module and
  function level `name: type = value`), no walrus, no positional-only parameters,
  no underscores in numbers (the generator refuses the syntax it can see);
- no library calls newer than 3.5: `json.loads` of str (not bytes), no `secrets`, no
  `subprocess.run`, `socket.timeout` is caught as itself (it is only an alias of
  TimeoutError from 3.10 on, so `except TimeoutError` would miss it on old devices);
- text is built by concatenation: ruff's pyupgrade rules would turn `%` and
  `str.format` into f-strings.

The verdicts (outcome names as in `outbound.ProbeResult`):
    ok            TCP: the connection was accepted. UDP: a valid reply of the port's
                  protocol (SNTP server-mode reply, DNS response to our id, BACnet
                  reply to our invoke id) came back from the address probed.
    refused       TCP reset, or ICMP port unreachable on UDP (a closed port, or a
                  firewall that rejects on its behalf).
    timeout       no answer in time; a name lookup that ate the whole timeout too.
    no-route      EHOSTUNREACH / ENETUNREACH.
    dns-failure   the resolver (the device's, for outbound probes) cannot resolve the host.
    unverifiable  a UDP port without a known protocol: nothing is sent, since a
                  datagram without a reply proves nothing.
    error         anything else: a reply that is not the protocol's, a local errno
                  such as EPERM from the device's own firewall, a probe that crashed.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

PROGRAM = "portspec-probe"
VERSION = 1
RESULT_KEYS = ("id", "host", "proto", "port", "outcome", "address", "addresses", "seconds", "detail")
GRACE = 0.5  # seconds past the deadline the runner waits for the probes' threads
UDP_SENDS = 3  # a UDP request is sent up to this often, spread over the timeout

# --- SNTP (RFC 4330) ------------------------------------------------------------------------

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01


def sntp_request(now: float | None = None) -> bytes:
    """A client-mode (3), version 4 request whose transmit timestamp is the current time with
    random low bits: the server copies it into the originate field, which ties the reply to us."""
    seconds = int(time.time() if now is None else now) + NTP_EPOCH_OFFSET
    transmit = struct.pack("!I", seconds & 0xFFFFFFFF) + os.urandom(4)
    return bytes([0x23]) + bytes(39) + transmit


def sntp_check(request: bytes, reply: bytes) -> tuple[bool, str]:
    """(True, note) for a usable server-mode reply to `request`, else (False, reason)."""
    if len(reply) < 48:
        return False, "too short for SNTP (" + str(len(reply)) + " bytes)"
    mode = reply[0] & 0x07
    if mode != 4:
        return False, "mode " + str(mode) + " where a server reply has mode 4"
    version = (reply[0] >> 3) & 0x07
    if not 1 <= version <= 4:
        return False, "NTP version " + str(version)
    if reply[24:32] != request[40:48]:
        return False, "its originate timestamp is not our request's transmit timestamp"
    if reply[40:48] == bytes(8):
        return False, "it has no transmit timestamp"
    stratum = reply[1]
    if stratum == 0:
        code = reply[12:16].decode("ascii", "replace").strip("\x00 ")
        return False, "the server refused service (kiss-o'-death " + (code or "?") + ")"
    if reply[0] >> 6 == 3 or stratum > 15:
        return False, "the server is not synchronised (stratum " + str(stratum) + ")"
    return True, "stratum " + str(stratum)


# --- DNS (RFC 1035) --------------------------------------------------------------------------

DNS_QUESTION = b"\x00\x00\x02\x00\x01"  # the root name ".", type NS, class IN
DNS_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def dns_request(query_id: int | None = None) -> bytes:
    """A recursive query for the root's NS records: every resolver can answer it."""
    if query_id is None:
        query_id = struct.unpack("!H", os.urandom(2))[0]
    return struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + DNS_QUESTION


def dns_check(request: bytes, reply: bytes) -> tuple[bool, str]:
    """Any well-formed response to our query id counts: even REFUSED proves a DNS server answered."""
    if len(reply) < 12:
        return False, "too short for DNS (" + str(len(reply)) + " bytes)"
    reply_id, flags, questions, answers = struct.unpack("!HHHH", reply[:8])
    if reply_id != struct.unpack("!H", request[:2])[0]:
        return False, "it answers another query id (" + str(reply_id) + ")"
    if not flags & 0x8000:
        return False, "it is a query, not a response"
    if (flags >> 11) & 0x0F != 0:
        return False, "opcode " + str((flags >> 11) & 0x0F) + " where a standard query has 0"
    rcode = flags & 0x0F
    if questions > 1:
        return False, str(questions) + " questions where we asked one"
    if questions == 1 and reply[12 : 12 + len(DNS_QUESTION)] != DNS_QUESTION:
        return False, "its question is not ours"
    if questions == 0 and rcode == 0:
        return False, "a NOERROR response without the question"
    return True, DNS_RCODES.get(rcode, "rcode " + str(rcode)) + ", " + str(answers) + " answers"


# --- BACnet/IP (ASHRAE 135 Annex J) ----------------------------------------------------------
# A unicast Who-Is is not used: devices may answer it with a *broadcast* I-Am, which never
# reaches the probe's socket. A confirmed ReadProperty of the wildcard Device instance 4194303
# (its Object_Identifier) is answered to the sender: ComplexACK, or Error/Reject/Abort from
# stacks that do not know the wildcard -- each is a BACnet reply to our invoke id.

BACNET_REPLIES = {2: "SimpleACK", 3: "ComplexACK", 5: "Error", 6: "Reject", 7: "Abort"}
BACNET_READ_PROPERTY = 0x0C


def bacnet_request(invoke_id: int | None = None) -> bytes:
    if invoke_id is None:
        invoke_id = os.urandom(1)[0]
    apdu = bytes([0x00, 0x05, invoke_id, BACNET_READ_PROPERTY, 0x0C, 0x02, 0x3F, 0xFF, 0xFF, 0x19, 0x4B])
    npdu = bytes([0x01, 0x04])  # version 1, expecting a reply
    return bytes([0x81, 0x0A]) + struct.pack("!H", 4 + len(npdu) + len(apdu)) + npdu + apdu


def bacnet_check(request: bytes, reply: bytes) -> tuple[bool, str]:
    if len(reply) < 4 or reply[0] != 0x81:
        return False, "not BACnet/IP (no BVLC header)"
    if struct.unpack("!H", reply[2:4])[0] != len(reply):
        return False, "its BVLC length is not the datagram's"
    if reply[1] in (0x0A, 0x0B):
        npdu = reply[4:]
    elif reply[1] == 0x04:  # Forwarded-NPDU: the original source's B/IP address comes first
        npdu = reply[10:]
    else:
        return False, "BVLC function " + str(reply[1]) + " carries no NPDU"
    if len(npdu) < 2 or npdu[0] != 0x01:
        return False, "not a BACnet NPDU"
    control = npdu[1]
    if control & 0x80:
        return False, "a network layer message, not an application reply"
    position = 2
    for present in (control & 0x20, control & 0x08):  # destination, then source specifier
        if present:
            if len(npdu) < position + 3:
                return False, "a truncated NPDU"
            position += 3 + npdu[position + 2]
    if control & 0x20:
        position += 1  # hop count
    apdu = npdu[position:]
    if len(apdu) < 2:
        return False, "no APDU"
    kind = apdu[0] >> 4
    if kind not in BACNET_REPLIES:
        return False, "APDU type " + str(kind) + ", not a reply"
    if apdu[1] != request[8]:
        return False, "it replies to another invoke id (" + str(apdu[1]) + ")"
    if kind in (3, 5) and not apdu[0] & 0x08 and len(apdu) > 2 and apdu[2] != BACNET_READ_PROPERTY:
        return False, "it answers service " + str(apdu[2]) + ", not ReadProperty"
    return True, BACNET_REPLIES[kind]


# --- the UDP protocols a probe can verify ------------------------------------------------------


class UdpProtocol:
    def __init__(
        self, name: str, request: Callable[[], bytes], check: Callable[[bytes, bytes], tuple[bool, str]]
    ) -> None:
        self.name = name
        self.request = request
        self.check = check


UDP_PROTOCOLS: dict[str, UdpProtocol] = {
    "dns": UdpProtocol("DNS", dns_request, dns_check),
    "sntp": UdpProtocol("SNTP", sntp_request, sntp_check),
    "bacnet": UdpProtocol("BACnet", bacnet_request, bacnet_check),
}
# The protocol a UDP port speaks unless a probe names one: DNS, NTP, and the BACnet/IP range
# X'BAC0'-X'BACF' (47808 is the default; sites with several B/IP networks use the others).
UDP_PORTS: dict[int, str] = {53: "dns", 123: "sntp"}
UDP_PORTS.update((port, "bacnet") for port in range(47808, 47824))


def udp_protocol(port: int, name: str | None = None) -> str | None:
    """The protocol a UDP probe speaks: the one named, else the port's, else None (unverifiable)."""
    if name:
        return name if name in UDP_PROTOCOLS else None
    return UDP_PORTS.get(port)


# --- the exchanges ----------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return str(round(seconds * 1000)) + " ms"


def _seconds(seconds: float) -> str:
    return str(round(seconds, 1)) + " s"


def _errno_text(exc: OSError) -> str:
    if exc.errno is None:
        return str(exc) or exc.__class__.__name__
    return errno.errorcode.get(exc.errno, "errno " + str(exc.errno)) + " (" + os.strerror(exc.errno) + ")"


def _endpoint(address: str, port: int) -> str:
    return ("[" + address + "]" if ":" in address else address) + ":" + str(port)


def classify_error(exc: OSError, proto: str, target: str, waited: float) -> tuple[str, str]:
    """The outcome and detail sentence of a failed connect / send / receive."""
    if isinstance(exc, socket.timeout):
        return "timeout", "no answer from " + target + " within " + _seconds(waited)
    if exc.errno == errno.ECONNREFUSED:
        why = "nothing listens, or a firewall rejects"
        if proto == "udp":
            return "refused", "ICMP port unreachable from " + target + " (" + why + ")"
        return "refused", "connection refused by " + target + " (TCP reset: " + why + ")"
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "no-route", "no route to " + target + ": " + _errno_text(exc)
    return "error", proto.upper() + " exchange with " + target + " failed: " + _errno_text(exc)


def tcp_exchange(family: int, sockaddr: Any, port: int, deadline: float) -> tuple[str, str]:
    target = _endpoint(sockaddr[0], port)
    started = time.monotonic()
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(max(deadline - started, 0.001))
        sock.connect(sockaddr)
    except OSError as exc:
        return classify_error(exc, "tcp", target, time.monotonic() - started)
    finally:
        sock.close()
    return "ok", "TCP connection to " + target + " accepted in " + _ms(time.monotonic() - started)


def udp_exchange(
    family: int, sockaddr: Any, port: int, protocol: UdpProtocol, deadline: float
) -> tuple[str, str]:
    """Send the protocol's request (again at a third and two thirds of the time left) and wait
    for a valid reply on a connected socket, which only hears the probed address and port and
    receives ICMP port unreachable as ECONNREFUSED."""
    target = _endpoint(sockaddr[0], port)
    started = time.monotonic()
    request = protocol.request()
    interval = max(deadline - started, 0.003) / UDP_SENDS
    invalid = ""
    sends = 0
    next_send = started
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.connect(sockaddr)
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if sends < UDP_SENDS and now >= next_send:
                sock.send(request)
                sends += 1
                next_send = now + interval
            until = min(next_send, deadline) if sends < UDP_SENDS else deadline
            sock.settimeout(max(until - now, 0.001))
            try:
                data = sock.recv(65535)
            except OSError as exc:
                if isinstance(exc, socket.timeout):
                    continue
                raise
            valid, note = protocol.check(request, data)
            if valid:
                took = _ms(time.monotonic() - started)
                return "ok", protocol.name + " reply from " + target + " in " + took + " (" + note + ")"
            invalid = invalid or note
    except OSError as exc:
        return classify_error(exc, "udp", target, time.monotonic() - started)
    finally:
        sock.close()
    waited = _seconds(time.monotonic() - started)
    if invalid:
        return "error", target + " answered, but not with a valid " + protocol.name + " reply: " + invalid
    return "timeout", "no " + protocol.name + " reply from " + target + " within " + waited + (
        " (" + str(sends) + " requests sent)"
    )


# --- name resolution ------------------------------------------------------------------------


def resolve(host: str) -> tuple[list[tuple[int, Any]], str]:
    """(family, sockaddr) per address, IPv4 first in resolver order, then IPv6; or ([], reason).
    An IP literal is never looked up (AI_NUMERICHOST)."""
    numeric = all(c in "0123456789." for c in host) or ":" in host
    flags = socket.AI_NUMERICHOST if numeric else 0
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, flags)
    except (OSError, UnicodeError) as exc:
        return [], str(exc)
    found: list[tuple[int, Any]] = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for info in infos:
            if info[0] == family and info[4][0] not in [s[0] for _, s in found]:
                found.append((family, info[4]))
    if not found:
        return [], "no IPv4 or IPv6 address"
    return found, ""


class Lookups:
    """One resolution per distinct host, shared by every probe of that host."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[str, dict[str, Any]] = {}

    def get(self, host: str, deadline: float) -> dict[str, Any] | None:
        """{"found": [...], "error": str}, or None when the resolver did not answer in time."""
        with self.lock:
            entry = self.entries.get(host)
            mine = entry is None
            if entry is None:
                entry = {"done": threading.Event(), "found": [], "error": ""}
                self.entries[host] = entry
        if mine:
            try:
                entry["found"], entry["error"] = resolve(host)
            finally:
                entry["done"].set()
        elif not entry["done"].wait(max(deadline - time.monotonic(), 0.0)):
            return None
        return entry


# --- the runner -----------------------------------------------------------------------------


def _resolver_timeout(host: str, timeout: float) -> str:
    return "the resolver gave no answer for " + host + " within " + _seconds(timeout)


def _probe(state: dict[str, Any], lookups: Lookups, lock: Any, deadline: float, timeout: float) -> None:
    started = time.monotonic()
    host, proto, port = state["host"], state["proto"], state["port"]
    address = None
    addresses: list[str] = []
    try:
        entry = lookups.get(host, deadline)
        if entry is None:
            outcome, detail = "dns-failure", _resolver_timeout(host, timeout)
        elif entry["error"]:
            outcome, detail = "dns-failure", "the resolver cannot resolve " + host + ": " + entry["error"]
        else:
            addresses = [sockaddr[0] for _, sockaddr in entry["found"]]
            family, resolved = entry["found"][0]
            address = resolved[0]
            sockaddr = (address, port, *resolved[2:])  # getaddrinfo was not given the port
            speaks = udp_protocol(port, state["protocol"]) if proto == "udp" else None
            protocol = UDP_PROTOCOLS[speaks] if speaks else None
            if proto == "udp" and protocol is None:
                outcome = "unverifiable"
                detail = "no known protocol for " + str(port) + "/udp: a datagram without a reply proves "
                detail += "nothing, so none was sent"
            elif time.monotonic() >= deadline:
                outcome, detail = "timeout", "resolving " + host + " took the whole " + _seconds(timeout)
            elif protocol is None:
                outcome, detail = tcp_exchange(family, sockaddr, port, deadline)
            else:
                outcome, detail = udp_exchange(family, sockaddr, port, protocol, deadline)
    except Exception as exc:
        outcome, detail = "error", "the probe failed: " + exc.__class__.__name__ + ": " + str(exc)
    with lock:
        if not state["closed"]:
            state.update(
                outcome=outcome,
                address=address,
                addresses=addresses,
                seconds=round(time.monotonic() - started, 3),
                detail=detail,
            )


def run_probes(probes: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    """Probe every {"id", "host", "proto", "port", "protocol"} concurrently (one thread each; the
    optional "protocol" names the UDP protocol to speak, see udp_protocol) and return one
    result per probe, in order, after at most `timeout` + GRACE seconds: a probe still busy then
    (a resolver that does not answer, typically) is reported as what it was waiting for."""
    started = time.monotonic()
    deadline = started + timeout
    lookups = Lookups()
    lock = threading.Lock()
    states = []
    threads = []
    for probe in probes:
        state = {
            "id": probe["id"],
            "host": probe["host"],
            "proto": probe["proto"],
            "port": probe["port"],
            "protocol": probe.get("protocol"),
            "outcome": None,
            "closed": False,
        }
        thread = threading.Thread(target=_probe, args=(state, lookups, lock, deadline, timeout))
        thread.daemon = True
        states.append(state)
        threads.append(thread)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline + GRACE - time.monotonic(), 0.0))
    results = []
    with lock:
        for state in states:
            state["closed"] = True
            if state["outcome"] is None:
                resolving = lookups.entries.get(state["host"], {}).get("done")
                if resolving is None or not resolving.is_set():
                    state.update(outcome="dns-failure", detail=_resolver_timeout(state["host"], timeout))
                else:
                    state.update(outcome="timeout", detail="the probe did not finish within its timeout")
                state.update(address=None, addresses=[], seconds=round(time.monotonic() - started, 3))
            results.append({key: state[key] for key in RESULT_KEYS})  # a late thread may still hold state
    return results


def main() -> int:
    """The device side: {"timeout": seconds, "probes": [...]} on stdin, one JSON document on stdout."""
    try:
        request = json.loads(sys.stdin.read())
        timeout = float(request["timeout"])
        probes = [
            {
                "id": str(p["id"]),
                "host": str(p["host"]),
                "proto": str(p["proto"]),
                "port": int(p["port"]),
                "protocol": p.get("protocol"),
            }
            for p in request["probes"]
        ]
        if not 0 < timeout <= 600:
            raise ValueError("timeout out of range")
    except (ValueError, KeyError, TypeError) as exc:
        sys.stdout.write(json.dumps({"program": PROGRAM, "error": "bad input: " + str(exc)}) + "\n")
        sys.stdout.flush()
        return 2
    results = run_probes(probes, timeout)
    document = {"program": PROGRAM, "version": VERSION, "results": results}
    sys.stdout.write(json.dumps(document, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0
