"""The Renew button of a line."""

from __future__ import annotations

from typing import override

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import SUBENTRY_TYPE_LINE
from .coordinator import PrepaidSimConfigEntry
from .entity import PrepaidSimLineEntity
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
    coordinator = entry.runtime_data.coordinator
    for subentry_id, subentry in entry.subentries.items():
        if subentry.subentry_type == SUBENTRY_TYPE_LINE:
            async_add_entities(
                [PrepaidSimRenewButton(coordinator, subentry, RENEW_BUTTON)],
                config_subentry_id=subentry_id,
            )


class PrepaidSimRenewButton(PrepaidSimLineEntity, ButtonEntity):
    """Renew the line with its chosen package, through the renewal manager."""

    @override
    async def async_press(self) -> None:
        """Renew once; errors reach the user translated."""
        await self.coordinator.config_entry.runtime_data.renewals.async_renew(
            self.line_id, caller=Caller.BUTTON
        )
