"""The UDP protocols a probe speaks: SNTP, DNS and BACnet requests, and how a reply is judged.

Runs on the device as part of the generated probe program: Python >= 3.5 and the standard
library only, under the rules in `payloads.py`.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable

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
