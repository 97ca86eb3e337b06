"""Socket holders for the lab: a vendor service's listeners, or the simulated internet's servers.

Run as `python -m pytest_portspec.lab.services` (inside a namespace) with a JSON config on
stdin: {"reuseport": bool, "groups": [{"name": "nginx", "sockets": [{"proto", "address",
"port"}]}]}. One child process per group carries the group's name as its process name
(what `ss -p` shows), binds its sockets and serves them: TCP connections are accepted and
closed, UDP 123 gets a real SNTP reply, BACnet/IP (47808-47823) a BACnet answer, other UDP
datagrams are echoed; a socket with "reply": "junk" answers every datagram with JUNK. The
address "::" is a dual-stack socket (IPV6_V6ONLY off: IPv4 and IPv6 alike). The parent prints
{"groups": [{"name", "pid", "sockets": [... with the real port ...]}]} and exits.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import struct
import sys
import time
from typing import Any

NTP_EPOCH_OFFSET = 2208988800
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
PKTINFO = struct.Struct("i4s4s")  # ifindex, local address used, destination address
JUNK = b"\x00\xffportspec-lab junk\xff\x00"  # shorter than any SNTP or BACnet reply: no valid answer


def sntp_reply(request: bytes, now: float | None = None) -> bytes | None:
    """A server-mode (4) SNTP answer to a client-mode (3) request, or None for anything else."""
    if len(request) < 48 or request[0] & 0x07 != 3:
        return None
    version = (request[0] >> 3) & 0x07
    stamp = _ntp_time(time.time() if now is None else now)
    header = struct.pack("!BBbb", (version << 3) | 4, 2, 6, -20)
    return header + struct.pack("!II4s", 0, 0, b"LABS") + stamp + request[40:48] + stamp + stamp


def bacnet_reply(request: bytes) -> bytes | None:
    """A BACnet/IP server's answer to a confirmed request: an Error PDU (unknown object) with its
    invoke id, which is what a real device sends for an object it does not have."""
    if len(request) < 10 or request[:2] != b"\x81\x0a" or request[4] != 0x01 or request[5] & 0xA8:
        return None
    apdu = request[6:]
    if apdu[0] >> 4 != 0:  # not a confirmed request
        return None
    error = bytes([0x50, apdu[2], apdu[3], 0x91, 0x01, 0x91, 0x1F])  # error class object, unknown-object
    npdu = b"\x01\x00"
    return b"\x81\x0a" + struct.pack("!H", 4 + len(npdu) + len(error)) + npdu + error


def _ntp_time(seconds: float) -> bytes:
    whole = int(seconds) + NTP_EPOCH_OFFSET
    fraction = int((seconds % 1) * 2**32)
    return struct.pack("!II", whole & 0xFFFFFFFF, fraction)


def _bind(spec: dict[str, Any], reuseport: bool) -> socket.socket:
    kind = socket.SOCK_STREAM if spec["proto"] == "tcp" else socket.SOCK_DGRAM
    dual = ":" in spec["address"]
    sock = socket.socket(socket.AF_INET6 if dual else socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if dual:  # what many daemons do by default: one socket takes both families (ss: *:PORT)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    elif kind == socket.SOCK_DGRAM:
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    sock.bind((spec["address"], int(spec["port"])))
    if kind == socket.SOCK_STREAM:
        sock.listen(64)
    sock.setblocking(False)
    return sock


def _serve(sockets: list[tuple[socket.socket, dict[str, Any]]]) -> None:
    selector = selectors.DefaultSelector()
    for sock, spec in sockets:
        selector.register(sock, selectors.EVENT_READ, spec)
    while True:
        for key, _ in selector.select():
            ready = key.fileobj
            assert isinstance(ready, socket.socket)
            try:
                if key.data["proto"] == "tcp":
                    conn, _ = ready.accept()
                    conn.close()
                    continue
                _answer_datagram(ready, junk=key.data.get("reply") == "junk")
            except OSError:
                continue


def _answer_datagram(sock: socket.socket, junk: bool = False) -> None:
    """Reply from the address the datagram was sent to, as a real server would; a reply from
    another address is not part of the client's connection and its firewall drops it."""
    data, ancillary, _, peer = sock.recvmsg(4096, socket.CMSG_SPACE(PKTINFO.size))
    port = sock.getsockname()[1]
    answer = sntp_reply(data) if port == 123 else bacnet_reply(data) if 47808 <= port <= 47823 else data
    answer = JUNK if junk else answer
    if not answer:
        return
    info = [bytes(d) for level, kind, d in ancillary if level == socket.IPPROTO_IP and kind == IP_PKTINFO]
    if not info:
        sock.sendto(answer, peer)
        return
    _, _, destination = PKTINFO.unpack(info[0][: PKTINFO.size])
    reply_from = PKTINFO.pack(0, destination, bytes(4))
    sock.sendmsg([answer], [(socket.IPPROTO_IP, IP_PKTINFO, reply_from)], 0, peer)


def _child(group: dict[str, Any], reuseport: bool, report: int) -> None:
    os.setsid()
    with open("/proc/self/comm", "w", encoding="ascii") as comm:
        comm.write(group["name"][:15])
    try:
        sockets = [(_bind(spec, reuseport), spec) for spec in group["sockets"]]
    except OSError as exc:
        os.write(report, json.dumps({"error": f"{group['name']}: {exc}"}).encode() + b"\n")
        os._exit(1)
    bound = [
        dict(spec, port=sock.getsockname()[1])
        for (sock, _), spec in zip(sockets, group["sockets"], strict=True)
    ]
    os.write(
        report, json.dumps({"name": group["name"], "pid": os.getpid(), "sockets": bound}).encode() + b"\n"
    )
    os.close(report)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    _serve(sockets)


def main() -> int:
    config = json.load(sys.stdin)
    read_end, write_end = os.pipe()
    for group in config["groups"]:
        if os.fork() == 0:
            os.close(read_end)
            _child(group, bool(config.get("reuseport")), write_end)
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as reports:
        results = [json.loads(line) for line in reports]
    json.dump(
        {
            "groups": [r for r in results if "error" not in r],
            "errors": [r["error"] for r in results if "error" in r],
        },
        sys.stdout,
    )
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
