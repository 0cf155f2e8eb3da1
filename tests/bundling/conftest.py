"""Fixtures: an app over a temporary NCCI index built from synthetic CMS-layout files."""

from __future__ import annotations

import pytest

from terminology import create_app
from tests.ncci_fixtures import mue_row, ncci_data_dir, ptp_row

# Synthetic edits (codes Z....); v322r0 is 2026 Q3.
PTP_ROWS = [
    ptp_row("Z0001", "Z0002", "20260715", "20260731", 1),  # boundaries: in effect 15..31 July
    ptp_row("Z0001", "Z0003", "20200101", "*", 9),  # indicator 9 never applies
    ptp_row("Z0001", "Z0004", "20200101", "*", 0),  # never bypassed
    ptp_row("Z0001", "Z0005", "20200101", "*", 1),  # bypassable
    ptp_row("Z0006", "Z0007", "20100101", "20191231", 1),  # old direction, deleted
    ptp_row("Z0007", "Z0006", "20200101", "*", 1),  # swapped pair now in force
    ptp_row("Z0008", "Z0009", "20200101", "20200101", 9),  # duplicate key: deleted the same day...
    ptp_row("Z0008", "Z0009", "20200101", "*", 0, prior="*"),  # ...and active with indicator 0
]
MUE_ROWS = [mue_row("Z0011", 1, 1), mue_row("Z0012", 2, 2, "CMS Policy"), mue_row("Z0013", 2, 3)]


@pytest.fixture
def data_dir(tmp_path):
    return ncci_data_dir(tmp_path, PTP_ROWS, MUE_ROWS)


@pytest.fixture
def client(data_dir):
    return create_app({"DATA_DIR": str(data_dir)}).test_client()


@pytest.fixture
def bare_client(tmp_path):
    """An app with no NCCI import at all: only the shipped CPT rules."""
    return create_app({"DATA_DIR": str(tmp_path / "empty")}).test_client()
