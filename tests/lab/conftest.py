"""Lab tests run for real: as root, with namespaces, sshd and ufw, in a lab directory of their own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_portspec.lab.controller import Lab
from pytest_portspec.lab.fixture import LabSession
from pytest_portspec.lab.store import LAB_DIR_ENV, Store
from pytest_portspec.lab.system import require_lab_host

# Under /var/lib rather than /tmp: like a real installation. PORTSPEC_TEST_LAB_DIR gives a
# second test run on the same machine a lab of its own (its namespaces are tagged apart).
TEST_LAB_DIR = Path(os.environ.get("PORTSPEC_TEST_LAB_DIR") or "/var/lib/portspec-lab-tests")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/lab/" in str(item.path):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab_store() -> Iterator[Store]:
    require_lab_host()  # fails (does not skip) on a machine that cannot run the lab: CI is root
    previous = os.environ.get(LAB_DIR_ENV)
    os.environ[LAB_DIR_ENV] = str(TEST_LAB_DIR)
    store = Store(TEST_LAB_DIR)
    try:
        yield store
    finally:
        Lab(store).down(everything=True)
        if previous is None:
            os.environ.pop(LAB_DIR_ENV, None)
        else:
            os.environ[LAB_DIR_ENV] = previous


@pytest.fixture(scope="module")
def lab(lab_store: Store) -> Iterator[LabSession]:
    session = LabSession(Lab(lab_store))
    try:
        yield session
    finally:
        session.close()
