"""How the captures beside this file were made (run as root; nothing leaves the machine):

    unshare -n -p -f --mount-proc .venv/bin/python tests/data/sockets/capture.py tests/data/sockets

In new, empty network and pid namespaces (only `lo`; pid 1 is this script), processes with
chosen names (`prctl(PR_SET_NAME)`) hold listeners in each form `ss` prints; the snapshot's own
`sockets` and `processes` commands then run as they would on a device, and `ss` once more as an
unprivileged user (no process column). Written: ss-families.snapshot (both sections, as the
state command prints them), ss-unprivileged.txt.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from pytest_portspec.device.privilege import remote
from pytest_portspec.device.state_command import SECTIONS, _script

# (process name, socket family, address, port, kind, IPV6_V6ONLY)
LISTENERS = [
    ("redis-server", "AF_INET6", "::", 6379, "SOCK_STREAM", 0),  # dual stack: ss prints *:6379
    ("nginx", "AF_INET6", "::", 8080, "SOCK_STREAM", 1),  # IPv6 only: [::]:8080
    ("nginx", "AF_INET", "0.0.0.0", 8443, "SOCK_STREAM", None),
    ("postgres", "AF_INET6", "::ffff:127.0.0.1", 5432, "SOCK_STREAM", 0),  # IPv4-mapped loopback
    ("cupsd", "AF_INET6", "::1", 631, "SOCK_STREAM", None),
    ("avahi-daemon", "AF_INET6", "::", 5353, "SOCK_DGRAM", 0),
    ("dhclient", "AF_INET", "0.0.0.0", 68, "SOCK_DGRAM", None),
    ('nginx",pid=1', "AF_INET", "127.0.0.1", 443, "SOCK_STREAM", None),  # a quote in the name
    ("nginx)x", "AF_INET", "127.0.0.1", 444, "SOCK_STREAM", None),  # ss stops the name at ")"
    ("a\x1b[2Jb", "AF_INET", "127.0.0.1", 445, "SOCK_STREAM", None),  # a terminal control sequence
]
CHILD = """
import ctypes, socket, sys, time
name, family, address, port, kind, v6only = eval(sys.argv[1])
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name.encode()), 0, 0, 0)
s = socket.socket(getattr(socket, family), getattr(socket, kind))
if v6only is not None:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
s.bind((address, port))
if kind == "SOCK_STREAM":
    s.listen()
print("ready", flush=True)
time.sleep(60)
"""


def main(out: Path) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, repr(spec)], stdout=subprocess.PIPE, text=True)
        for spec in LISTENERS
    ]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
        sections = {name: SECTIONS[name] for name in ("sockets", "processes")}
        script = remote(_script(sections), sudo=False, mode="shell", password=False)  # as root already
        snapshot = subprocess.run(["sh", "-c", script], capture_output=True, check=True).stdout
        (out / "ss-families.snapshot").write_bytes(snapshot)
        plain = subprocess.run(["runuser", "-u", "nobody", "--", "ss", "-H", "-tulpn"], capture_output=True)
        (out / "ss-unprivileged.txt").write_bytes(plain.stdout)
    finally:
        for child in children:
            child.kill()
        time.sleep(0.1)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
