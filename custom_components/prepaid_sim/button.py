"""The Renew button of a line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import override

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import LineEntityDescription, PrepaidSimLineEntity, async_add_line_entities
from .feedback import async_notify_renewed
from .renewal import CallerKind, Requester
from .runtime import PrepaidSimConfigEntry

# Spending money: one press at a time.
PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class PrepaidSimButtonEntityDescription(ButtonEntityDescription, LineEntityDescription):
    """Describes a line button."""


RENEW_BUTTON = PrepaidSimButtonEntityDescription(
    key="renew",
    translation_key="renew",
    # A configuration entity: not exposed to voice assistants by default.
    entity_category=EntityCategory.CONFIG,
    # One press spends money with no confirmation (a device page cannot ask): opt-in.
    # Dashboards renew through the renew action behind a confirmation instead.
    entity_registry_enabled_default=False,
    # Its state is the last press; the line's presence is all it reads.
    ignores_usage=True,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrepaidSimConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a Renew button to every tracked line."""
    await async_add_line_entities(
        entry,
        async_add_entities,
        lambda data, subentry: [PrepaidSimRenewButton(data, subentry, RENEW_BUTTON)],
    )


class PrepaidSimRenewButton(PrepaidSimLineEntity, ButtonEntity):
    """Renew the line with its chosen package, through the renewal engine."""

    entity_description: PrepaidSimButtonEntityDescription

    @override
    async def async_press(self) -> None:
        """Renew once, if whoever pressed may spend; errors reach them translated."""
        context = self._context
        user_id = context.user_id if context else None
        result = await self.data.renewals.async_renew(
            self.line_id, requester=Requester(kind=CallerKind.BUTTON, user_id=user_id)
        )
        if user_id is not None:
            await async_notify_renewed(self.hass, result, self.data.renewals.key(self.line_id))
