"""Version strings: natural order and canonical url|version round trips."""

from __future__ import annotations

import pytest

from terminology.engine.versions import canonical, split_canonical, version_key


@pytest.mark.parametrize(
    ("older", "newer"), [("2025", "2026"), ("1.9", "1.10"), ("1.0.0", "1.0.1"), (None, "1")]
)
def test_versions_order_naturally(older, newer):
    assert version_key(older) < version_key(newer)


def test_canonical_round_trip():
    assert split_canonical(canonical("http://x", "2026")) == ("http://x", "2026")
    assert split_canonical("http://x") == ("http://x", None)
