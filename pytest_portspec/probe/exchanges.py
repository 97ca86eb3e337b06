"""The exchanges (TCP connect, UDP request and reply), name resolution and the runner that
does every probe concurrently, with `main()`, the device program's entry point.

Runs on the device as part of the generated probe program (after protocols.py, whose
names it imports): Python >= 3.5 and the standard library only, under the rules in
`payloads.py`.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import threading
import time
from typing import Any

from pytest_portspec.probe.protocols import UDP_PROTOCOLS, UdpProtocol, udp_protocol

PROGRAM = "portspec-probe"
VERSION = 1
RESULT_KEYS = ("id", "host", "proto", "port", "outcome", "address", "addresses", "seconds", "detail")
GRACE = 0.5  # seconds past the deadline the runner waits for the probes' threads
UDP_SENDS = 3  # a UDP request is sent up to this often, spread over the timeout

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
        if not invalid:
            return classify_error(exc, "udp", target, time.monotonic() - started)
    finally:
        sock.close()
    waited = _seconds(time.monotonic() - started)
    if invalid:  # an answer, whatever came after it: the port is reachable, the service unproven
        return "answered", target + " answered, but not with a valid " + protocol.name + " reply: " + invalid
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
