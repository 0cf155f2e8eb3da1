"""The coder scenario table (tests/bundling/scenarios.py): each scenario answers as a coder expects."""

from __future__ import annotations

import pytest

from tests.bundling.scenarios import SCENARIOS, judge, make_clients


@pytest.fixture(scope="module")
def scenario_clients(tmp_path_factory):
    return make_clients(tmp_path_factory.mktemp("scenarios"))


def test_every_point_of_the_issue_has_scenarios_and_clean_cases():
    points = {scenario.point for scenario in SCENARIOS}
    assert {str(n) for n in range(1, 10)} | {"clean"} <= points
    assert len({scenario.id for scenario in SCENARIOS}) == len(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario_clients, scenario):
    assert judge(scenario_clients, scenario) == [], scenario.statement
