"""The unit a line's data is shown in: the one its plan is sold in.

eSIM Go sells "3GB" as 3,000 MB of 1,000,000 bytes; the other providers and most carriers
count binary units (1 GB = 1,024 MB). Showing a decimal 3 GB plan in GiB reads as 2.79, so a
line whose allowance is round in decimal units but not in binary ones is shown in GB/MB,
every other line in GiB/MiB. Small allowances (typical of IoT plans: binary ones under 2 GiB,
decimal ones under 1 GB) use the mega unit.
"""

from __future__ import annotations

from homeassistant.const import UnitOfInformation

GIB = 1024**3
MIB = 1024**2
GB = 1000**3
MB = 1000**2
# The smallest step a plan sold in decimal units is priced in: 0.1 GB.
_DECIMAL_STEP = 100 * MB


def sold_in_decimal(allowance_bytes: int | None) -> bool:
    """Return True when an allowance is round in decimal units and not in binary ones."""
    return (
        allowance_bytes is not None
        and allowance_bytes > 0
        and allowance_bytes % _DECIMAL_STEP == 0
        and allowance_bytes % MIB != 0
    )


def display_unit(allowance_bytes: int | None) -> UnitOfInformation:
    """Return the unit to show a line's data sizes in, given its plan's allowance."""
    if sold_in_decimal(allowance_bytes):
        assert allowance_bytes is not None
        return UnitOfInformation.MEGABYTES if allowance_bytes < GB else UnitOfInformation.GIGABYTES
    if allowance_bytes is not None and allowance_bytes < 2 * GIB:
        return UnitOfInformation.MEBIBYTES
    return UnitOfInformation.GIBIBYTES


def format_data(size: int, allowance_bytes: int | None = None) -> str:
    """Return a data amount as carriers print it, in the units its plan is sold in.

    Carriers print binary units with decimal names ("1.5 GB" of 1,024 MB each).
    """
    if sold_in_decimal(allowance_bytes):
        giga, mega = GB, MB
    else:
        giga, mega = GIB, MIB
    if size >= giga:
        return f"{size / giga:.1f} GB"
    return f"{size / mega:.0f} MB"
