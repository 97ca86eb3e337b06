"""The offline-evidence bundle: one text file of named sections, each with its sha256 (pure).

    portspec-bundle 1
    ==bundle== NAME SHA256 BYTES      one header per section, then exactly BYTES bytes and a newline
    ...
    ==bundle== end SHA256             the sha256 of every byte before this line

`portspec capture-script` writes it on the device with sh, sha256sum and wc (device/capture.py);
`render` writes the same bytes in Python (for tests and for users' own tools). `read_bundle`
checks it all: a truncated file has no end line, an edited one fails a hash. The hashes catch
accidents and truncation in transit, not a forger (anyone can recompute them): the report shows
the whole bundle's hash so the site can confirm it is the file they sent.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pytest_portspec.errors import DeviceError
from pytest_portspec.text import clip, printable

MAGIC = b"portspec-bundle 1\n"
MARK = "==bundle=="
REQUIRED = ("meta", "state", "fingerprint-after")
# as an SSH answer (exchange.OUTPUT_CAP; that module loads paramiko, which the CLI must not)
CAP = 8 * 1024 * 1024
KNOWN = (*REQUIRED, "outbound-probes", "outbound-runner", "outbound")
META_KEYS = ("captured_at", "captured_on", "captured_by", "spec", "profile", "tool")
_HEADER = re.compile(rb"==bundle== ([a-z-]{1,40}) ([0-9a-f]{64}) ([0-9]{1,9})\n")
_END = re.compile(rb"==bundle== end ([0-9a-f]{64})\n\Z")


@dataclass(frozen=True)
class Bundle:
    path: str
    sha256: str  # of the whole file before its end line (what the end line states)
    sections: Mapping[str, str] = field(repr=False)
    meta: Mapping[str, str] = field(default_factory=dict)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def render(sections: Mapping[str, str]) -> bytes:
    """The bundle of these sections (text, in this order), as the capture script writes it."""
    body = bytearray(MAGIC)
    for name, text in sections.items():
        data = text.encode("utf-8")
        body += f"{MARK} {name} {_sha(data)} {len(data)}\n".encode() + data + b"\n"
    return bytes(body) + f"{MARK} end {_sha(bytes(body))}\n".encode()


def read_bundle(path: str | os.PathLike[str], label: str, cap: int = CAP) -> Bundle:
    """The checked bundle at `path`; DeviceError (one sentence naming the file) when it is missing,
    too large, truncated, edited or not a bundle at all."""
    name = clip(printable(os.fspath(path)))
    try:
        with open(path, "rb") as stream:
            data = stream.read(cap + 1)
    except OSError as exc:
        raise DeviceError(label, f"cannot read the bundle {name}: {exc.strerror or exc}") from None
    if len(data) > cap:
        raise DeviceError(label, f"the bundle {name} is larger than {cap / 1024 / 1024:g} MB: it is not used")
    if not data.startswith(MAGIC):
        raise DeviceError(label, f"{name} is not a portspec bundle (no 'portspec-bundle 1' first line)")
    body, end = _split_end(data, label, name)
    if _sha(body) != end:
        raise DeviceError(label, f"the bundle {name} was changed after its capture: its hash does not match")
    sections = _sections(body, label, name)
    missing = [s for s in REQUIRED if s not in sections]
    if missing:
        raise DeviceError(label, f"the bundle {name} has no {missing[0]} section")
    return Bundle(os.fspath(path), end, sections, _meta(sections["meta"]))


def _split_end(data: bytes, label: str, name: str) -> tuple[bytes, str]:
    cut = data.rfind(f"\n{MARK} end ".encode())
    found = _END.match(data, cut + 1) if cut >= 0 else None
    if found is None:
        raise DeviceError(label, f"the bundle {name} is truncated: it lacks its end line and hash")
    return data[: cut + 1], found.group(1).decode()


def _sections(body: bytes, label: str, name: str) -> dict[str, str]:
    sections: dict[str, str] = {}
    at = len(MAGIC)
    while at < len(body):
        header = _HEADER.match(body, at)
        if header is None:
            raise DeviceError(label, f"the bundle {name} has a malformed section header at byte {at}")
        section, digest, length = header.group(1).decode(), header.group(2).decode(), int(header.group(3))
        start = header.end()
        data = body[start : start + length]
        if len(data) != length or body[start + length : start + length + 1] != b"\n":
            raise DeviceError(label, f"the bundle {name}'s {section} section is cut short")
        if _sha(data) != digest:
            raise DeviceError(label, f"the bundle {name}'s {section} section does not match its hash")
        if section not in KNOWN or section in sections:
            raise DeviceError(label, f"the bundle {name} has an unknown or repeated section {section!r}")
        sections[section] = data.decode("utf-8", "replace")  # device text: untrusted, kept as read
        at = start + length + 1
    return sections


def _meta(text: str) -> dict[str, str]:
    """The capture's own words (time, host, user): printable and clipped, unknown keys dropped."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, colon, value = line.partition(": ")
        if colon and key in META_KEYS and key not in found:
            found[key] = clip(printable(value.strip()), 120)
    return found


def bundle_path_problem(path: str) -> str | None:
    """Why `bundle:PATH` names no bundle (None: a file is there); checked when the device is given."""
    if not Path(path).is_file():
        return f"there is no bundle file {clip(printable(path))} (make one with `portspec capture-script`)"
    return None
