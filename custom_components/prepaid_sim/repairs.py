"""Repair fix flows: one per fixable kind of issue (see issues.py), all on a loaded account.

Home Assistant's Repairs dashboard is for administrators only, so a fix that renews is
an administrator's renewal; it buys the package and price the user was shown, or nothing.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import probatio

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
from homeassistant.util import dt as dt_util

from . import issues
from .const import CONF_LINE_ID, SUBENTRY_TYPE_LINE
from .journal import async_get_journal
from .renewal import CallerKind, Quote, Requester
from .runtime import PrepaidSimConfigEntry
from .tracking import tracked_line_ids

CONF_LINES = "lines"
REPAIR_REQUESTER = Requester(kind=CallerKind.REPAIR)


class AccountRepairFlow(RepairsFlow):
    """A fix that needs its account loaded (it may have been unloaded since the issue)."""

    def __init__(self, entry_id: str, data: dict[str, str | int | float | None]) -> None:
        """Remember the account and what the issue was raised about."""
        self._entry_id = entry_id
        self._data = data

    def _loaded_entry(self) -> PrepaidSimConfigEntry | None:
        """Return the account if it is loaded, else None."""
        entry: PrepaidSimConfigEntry | None = self.hass.config_entries.async_get_entry(
            self._entry_id
        )
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return None
        return entry


class RenewLineFlow(AccountRepairFlow):
    """Renew an expiring (or expired) line after the user saw the package and price."""

    _quote: Quote | None = None

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Go straight to the confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Show the quote; buy exactly it once confirmed."""
        entry = self._loaded_entry()
        if entry is None:
            return self.async_abort(reason="account_not_loaded")
        subentry = entry.subentries.get(str(self._data.get("subentry_id")))
        if subentry is None:
            return self.async_abort(reason="line_already_removed")
        line_id = subentry.data[CONF_LINE_ID]
        renewals = entry.runtime_data.renewals
        try:
            if user_input is not None and self._quote is not None:
                await renewals.async_renew(
                    line_id,
                    self._quote.package.package_id,
                    requester=REPAIR_REQUESTER,
                    max_price=self._quote.price,
                )
                return self.async_create_entry(data={})
            self._quote = await renewals.async_quote(line_id, requester=REPAIR_REQUESTER)
        except HomeAssistantError as err:
            return self.async_abort(
                reason="renewal_failed", description_placeholders={"error": str(err)}
            )
        return self.async_show_form(
            step_id="confirm",
            data_schema=probatio.Schema({}),
            description_placeholders={
                "line": subentry.title,
                "package": self._quote.package.name,
                "price": str(self._quote.price),
                "expires": dt_util.as_local(self._quote.new_expires_at).strftime("%Y-%m-%d %H:%M"),
            },
        )


class RemoveMissingLineFlow(AccountRepairFlow):
    """Stop tracking a line the provider no longer returns."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Go straight to the confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Remove the line's subentry (and so its device and entities) once confirmed."""
        entries = self.hass.config_entries
        entry = entries.async_get_entry(self._entry_id)
        subentry = entry.subentries.get(str(self._data.get("subentry_id"))) if entry else None
        if entry is None or subentry is None:
            # Already removed some other way: nothing left to fix.
            return self.async_abort(reason="line_already_removed")
        if user_input is not None:
            entries.async_remove_subentry(entry, subentry.subentry_id)
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm",
            data_schema=probatio.Schema({}),
            description_placeholders={"line": subentry.title, "account": entry.title},
        )


class AddNewLinesFlow(AccountRepairFlow):
    """Pick which of an account's new lines to track."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Go straight to the choice."""
        return await self.async_step_pick()

    async def async_step_pick(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Add the chosen lines as subentries; remember the others as declined."""
        entry = self._loaded_entry()
        if entry is None:
            return self.async_abort(reason="account_not_loaded")
        watcher = entry.runtime_data.new_lines
        offered = list(watcher.offered)
        if user_input is not None:
            tracked = set(tracked_line_ids(entry))
            # Another entry may have started tracking one since it was offered.
            elsewhere = watcher.tracked_elsewhere()
            for line in offered:
                if (
                    line.line_id in user_input[CONF_LINES]
                    and line.line_id not in tracked
                    and watcher.line_key(line.line_id) not in elsewhere
                ):
                    self.hass.config_entries.async_add_subentry(
                        entry,
                        ConfigSubentry(
                            data=MappingProxyType({CONF_LINE_ID: line.line_id}),
                            subentry_type=SUBENTRY_TYPE_LINE,
                            title=line.name,
                            unique_id=line.line_id,
                        ),
                    )
            await watcher.async_settle(offered)
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="pick",
            data_schema=probatio.Schema(
                {
                    probatio.Required(
                        CONF_LINES, default=[line.line_id for line in offered]
                    ): SelectSelector(
                        SelectSelectorConfig(
                            options=[
                                SelectOptionDict(value=line.line_id, label=line.name)
                                for line in offered
                            ],
                            multiple=True,
                            mode=SelectSelectorMode.LIST,
                        )
                    )
                }
            ),
            description_placeholders={"account": entry.title},
        )


class SettleRenewalFlow(AccountRepairFlow):
    """Settle a renewal nobody could confirm: the user says whether the provider charged."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Ask which it was."""
        return self.async_show_menu(step_id="init", menu_options=["charged", "not_charged"])

    async def async_step_charged(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Count the renewal as done: the provider charged."""
        return await self._async_settle(charged=True)

    async def async_step_not_charged(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Count the renewal as not placed: the provider did not charge."""
        return await self._async_settle(charged=False)

    async def _async_settle(self, *, charged: bool) -> RepairsFlowResult:
        """Record the user's answer through the renewal engine."""
        entry = self._loaded_entry()
        if entry is None:
            return self.async_abort(reason="account_not_loaded")
        settled = await entry.runtime_data.renewals.async_settle_by_user(
            str(self._data.get("reference")), charged=charged
        )
        if not settled:
            return self.async_abort(reason="already_settled")
        return self.async_create_entry(data={})


class AcknowledgeJournalFlow(RepairsFlow):
    """Acknowledge a damaged renewal journal; the lines it concerns take renewals again."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Go straight to the confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Clear the damage once the user confirms they checked their provider's records."""
        if user_input is not None:
            await (await async_get_journal(self.hass)).async_acknowledge_damage()
            issues.async_delete_journal_damaged(self.hass)
            return self.async_create_entry(data={})
        return self.async_show_form(step_id="confirm", data_schema=probatio.Schema({}))


class NothingToFixFlow(RepairsFlow):
    """The fallback for an issue this version cannot fix (raised by an older one)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Say there is nothing to do here."""
        return self.async_abort(reason="not_fixable")


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Return the fix flow of a fixable issue, by its kind."""
    kind = issues.kind_of(data)
    if kind is issues.IssueKind.JOURNAL_DAMAGED:
        return AcknowledgeJournalFlow()
    if kind is None or data is None or not isinstance(entry_id := data.get("entry_id"), str):
        return NothingToFixFlow()
    flows: dict[issues.IssueKind, type[AccountRepairFlow]] = {
        issues.IssueKind.LINE_EXPIRING: RenewLineFlow,
        issues.IssueKind.LINE_EXPIRED: RenewLineFlow,
        issues.IssueKind.LINE_MISSING: RemoveMissingLineFlow,
        issues.IssueKind.NEW_LINES: AddNewLinesFlow,
        issues.IssueKind.RENEWAL_UNCONFIRMED: SettleRenewalFlow,
    }
    if (flow := flows.get(kind)) is None:
        return NothingToFixFlow()
    return flow(entry_id, data)
