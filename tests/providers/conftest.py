"""Shared by the provider client tests: one clock for an emulator and its client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


class FakeClock:
    """One clock for the emulator (datetime) and the client (monotonic seconds)."""

    def __init__(self) -> None:
        """Start now, in whole seconds like the API's timestamps."""
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.mono = 10_000.0

    def __call__(self) -> datetime:
        """Return the emulator's time."""
        return self.now

    def monotonic(self) -> float:
        """Return the client's time."""
        return self.mono

    def advance(self, delta: timedelta) -> None:
        """Move both clocks on."""
        self.now += delta
        self.mono += delta.total_seconds()


@pytest.fixture
def clock() -> FakeClock:
    """Return a controllable clock."""
    return FakeClock()
