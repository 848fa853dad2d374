"""The demo account remembers: its carrier's state is kept in Home Assistant's storage.

A real carrier keeps its wallet, lines and orders while Home Assistant restarts; the demo
carrier lives in the process, so without this a restart would refill the wallet, reset
the expiries and reuse order numbers that receipts already name.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from .const import DOMAIN, LOGGER
from .providers.demo import DemoBackend
from .providers.demo_state import STATE_ERRORS, STATE_VERSION, carrier_state, restore_carrier


def demo_carrier_store(hass: HomeAssistant) -> Store[dict[str, Any]]:
    """Return the store of the demo carrier's state."""
    return Store(hass, STATE_VERSION, f"{DOMAIN}.demo_carrier", private=True)


async def async_remember_demo_carrier(hass: HomeAssistant, backend: DemoBackend) -> None:
    """Put back the state an earlier run saved (once per process); save every change."""
    store = demo_carrier_store(hass)
    if not backend.remembered:
        backend.remembered = True
        if (state := await store.async_load()) is not None:
            try:
                restore_carrier(backend, state)
            except STATE_ERRORS as err:
                LOGGER.warning(
                    "The demo account's saved state is unreadable (%s); it starts afresh", err
                )

    @callback
    def _save() -> None:
        hass.async_create_background_task(
            store.async_save(carrier_state(backend)), f"{DOMAIN} demo carrier save"
        )

    backend.on_change = _save
