"""The demo carrier's state as plain JSON data, so a restarted demo continues where it was.

Only what a purchase changes is kept: the wallet, the lines (their usage anchors, allowance
and expiry), the ledger, the orders and the order counter. Usage between restarts follows
from the anchors, as it would at a real carrier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from .base import Money, Order, OrderStatus
from .demo import Charge, DemoBackend, DemoLine

STATE_VERSION: Final = 1

# Errors a damaged or foreign state raises while it is read.
STATE_ERRORS: Final = (KeyError, TypeError, ValueError, ArithmeticError)

_LINE_TIMES: Final = frozenset({"anchor", "expires_at"})


def _money(value: Money | None) -> dict[str, str] | None:
    return None if value is None else {"amount": str(value.amount), "currency": value.currency}


def _read_money(value: Any) -> Money | None:
    if value is None:
        return None
    return Money(Decimal(str(value["amount"])), str(value["currency"]))


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _read_time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def carrier_state(backend: DemoBackend) -> dict[str, Any]:
    """Return what a restart must not forget, as JSON-ready data."""
    return {
        "version": STATE_VERSION,
        "wallet": str(backend.wallet),
        "order_seq": backend.order_seq,
        "lines": [
            {
                key: _time(value) if key in _LINE_TIMES else value
                for key, value in asdict(line).items()
            }
            for line in backend.lines.values()
        ],
        "ledger": [
            {
                "reference": charge.reference,
                "order_id": charge.order_id,
                "line_id": charge.line_id,
                "package_id": charge.package_id,
                "amount": _money(charge.amount),
                "at": _time(charge.at),
            }
            for charge in backend.ledger
        ],
        "orders": [
            {
                "order_id": order.order_id,
                "line_id": order.line_id,
                "package_id": order.package_id,
                "reference": order.reference,
                "status": order.status.value,
                "price": _money(order.price),
                "created_at": _time(order.created_at),
                "new_expires_at": _time(order.new_expires_at),
                "new_data_total_bytes": order.new_data_total_bytes,
            }
            for order in backend.orders.values()
        ],
    }


def restore_carrier(backend: DemoBackend, state: Mapping[str, Any]) -> None:
    """Put a saved state back; raise one of ``STATE_ERRORS`` (changing nothing) if damaged."""
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"unknown demo state version {state.get('version')!r}")
    line_fields = {field.name for field in fields(DemoLine)}
    lines = {}
    for raw in state["lines"]:
        values = {key: raw[key] for key in line_fields if key in raw}
        for key in _LINE_TIMES:
            values[key] = _read_time(raw[key])
        line = DemoLine(**values)
        lines[line.line_id] = line
    ledger = [
        Charge(
            reference=str(raw["reference"]),
            order_id=str(raw["order_id"]),
            line_id=str(raw["line_id"]),
            package_id=str(raw["package_id"]),
            amount=Money(Decimal(str(raw["amount"]["amount"])), str(raw["amount"]["currency"])),
            at=datetime.fromisoformat(str(raw["at"])),
        )
        for raw in state["ledger"]
    ]
    orders = {}
    for raw in state["orders"]:
        order = Order(
            order_id=str(raw["order_id"]),
            line_id=str(raw["line_id"]),
            package_id=str(raw["package_id"]),
            reference=str(raw["reference"]),
            status=OrderStatus(raw["status"]),
            price=_read_money(raw.get("price")),
            created_at=_read_time(raw.get("created_at")),
            new_expires_at=_read_time(raw.get("new_expires_at")),
            new_data_total_bytes=raw.get("new_data_total_bytes"),
        )
        orders[order.reference] = order
    wallet = Decimal(str(state["wallet"]))
    order_seq = int(state["order_seq"])
    # Everything read: only now does the backend change.
    backend.wallet, backend.lines, backend.ledger = wallet, lines, ledger
    backend.orders, backend.order_seq = orders, order_seq
