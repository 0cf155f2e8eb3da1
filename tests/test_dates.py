"""terminology.dates: the one module that parses and formats dates (FHIR, NCCI YYYYMMDD, file cells, stamps)."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from terminology import dates


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("20260701", 20260701),
        ("19960101", 19960101),
        ("2026071", None),  # seven digits
        ("2026-07-01", None),  # ISO, not the NCCI layout
        ("20261301", None),  # month 13
        ("20260700", None),  # day 0
        ("18991231", None),  # before any NCCI edit
        ("*", None),  # an open deletion date is the caller's to read (OPEN_ENDED)
    ],
)
def test_ncci_day_reads_the_yyyymmdd_of_the_ncci_files(text, number):
    assert dates.ncci_day(text) == number


def test_ncci_days_round_trip_to_text_and_open_ended_is_a_star():
    assert dates.ncci_date_text(dates.ncci_day("20260715")) == "2026-07-15"
    assert dates.ncci_date_text(dates.OPEN_ENDED) == "*" and dates.day_text(dates.OPEN_ENDED) is None
    assert dates.day_number("2026-07-15") == 20260715


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        ("20260115", "2026-01-15"),
        (" 2026-01-15 ", "2026-01-15"),
        ("1/5/2026", "2026-01-05"),
        (20260115.0, "2026-01-15"),  # a spreadsheet reader's number
        (date(2026, 1, 15), "2026-01-15"),
        (datetime(2026, 1, 15, 10, 30), "2026-01-15"),
        ("", None),
        (None, None),
    ],
)
def test_file_date_cells_become_iso_days(cell, text):
    assert dates.file_date_text(cell) == text


@pytest.mark.parametrize("cell", ["2020013", "20260230", "2026/01/15", "soon"])
def test_a_file_date_cell_that_is_no_date_raises_with_the_cell_text(cell):
    with pytest.raises(ValueError) as raised:
        dates.file_date_text(cell)
    assert raised.value.args == (cell,)


def test_calendar_days_iso_text_and_stamps():
    assert dates.calendar_day(2026, 2, 30) is None and dates.calendar_day(2026, 7, 1) == date(2026, 7, 1)
    assert (
        dates.parse_day("2026-07-01") == date(2026, 7, 1) and dates.iso_text(date(2026, 7, 1)) == "2026-07-01"
    )
    with pytest.raises(ValueError):
        dates.parse_day("2026-02-30")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", dates.timestamp_now())
