"""Read the recorded provider answers under tests/providers/fixtures/."""

from __future__ import annotations

from collections.abc import Mapping
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(provider: str, name: str) -> bytes:
    """Return the raw body of one recorded answer, as the client would receive it."""
    return (FIXTURES / provider / name).read_bytes()


def fixture_json(provider: str, name: str) -> Any:
    """Return one recorded answer parsed as JSON."""
    return json.loads(fixture_bytes(provider, name))


def records_by(records: list[Mapping[str, Any]], key: str) -> dict[str, Mapping[str, Any]]:
    """Key a list of records by one of their fields."""
    return {str(record[key]): record for record in records}
