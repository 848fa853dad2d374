"""Prices read with the decimals of their currency."""

from __future__ import annotations

from decimal import Decimal

import pytest

from custom_components.prepaid_sim.providers.base import Money


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(Decimal("9.5"), "USD"), "9.50 USD"),
        (Money(Decimal(10), "EUR"), "10.00 EUR"),
        (Money(Decimal(500), "JPY"), "500 JPY"),
        (Money(Decimal("12000.4"), "KRW"), "12000 KRW"),
        (Money(Decimal("1.5"), "KWD"), "1.500 KWD"),
    ],
)
def test_money_reads_with_its_currencys_decimals(money: Money, text: str) -> None:
    """Cents where the currency has cents, none for yen, three places for dinars."""
    assert str(money) == text
