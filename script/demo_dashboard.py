"""The demo's "Prepaid SIM" dashboard: made by script/run and script/screenshots alike.

Data remaining is a sensor card with its recent history: it needs no fixed maximum, so a
top-up that raises the allowance never pegs it (a gauge's maximum is fixed when made).
"""

from __future__ import annotations

from typing import Any

DASHBOARD_URL_PATH = "prepaid-sim"
DASHBOARD_TITLE = "Prepaid SIM"
# The fields of Home Assistant's lovelace/dashboards/create command for it.
DASHBOARD_FIELDS: dict[str, Any] = {
    "url_path": DASHBOARD_URL_PATH,
    "title": DASHBOARD_TITLE,
    "icon": "mdi:sim",
    "mode": "storage",
    "show_in_sidebar": True,
    "require_admin": False,
}


def is_unlimited(allowance_state: Any) -> bool:
    """Return True when a Data allowance state is not a number (an unlimited plan)."""
    try:
        float(allowance_state)
    except TypeError, ValueError:
        return True
    return False


def slug(name: str) -> str:
    """Return the object id Home Assistant derives from a device name."""
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def line_section(name: str, *, unlimited: bool, device_id: str) -> dict[str, Any]:
    """Return the dashboard section of one line."""
    line = slug(name)

    def alert(kind: str, label: str, icon: str) -> dict[str, Any]:
        """Return a heading badge shown only while the binary sensor is on."""
        entity = f"binary_sensor.{line}_{kind}"
        return {
            "type": "entity",
            "entity": entity,
            "name": label,
            "icon": icon,
            "color": "orange",
            "state_content": "name",
            "visibility": [{"condition": "state", "entity": entity, "state": "on"}],
        }

    cards: list[dict[str, Any]] = [
        {
            "type": "heading",
            "heading": name,
            "icon": "mdi:sim",
            "badges": [
                {"type": "entity", "entity": f"sensor.{line}_status"},
                alert("low_data", "Low data", "mdi:signal-cellular-1"),
                alert("expiring_soon", "Expiring", "mdi:calendar-alert"),
                alert("renewal_problem", "Renewal problem", "mdi:alert-circle"),
            ],
        }
    ]
    if unlimited:
        # Unlimited: there is no allowance to measure against.
        cards.append(
            {
                "type": "tile",
                "entity": f"sensor.{line}_data_used",
                "name": "Data used",
                "grid_options": {"columns": 12},
            }
        )
    else:
        cards.append(
            {
                "type": "sensor",
                "entity": f"sensor.{line}_data_remaining",
                "name": "Data remaining",
                "graph": "line",
                "hours_to_show": 48,
                "grid_options": {"columns": 12},
            }
        )
    cards += [
        {"type": "tile", "entity": f"sensor.{line}_plan_expiry", "name": "Plan expiry"},
        {
            # The renew action, behind a confirmation: the Renew button entity is opt-in
            # because a press of it charges at once.
            "type": "button",
            "name": "Renew",
            "icon": "mdi:autorenew",
            "show_state": False,
            "tap_action": {
                "action": "perform-action",
                "perform_action": "prepaid_sim.renew",
                "data": {"device_id": device_id},
                "confirmation": {
                    "text": f"Renew {name} with its renewal package? You are charged once."
                },
            },
            "grid_options": {"columns": 6, "rows": 1},
        },
        {
            "type": "tile",
            "entity": f"select.{line}_renewal_package",
            "name": "Package",
            "hide_state": True,
            "features": [{"type": "select-options"}],
            "features_position": "inline",
            "grid_options": {"columns": 12},
        },
    ]
    return {"type": "grid", "cards": cards}


def dashboard_config(lines: list[tuple[str, bool, str]]) -> dict[str, Any]:
    """Return the dashboard: the account's balance, then a section per line.

    ``lines`` holds each line's name, whether its plan is unlimited and its device id.
    """
    return {
        "title": DASHBOARD_TITLE,
        "views": [
            {
                "title": "Lines",
                "path": "lines",
                "icon": "mdi:sim",
                "type": "sections",
                "max_columns": 3,
                "badges": [
                    {
                        "type": "entity",
                        # Every line has the account's balance; one is enough.
                        "entity": f"sensor.{slug(lines[0][0])}_balance",
                        "name": "Account balance",
                        "icon": "mdi:wallet",
                        "show_name": True,
                    }
                ],
                "sections": [
                    line_section(name, unlimited=unlimited, device_id=device_id)
                    for name, unlimited, device_id in lines
                ],
            }
        ],
    }
