"""The package a line is renewed with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import override

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .entity import LineEntityDescription, PrepaidSimLineEntity, async_add_line_entities
from .providers.base import Package
from .renewal import CallerKind, Requester, async_check_may_spend
from .runtime import PrepaidSimConfigEntry
from .settings import CONF_PREFERRED_PACKAGE

# Changes only a setting; no provider call.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PrepaidSimSelectEntityDescription(SelectEntityDescription, LineEntityDescription):
    """Describes a line select."""


PACKAGE_SELECT = PrepaidSimSelectEntityDescription(
    key="renewal_package",
    translation_key="renewal_package",
    entity_category=EntityCategory.CONFIG,
    # The packages, the settings and the line's current package decide the option.
    ignores_usage=True,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrepaidSimConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the package select to every tracked line."""
    await async_add_line_entities(
        entry,
        async_add_entities,
        lambda data, subentry: [PrepaidSimPackageSelect(data, subentry, PACKAGE_SELECT)],
    )


class PrepaidSimPackageSelect(PrepaidSimLineEntity, SelectEntity):
    """Choose the package that renewals of this line buy."""

    entity_description: PrepaidSimSelectEntityDescription

    @property
    def _packages(self) -> list[Package]:
        """Return the line's packages as last read."""
        return self.data.catalogue.cached(self.line_id) or []

    @property
    @override
    def available(self) -> bool:
        """Return False until the line's packages have been read."""
        return super().available and bool(self._packages)

    @property
    @override
    def options(self) -> list[str]:
        """Return the package names."""
        return [package.name for package in self._packages]

    @property
    @override
    def current_option(self) -> str | None:
        """Return the package a renewal would buy now."""
        package = self.data.catalogue.chosen(
            self.line_id, self.settings.preferred_package, self.line
        )
        return package.name if package else None

    @override
    async def async_select_option(self, option: str) -> None:
        """Save the chosen package as the line's preferred one (it decides what is bought)."""
        context = self._context
        await async_check_may_spend(
            self.hass,
            Requester(kind=CallerKind.BUTTON, user_id=context.user_id if context else None),
            self.coordinator.config_entry.subentries[self.subentry_id].title,
            self.settings,
        )
        package = next((p for p in self._packages if p.name == option), None)
        if package is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_package",
                translation_placeholders={
                    "package": option,
                    "line": self.coordinator.config_entry.subentries[self.subentry_id].title,
                    "packages": ", ".join(self.options),
                },
            )
        entry = self.coordinator.config_entry
        subentry = entry.subentries[self.subentry_id]
        self.hass.config_entries.async_update_subentry(
            entry,
            subentry,
            data={**subentry.data, CONF_PREFERRED_PACKAGE: package.package_id},
        )
