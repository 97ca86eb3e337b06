"""The differential test's agent: one process inside a namespace, driven over stdin/stdout (JSON lines).

Run as `python3 kernel_agent.py ROLE CONFIG_JSON` (stdlib only: it runs inside an emulated appliance
too). Roles:

- appliance: listens on every probed port (TCP dual-stack, UDP over IPv4 and IPv6; a TCP connection
  is accepted and closed at once, a datagram's payload is recorded), sends the outbound probes, and
  resets the kernel's connection state between rule sets (conntrack flush over ctnetlink, the
  `recent` lists emptied).
- probe: the remote ends. Sends the inbound probes (TCP connect, UDP datagrams on a connected socket
  that hears ICMP errors) and records, with a packet socket, every TCP SYN and UDP datagram that
  reaches the namespace (the appliance's outbound packets that got out).

Requests: {"op": ...}; every request gets exactly one JSON line back.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import json
import os
import selectors
import socket
import struct
import sys
import threading
import time
from typing import Any

IP_RECVERR = 11  # <linux/in.h>
IPV6_RECVERR = 25  # <linux/in6.h>
ETH_P_ALL = 3
PACKET_OUTGOING = 4
TCP_ESTABLISHED = 1  # tcpi_state
REFUSING = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EHOSTDOWN, errno.EPROTO}

lock = threading.Lock()
arrived: set[Any] = set()


def family(version: int) -> socket.AddressFamily:
    return socket.AF_INET6 if version == 6 else socket.AF_INET


def recverr(s: socket.socket, version: int) -> None:
    """ICMP errors become hard errors (Linux TCP over IPv6 keeps port unreachable soft otherwise)."""
    if version == 6:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
    else:
        s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)


def listen(ports: list[int]) -> None:
    sel = selectors.DefaultSelector()
    for port in ports:
        t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        t.bind(("::", port))
        t.listen(512)
        t.setblocking(False)
        sel.register(t, selectors.EVENT_READ, "tcp")
        for fam, anywhere in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            u = socket.socket(fam, socket.SOCK_DGRAM)
            if fam == socket.AF_INET6:
                u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            u.bind((anywhere, port))
            u.setblocking(False)
            sel.register(u, selectors.EVENT_READ, "udp")

    def loop() -> None:
        while True:
            for key, _ in sel.select():
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    while True:
                        if key.data == "tcp":
                            sock.accept()[0].close()
                        else:
                            data = sock.recv(2048)
                            with lock:
                                arrived.add(data.decode("ascii", "replace"))
                except OSError:  # BlockingIOError: nothing more for now
                    pass

    threading.Thread(target=loop, daemon=True).start()


def sniff() -> None:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)

    def loop() -> None:
        while True:
            data, address = s.recvfrom(65535)
            if address[2] == PACKET_OUTGOING:
                continue
            if address[1] == 0x0800 and len(data) >= 20:
                offset, l4 = (data[0] & 15) * 4, data[9]
                src, dst = (
                    socket.inet_ntop(socket.AF_INET, data[12:16]),
                    socket.inet_ntop(socket.AF_INET, data[16:20]),
                )
            elif address[1] == 0x86DD and len(data) >= 40:
                offset, l4 = 40, data[6]
                src, dst = (
                    socket.inet_ntop(socket.AF_INET6, data[8:24]),
                    socket.inet_ntop(socket.AF_INET6, data[24:40]),
                )
            else:
                continue
            if l4 not in (6, 17) or len(data) < offset + 14:
                continue
            sport, dport = struct.unpack("!HH", data[offset : offset + 4])
            if l4 == 6 and (data[offset + 13] & 0x12) != 0x02:
                continue  # only a connection's first packet: SYN without ACK
            with lock:
                arrived.add(("tcp" if l4 == 6 else "udp", src, sport, dst, dport))

    threading.Thread(target=loop, daemon=True).start()


def tcp_in(probe: list[Any], timeout: float) -> list[Any]:
    """What became of the connection's SYN: answered by a SYN-ACK (accept), refused by a RST or an
    ICMP error (reject), or not answered (drop). Later packets of the connection may meet other rules
    (`ct state new accept` first, a reject for the rest): a connection that was established and then
    reset or sent an ICMP error still had its SYN accepted."""
    ident, _, version, src, sport, dst, dport, _ = probe
    s = socket.socket(family(version), socket.SOCK_STREAM)
    abort = True  # close with a RST: no TIME_WAIT for the next probe from the same fixed port
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        recverr(s, version)
        s.bind((src, sport or 0))
        port = s.getsockname()[1]
        s.settimeout(timeout)
        try:
            s.connect((dst, dport))
        except TimeoutError:
            return [ident, port, "drop", "no answer"]
        except OSError as exc:
            name = errno.errorcode.get(exc.errno or 0, str(exc))
            if isinstance(exc, ConnectionResetError) or tcp_state(s) == TCP_ESTABLISHED:
                return [ident, port, "accept", f"connected, then {name}"]
            if isinstance(exc, ConnectionRefusedError) or exc.errno in REFUSING:
                return [ident, port, "reject", name]
            return [ident, port, "error", f"connect: {exc}"]
        # the listener accepts and closes: wait for its FIN, so that this end closes second
        s.settimeout(1.0)
        with contextlib.suppress(OSError):
            abort = s.recv(16) != b""
        return [ident, port, "accept", "connected"]
    except OSError as exc:
        return [ident, 0, "error", f"bind {src}:{sport}: {exc}"]
    finally:
        if abort:
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def tcp_state(s: socket.socket) -> int:
    try:
        return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    except OSError:
        return -1


def udp_in(probe: list[Any], timeout: float) -> list[Any]:
    ident, _, version, src, sport, dst, dport, token = probe
    s = socket.socket(family(version), socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        recverr(s, version)
        s.bind((src, sport or 0))
        port = s.getsockname()[1]
        s.connect((dst, dport))
        s.send(token.encode())
        deadline = time.monotonic() + timeout
        peer_wanted = (socket.inet_pton(family(version), dst), dport)
        while True:
            s.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                data, peer = s.recvfrom(2048)
            except ConnectionRefusedError:
                return [ident, port, "reject", "port unreachable"]
            except TimeoutError:
                return [ident, port, "silent", ""]
            except OSError as exc:
                if exc.errno in REFUSING:
                    return [ident, port, "reject", errno.errorcode.get(exc.errno or 0, str(exc))]
                return [ident, port, "error", f"recv: {exc}"]
            # an appliance's outbound probe to this address and port, queued between bind and connect
            if (socket.inet_pton(family(version), peer[0]), peer[1]) == peer_wanted:
                return [ident, port, "answer", f"an answer came from {peer}: {data[:80]!r}"]
    except OSError as exc:
        return [ident, 0, "error", f"send from {src}:{sport}: {exc}"]
    finally:
        s.close()


def outbound(probe: list[Any], timeout: float) -> list[Any]:
    ident, proto, version, src, dst, dport, token = probe
    s = socket.socket(family(version), socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    try:
        s.bind((src, 0))
        port = s.getsockname()[1]
        s.settimeout(timeout)
        try:
            if proto == "tcp":
                s.connect((dst, dport))
            else:
                s.sendto(token.encode(), (dst, dport))
            return [ident, port, "sent", ""]
        except OSError as exc:  # EPERM: dropped in OUTPUT; refused: rejected, or nobody listens there
            return [ident, port, "failed", str(exc)]
    except OSError as exc:
        return [ident, 0, "error", f"bind {src}: {exc}"]
    finally:
        s.close()


def ct_flush() -> str:
    """Forget every tracked connection (ctnetlink IPCTNL_MSG_CT_DELETE without a tuple)."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
    try:
        for seq, fam in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
            payload = struct.pack("=BBH", fam, 0, 0)
            header = struct.pack("=IHHII", 16 + len(payload), (1 << 8) | 2, 0x1 | 0x4, seq, 0)
            s.send(header + payload)
            reply = s.recv(4096)
            code = struct.unpack("=i", reply[16:20])[0]
            if code not in (0, -errno.ENOENT):
                return f"conntrack flush: {os.strerror(-code)}"
        return ""
    finally:
        s.close()


def recent_clear() -> str:
    root = "/proc/net/xt_recent"
    problems = []
    for name in os.listdir(root) if os.path.isdir(root) else []:
        try:
            with open(os.path.join(root, name), "w") as f:
                f.write("/\n")
        except OSError as exc:
            problems.append(f"{name}: {exc}")
    return "; ".join(problems)


def main() -> None:
    role, config = sys.argv[1], json.loads(sys.argv[2])
    threads = concurrent.futures.ThreadPoolExecutor(config.get("threads", 48))
    if role == "appliance":
        listen(config["ports"])
    else:
        sniff()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        op, reply = request["op"], dict[str, Any]()
        if op == "reset":
            with lock:
                arrived.clear()
            reply = {"problem": "; ".join(p for p in (ct_flush(), recent_clear()) if p)}
        elif op in ("in", "out"):
            timeout = request["timeout"]

            def one(probe: list[Any], op: str = op, timeout: float = timeout) -> list[Any]:
                if op == "out":
                    return outbound(probe, timeout)
                return (tcp_in if probe[1] == "tcp" else udp_in)(probe, timeout)

            reply = {"results": list(threads.map(one, request["probes"]))}
        elif op == "arrived":
            with lock:
                found = sorted(arrived, key=str)
                arrived.clear()
            reply = {"arrived": [list(a) if isinstance(a, tuple) else a for a in found]}
        else:
            reply = {"problem": f"unknown op {op!r}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
