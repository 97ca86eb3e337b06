"""Reading a results file (--portspec-json) back: untrusted input, checked against its published schema.

    load_results(path)   the file's records (outcome.records.Outcome), or PortspecError with one
                         sentence naming the file and the first problem (its JSON path and what
                         is wrong, values clipped)
    load_data(path)      the same file's data, checked the same way, as plain JSON values

`portspec report`, `portspec diff` and `portspec packet/matrix --snapshot` read a file someone
handed them: it may be truncated, edited, crafted or from another version. A file that does not
match the schema (pytest_portspec/schema/results-v2.schema.json) is refused whole, so no reader
ever fills a missing key with a default that reads as a pass.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_portspec.errors import PortspecError
from pytest_portspec.outcome.records import FORMAT as FORMAT  # the results file's writer reads it here
from pytest_portspec.outcome.records import Outcome
from pytest_portspec.text import clip, printable

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

READABLE = (1, 2)  # format 1 (no schema yet) is upgraded on reading: see `_upgrade`
SCHEMA = f"results-v{FORMAT}.schema.json"
MAX_BYTES = 256 * 1024 * 1024  # a results file larger than this is refused before it is read
# keys of a device that format 1 gained over its life or format 2 added, and their "not recorded"
# value: none reads as a pass (a format-1 file lacking what decides a verdict is refused)
UPGRADE: dict[str, object] = {
    "host_key_policy": None,
    "host_key_verified": None,
    "read_only_problem": None,
    "readings": [],
    "kernel_notes": [],
    "firewall_findings": [],
}


@cache
def schema() -> dict[str, Any]:
    """The published schema (package data: an installed wheel has it)."""
    text = resources.files("pytest_portspec").joinpath("schema", SCHEMA).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator  # imported when a file is read, not by every command

    return Draft202012Validator(schema())


def load_results(path: Path) -> Outcome:
    """The records of a results file whose every key and type is what the schema says (a format-1
    file's too: what it lacks is read as unknown, see `_upgrade`)."""
    return Outcome.from_json(load_data(path))


def load_data(path: Path) -> dict[str, Any]:
    """The data of a results file whose every key and type is what the schema says."""
    data = _parse(path, _read(path))
    if not isinstance(data, dict):
        raise PortspecError(
            f"{path}: not a portspec results file (its top level is a JSON {_kind(data)}, not an object)"
        )
    version = _version(path, data)
    old = type(version) is int and version == 1  # not true, not 1.0: JSON's true == 1 in Python
    data = _upgrade(data) if old else data
    found = first_problem(data)
    if found is not None:
        hint = " (a format-1 file from an older portspec: run the checks again with this one)" * old
        raise PortspecError(f"{path}: {found}{hint}")
    return data


def first_problem(data: object) -> str | None:
    """The first place where `data` differs from the schema, as `JSON.PATH: what is wrong`."""
    from jsonschema.exceptions import best_match

    try:
        error = next(iter(_validator().iter_errors(data)), None)
        if error is None:
            return None
        error = best_match([error])  # anyOf / if-then: the deepest reason, not "not valid under any"
        return f"{json_path(error.absolute_path)}: {_message(error)}"
    except RecursionError:
        return "nested too deeply to be checked"


def json_path(parts: Iterable[str | int]) -> str:
    """devices[0].rows[3].applies; `the top level` for the root."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{clip(printable(str(part)), 60)}"
    return text.lstrip(".") or "the top level"


def _message(error: ValidationError) -> str:
    """jsonschema's sentence, with the offending value quoted at most ~200 characters."""
    message = error.message
    shown = repr(error.instance)
    if len(shown) > 200 and shown in message:
        message = message.replace(shown, clip(shown))
    return clip(printable(message), 400)


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            if os.fstat(stream.fileno()).st_size > MAX_BYTES:
                raise PortspecError(_too_large(path))
            raw = stream.read(MAX_BYTES + 1)  # a pipe or a growing file has no size to check first
    except OSError as exc:
        raise PortspecError(f"{path}: cannot read the results file: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise PortspecError(_too_large(path))
    return raw


def _too_large(path: Path) -> str:
    return f"{path}: larger than {MAX_BYTES // 2**20} MiB, more than any results file this tool writes"


def _parse(path: Path, raw: bytes) -> object:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise PortspecError(f"{path}: line {line} is not UTF-8 text (byte 0x{byte})") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise PortspecError(f"{path}: nested too deeply to be a results file") from None
    except ValueError as exc:
        raise PortspecError(
            f"{path}: not a results file (invalid JSON: {clip(printable(str(exc)))})"
        ) from None


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _kind(value: object) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _version(path: Path, data: dict[str, Any]) -> object:
    """The file's format, if this version can read it (any other value: the schema says why)."""
    version = data.get("format")
    if "format" not in data:
        raise PortspecError(
            f"{path}: not a portspec results file (no format key; --portspec-json writes one)"
        )
    if type(version) is int and version > FORMAT:
        raise PortspecError(
            f"{path}: written by a newer portspec (results format {version}); this one reads formats "
            + " and ".join(map(str, READABLE))
        )
    return version


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Format 1 read as format 2: the keys format 2 added, as unknown (null), never as verified."""
    devices = data.get("devices")
    for device in devices if isinstance(devices, list) else []:
        if isinstance(device, dict) and "kind" not in device:
            for key, unknown in UPGRADE.items():
                device.setdefault(key, copy.copy(unknown))  # one list per device, not one shared
    return {**data, "format": FORMAT, "unused_waivers": data.get("unused_waivers", [])}
