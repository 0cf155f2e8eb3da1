"""The service's one "today": the current date in UTC, read from the clock at most once a second.

Every default that depends on the day (whether a code past its termination date is still
active, the date of service of an order or a CDS hook without one, the date of imported content)
asks this function. UTC rather than the host's zone: pods in different zones, or one host whose
zone changes, must agree on the day and switch cache keys at the same instant, and the FHIR
``date`` parameter (always honoured) is how a caller states a local date of service.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

_memo: tuple[int, date] = (-1, date.min)


def today() -> date:
    """Return today's date in UTC, cheaply (it is asked per code validated)."""
    global _memo
    second = int(time.monotonic())
    if _memo[0] != second:
        _memo = (second, datetime.now(UTC).date())
    return _memo[1]
