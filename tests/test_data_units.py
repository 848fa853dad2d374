"""Data sizes are shown in the units a plan is sold in."""

from __future__ import annotations

import pytest

from homeassistant.const import UnitOfInformation

from custom_components.prepaid_sim.data_units import GB, GIB, MB, MIB, display_unit, format_data


@pytest.mark.parametrize(
    ("allowance", "unit"),
    [
        (3 * GB, UnitOfInformation.GIGABYTES),  # eSIM Go "3GB"
        (GB, UnitOfInformation.GIGABYTES),
        (500 * MB, UnitOfInformation.MEGABYTES),
        (3 * GIB, UnitOfInformation.GIBIBYTES),
        (GIB, UnitOfInformation.MEBIBYTES),  # under 2 GiB: an IoT plan, in MiB
        (500 * MIB, UnitOfInformation.MEBIBYTES),
        (None, UnitOfInformation.GIBIBYTES),  # unlimited or unknown
        (0, UnitOfInformation.MEBIBYTES),
        (3 * GB + 1, UnitOfInformation.GIBIBYTES),  # not round: a binary count
    ],
)
def test_display_unit(allowance: int | None, unit: UnitOfInformation) -> None:
    """Round decimal allowances keep decimal units; everything else is binary."""
    assert display_unit(allowance) is unit


@pytest.mark.parametrize(
    ("size", "allowance", "text"),
    [
        (3 * GB, 3 * GB, "3.0 GB"),
        (250 * MB, 3 * GB, "250 MB"),
        (int(6.8 * GIB), 10 * GIB, "6.8 GB"),
        (3 * GB, 10 * GIB, "2.8 GB"),
        (94 * MIB, None, "94 MB"),
    ],
)
def test_format_data(size: int, allowance: int | None, text: str) -> None:
    """Voice and notifications say what the carrier's own app would say."""
    assert format_data(size, allowance) == text
