"""Hook specifications of pytest-portspec, for plugins and conftest.py files that extend it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_portspec.checks.verdict import Verdict


@pytest.hookspec(firstresult=True)
def pytest_portspec_verdict(device: str, verdict: Verdict) -> Verdict | None:
    """Called for each verdict before its item reports it.

    Return a replacement Verdict (e.g. a site's accepted deviation, with a note saying so) to
    alter what is reported, or None to keep it. The first non-None result wins. `device` is
    the device label, as in the node id: `SPEC[PROFILE]@HOST`. A hook cannot make a pass the
    checks did not make (such a verdict becomes an error saying so), and any other change of
    outcome is noted on the verdict, for the report's reader.
    """
