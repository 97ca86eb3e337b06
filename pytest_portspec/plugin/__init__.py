"""pytest plugin entry point (pytest11: portspec): hooks that wire the core to pytest, nothing else."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_portspec.checks import kinds
from pytest_portspec.plugin import option_table, options
from pytest_portspec.plugin import xdist as parallel
from pytest_portspec.spec.catalog import packaged_spec_dir, spec_files
from pytest_portspec.text import printable, printable_lines

if TYPE_CHECKING:
    from pytest_portspec.checks.verdict import Verdict
    from pytest_portspec.engine.waivers import Waiver
    from pytest_portspec.lab.fixture import LabSession
    from pytest_portspec.outcome.records import Outcome  # noqa: F401 (named in the stash key's string annotation)
    from pytest_portspec.plugin.session import Registry  # noqa: F401 (named in the stash key's string annotation)

# the checks' machinery is imported only when devices are given: plain pytest runs stay light
CHECKS = kinds.NAMES  # a marker per registered check kind (read when used: a conftest's kind too)
REGISTRY = pytest.StashKey["Registry"]()
PARTS = pytest.StashKey["WorkerParts"]()
RESULTS = pytest.StashKey[
    "Outcome"
]()  # the session's outcome (the results file's records), at session finish


class Waivers:
    """The site's accepted deviations (--accept), applied through the plugin's own verdict hook."""

    def __init__(self, waivers: tuple[Waiver, ...]) -> None:
        from pytest_portspec.engine import WaiverDecision

        self.decision = WaiverDecision(waivers)

    @property
    def used(self) -> set[str]:
        """Ids of the waivers that concerned a failure: the others are reported unused."""
        return self.decision.used

    @pytest.hookimpl
    def pytest_portspec_verdict(self, device: str, verdict: Verdict) -> Verdict | None:
        return self.decision(device, verdict)


class WorkerParts:
    """On pytest-xdist's controller: the part of the results each finished worker sent."""

    def __init__(self) -> None:
        self.parts: list[dict[str, Any]] = []

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object | None) -> None:
        part = parallel.received_part(node)
        if part is not None:
            self.parts.append(part)


@pytest.fixture(scope="session")
def portspec_lab() -> Iterator[LabSession]:
    """Bring emulated appliances up with `portspec_lab.up("smartserver", drifts=[...])` (needs root)."""
    from pytest_portspec.lab.fixture import lab_session  # the lab (and paramiko) load when used

    yield from lab_session()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_portspec.plugin import hookspecs as hooks

    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    option_table.add_options(parser)


def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    parallel.prefer_loadgroup(early_config, parser, args)


def pytest_configure(config: pytest.Config) -> None:
    for check in CHECKS:
        config.addinivalue_line("markers", f"{check}: portspec {check} checks")
    for path in spec_files([packaged_spec_dir()]):
        config.addinivalue_line("markers", f"{path.stem}: portspec checks of {path.stem} devices")
    with _printable_usage_errors():
        settings = options.load_settings(config)
    if settings.devices or settings.inventory:
        from pytest_portspec.plugin import session as registry

        with _printable_usage_errors():
            reg = registry.build(settings)
        reg.worker = parallel.is_worker(config)
        from pytest_portspec.plugin import xdist_pins  # a tester per site: where each device is checked

        with _printable_usage_errors():  # quotes the inventory's device and tester names
            xdist_pins.place(config, reg.runs, reg.worker, parallel.distributed(config))
        reg.fleet.scheduler.progress = _progress_writer(config)
        for spec in {run.policy.spec.name for run in reg.runs}:  # specs from --spec-dir or a path too
            config.addinivalue_line("markers", f"{spec}: portspec checks of {spec} devices")
        config.stash[REGISTRY] = reg
        config.stash[PARTS] = WorkerParts()
        config.pluginmanager.register(config.stash[PARTS], "portspec-worker-parts")
        if settings.waivers:
            config.pluginmanager.register(Waivers(settings.waivers), "portspec-waivers")


@contextlib.contextmanager
def _printable_usage_errors() -> Iterator[None]:
    """A usage error's sentence quotes files (inventory, waivers, specs): shown printable."""
    try:
        yield
    except pytest.UsageError as exc:
        raise pytest.UsageError(printable_lines(str(exc))) from None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if REGISTRY in config.stash:
        items.extend(config.stash[REGISTRY].collect(session))


def pytest_collection_finish(session: pytest.Session) -> None:
    if REGISTRY in session.config.stash:
        session.config.stash[REGISTRY].select(session.items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "setup" and call.excinfo is not None:
        from pytest_portspec.plugin.items import VerdictItem

        if isinstance(item, VerdictItem):  # a device that cannot be checked: one sentence, no traceback
            report.longrepr = item.repr_failure(call.excinfo)
    return report


def pytest_report_header(config: pytest.Config) -> list[str]:
    if REGISTRY not in config.stash:
        return []
    return [printable(line) for line in (*config.stash[REGISTRY].header(), *parallel.header(config))]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist, on the controller: --dist loadgroup keeps each device group on one worker."""
    if REGISTRY in config.stash and config.getoption("dist") == "loadgroup":
        from pytest_portspec.plugin.xdist_pins import PINS

        return parallel.scheduler(config, log, config.stash[REGISTRY].group_of, config.stash.get(PINS, {}))
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest-html writes its page: the proof belongs in the report
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if REGISTRY not in config.stash:
        return
    reg = config.stash[REGISTRY]
    from pytest_portspec.plugin import results

    reg.fleet.finish()  # the read-only proof, where the snapshots were taken
    if reg.worker:  # the controller merges, writes and decides
        config.workeroutput[parallel.WORKER_OUTPUT] = results.worker_part(reg, session)  # type: ignore[attr-defined]
        return
    outcome = results.session_outcome(reg, session, config.stash[PARTS].parts)
    config.stash[RESULTS] = outcome
    if outcome.changed():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    results.write(outcome, reg.settings.json_path)
    results.write_sarif(outcome, reg, config.rootpath)


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(
    prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
) -> None:
    """The sign-off report's cover, matrices, evidence and sign-off block on pytest-html's page."""
    config = session.config
    if REGISTRY in config.stash and RESULTS in config.stash:
        from pytest_portspec.plugin.results import report_data
        from pytest_portspec.report.html import fragments

        prefix.extend(fragments(report_data(config.stash[RESULTS], config.stash[REGISTRY].settings.operator)))


def _progress_writer(config: pytest.Config) -> Callable[[str, bool], None]:
    """Progress lines go to the terminal as each device's snapshot completes (not with -q -q)."""

    def write(line: str, bad: bool) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and config.get_verbosity() > -2:
            reporter.write_line(printable(line), red=bad, bold=bad)  # quotes the device's errors

    return write


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    if RESULTS in config.stash:
        from pytest_portspec.report.terminal import summary

        for line, red in summary(config.stash[RESULTS]):
            terminalreporter.write_line(printable_lines(line), red=red, bold=red)
