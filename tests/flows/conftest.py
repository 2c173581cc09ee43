"""Shared fixtures: the real flow files from the repository, loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.loader import load_flows
from flows.model import Flow

FLOWS_DIR = Path(__file__).parents[2] / "config" / "flows"


@pytest.fixture(scope="session")
def flows() -> dict[str, Flow]:
    return load_flows(FLOWS_DIR)


@pytest.fixture(scope="session")
def daily(flows: dict[str, Flow]) -> Flow:
    return flows["daily_checkin"]


@pytest.fixture(scope="session")
def family(flows: dict[str, Flow]) -> Flow:
    return flows["family_checkin"]


@pytest.fixture(scope="session")
def onboarding(flows: dict[str, Flow]) -> Flow:
    return flows["onboarding"]
