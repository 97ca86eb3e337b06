"""The engine: a run's devices read, checked and judged to an outcome, without pytest.

    from pytest_portspec.engine import Settings, check
    outcome = check(["smartserver@198.18.1.2"], Settings(known_hosts="~/.ssh/known_hosts"))
    for result in outcome.results:
        print(result.nodeid, result.outcome)

`check` reads every device once (concurrently, each within its deadline), runs every check,
passes each verdict through the site's waivers (`Settings.waivers`) or a `decide` function of
your own, proves the devices unchanged, and returns the typed records of the results file
(`pytest_portspec.outcome.records.Outcome`; `outcome.to_json()` is the file). The pytest plugin
runs the same engine and only shows its verdicts as test items.

Nothing heavy is imported here: the plugin imports `engine.settings` at pytest's start.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from pytest_portspec.engine.settings import Settings

if TYPE_CHECKING:
    from pytest_portspec.checks.verdict import Verdict
    from pytest_portspec.device.address import DeviceRequest
    from pytest_portspec.engine.fleet import Decide
    from pytest_portspec.engine.waivers import Waiver
    from pytest_portspec.outcome.records import Outcome

__all__ = ["Settings", "WaiverDecision", "check"]


class WaiverDecision:
    """The site's accepted deviations as a `decide` function; remembers which waivers were used."""

    def __init__(self, waivers: Sequence[Waiver], today: datetime.date | None = None) -> None:
        self.waivers = list(waivers)
        self.today = today or datetime.date.today()
        self.used: set[str] = set()  # ids of the waivers that concerned a failure: the others are reported

    def __call__(self, device: str, verdict: Verdict) -> Verdict | None:
        from pytest_portspec.engine.waivers import apply_waivers

        return apply_waivers(self.waivers, device, verdict, self.today, self.used)


def check(
    devices: Sequence[str | DeviceRequest] = (),
    settings: Settings | None = None,
    *,
    decide: Decide | None = None,
    operator: str = "",
) -> Outcome:
    """Check `devices` (device strings as `--device` takes them, or parsed requests; the inventory
    of `settings` adds its own) and return the outcome. `decide` replaces the waivers' say on
    each verdict. A bad device string or option raises ConfigurationError before any device is
    contacted; a device that cannot be read is an error of each of its checks, never an exception."""
    from pytest_portspec.device.address import parse_device
    from pytest_portspec.engine.build import build_fleet
    from pytest_portspec.engine.results import results_data
    from pytest_portspec.errors import ConfigurationError
    from pytest_portspec.outcome.records import Outcome

    given = settings or Settings()
    try:
        requests = [parse_device(d) if isinstance(d, str) else d for d in devices]
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    fleet = build_fleet(replace(given, devices=(*given.devices, *requests)))
    waivers = WaiverDecision(given.waivers)
    fleet.run_all(decide or waivers)
    data = results_data(fleet, operator=operator or given.operator, used_waivers=waivers.used)
    return Outcome.from_json(data)
