"""The Renew button of a line."""

from __future__ import annotations

from typing import override

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PrepaidSimConfigEntry
from .entity import PrepaidSimLineEntity, async_add_line_entities
from .renewal import Caller

# Spending money: one press at a time.
PARALLEL_UPDATES = 1

RENEW_BUTTON = ButtonEntityDescription(
    key="renew",
    translation_key="renew",
    # A configuration entity: not exposed to voice assistants by default.
    entity_category=EntityCategory.CONFIG,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrepaidSimConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a Renew button to every tracked line."""
    async_add_line_entities(
        entry,
        async_add_entities,
        lambda coordinator, subentry: [PrepaidSimRenewButton(coordinator, subentry, RENEW_BUTTON)],
    )


class PrepaidSimRenewButton(PrepaidSimLineEntity, ButtonEntity):
    """Renew the line with its chosen package, through the renewal manager."""

    # Its state is the last press; the line's presence is all it reads.
    _ignores_usage = True

    @override
    async def async_press(self) -> None:
        """Renew once; errors reach the user translated."""
        await self.coordinator.config_entry.runtime_data.renewals.async_renew(
            self.line_id, caller=Caller.BUTTON
        )
