"""The UDP requests a scan sends: the probes' SNTP, DNS and BACnet (probe/protocols.py) plus two
only a scan needs, mDNS and SNMP, and the empty datagram for every other port.

    scan_protocol(port, name=None) -> the UdpProtocol to speak, or None (an empty datagram)

mDNS (RFC 6762): a query from a port other than 5353 is a "legacy unicast" query (section 6.7),
which a responder answers by unicast to the sender, echoing its id and question: the DNS-SD
meta-query for _services._dns-sd._udp.local PTR, which every DNS-SD responder knows.

SNMP (RFC 3416, BER): a v2c GetRequest for sysDescr.0 with the community "public". An agent
that does not know the community stays silent, so silence is open|filtered, never closed.
"""

from __future__ import annotations

import os
import struct

from pytest_portspec.probe.protocols import UDP_PORTS, UDP_PROTOCOLS, UdpProtocol

# --- mDNS ---------------------------------------------------------------------------------------

MDNS_NAME = b"".join(bytes([len(label)]) + label for label in (b"_services", b"_dns-sd", b"_udp", b"local"))
MDNS_QUESTION = MDNS_NAME + b"\x00" + struct.pack("!HH", 12, 1)  # PTR, class IN


def mdns_request(query_id: int | None = None) -> bytes:
    if query_id is None:
        query_id = struct.unpack("!H", os.urandom(2))[0]
    return struct.pack("!HHHHHH", query_id, 0, 1, 0, 0, 0) + MDNS_QUESTION


def mdns_check(request: bytes, reply: bytes) -> tuple[bool, str]:
    """A response to our id (legacy unicast echoes it): the answers it carries are the services."""
    if len(reply) < 12:
        return False, f"too short for DNS ({len(reply)} bytes)"
    reply_id, flags, _, answers = struct.unpack("!HHHH", reply[:8])
    if reply_id != struct.unpack("!H", request[:2])[0]:
        return False, f"it answers another query id ({reply_id})"
    if not flags & 0x8000:
        return False, "it is a query, not a response"
    return True, f"{answers} answers"


# --- SNMP ---------------------------------------------------------------------------------------

SYS_DESCR = bytes([0x06, 0x08, 0x2B, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00])  # 1.3.6.1.2.1.1.1.0
GET_REQUEST, GET_RESPONSE = 0xA0, 0xA2
SNMP_V2C = 1  # the version field's value for v2c
COMMUNITY = b"public"


def _tlv(tag: int, value: bytes) -> bytes:
    """A BER element; every length this request needs is under 128 (the short form)."""
    return bytes([tag, len(value)]) + value


def snmp_request(request_id: int | None = None) -> bytes:
    if request_id is None:
        request_id = struct.unpack("!I", os.urandom(4))[0] & 0x7FFFFFFF  # a positive INTEGER
    varbind = _tlv(0x30, SYS_DESCR + b"\x05\x00")  # the OID, NULL
    pdu = _tlv(0x02, struct.pack("!I", request_id)) + b"\x02\x01\x00" * 2 + _tlv(0x30, varbind)
    return _tlv(0x30, _tlv(0x02, bytes([SNMP_V2C])) + _tlv(0x04, COMMUNITY) + _tlv(GET_REQUEST, pdu))


def _read(data: bytes, at: int) -> tuple[int, bytes, int]:
    """The BER element at `at`: (tag, value, where the next one starts); ValueError if cut short."""
    if at + 2 > len(data):
        raise ValueError("cut short")
    tag, length, at = data[at], data[at + 1], at + 2
    if length & 0x80:  # the long form: the next (length & 0x7F) bytes are the length
        size = length & 0x7F
        if size == 0 or size > 4 or at + size > len(data):
            raise ValueError("a bad length")
        length, at = int.from_bytes(data[at : at + size], "big"), at + size
    if at + length > len(data):
        raise ValueError("cut short")
    return tag, data[at : at + length], at + length


def _pdu(data: bytes) -> tuple[bytes, int, bytes]:
    """An SNMP message's version, PDU type and PDU."""
    tag, message, _ = _read(data, 0)
    if tag != 0x30:
        raise ValueError("not a BER SEQUENCE")
    _, version, at = _read(message, 0)
    _, _, at = _read(message, at)  # the community
    tag, pdu, _ = _read(message, at)
    return version, tag, pdu


def snmp_check(request: bytes, reply: bytes) -> tuple[bool, str]:
    """A GetResponse to our request id; its error-status, when not 0, is in the note."""
    try:
        version, tag, pdu = _pdu(reply)
        _, reply_id, at = _read(pdu, 0)
        status = _read(pdu, at)[1]
        our_id = _read(_pdu(request)[2], 0)[1]
    except ValueError as exc:
        return False, f"not an SNMP message ({exc})"
    if tag != GET_RESPONSE:
        return False, f"PDU type 0x{tag:02x}, not a GetResponse"
    if int.from_bytes(reply_id, "big") != int.from_bytes(our_id, "big"):
        return False, "it answers another request id"
    error = int.from_bytes(status, "big")
    named = "v2c" if version == bytes([SNMP_V2C]) else f"version {int.from_bytes(version, 'big')}"
    return True, f"SNMP {named} GetResponse" + (f", error-status {error}" if error else "")


# --- which request a port gets --------------------------------------------------------------------

SCAN_PROTOCOLS: dict[str, UdpProtocol] = {
    **UDP_PROTOCOLS,
    "mdns": UdpProtocol("mDNS", mdns_request, mdns_check),
    "snmp": UdpProtocol("SNMP", snmp_request, snmp_check),
}
SCAN_PORTS: dict[int, str] = {**UDP_PORTS, 5353: "mdns", 161: "snmp"}


def scan_protocol(port: int, name: str | None = None) -> UdpProtocol | None:
    """The protocol to speak at a UDP port: the one named, else the port's usual one; None when
    neither is known (an empty datagram is sent, which some services answer)."""
    return SCAN_PROTOCOLS.get(name or SCAN_PORTS.get(port, ""))
