"""Repairs: issues raised from each refresh, and the fixes a user can confirm."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import probatio

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
from homeassistant.util import dt as dt_util

from .alerts import days_left, expires_within_warning
from .const import CONF_LINE_ID, DOMAIN, SUBENTRY_TYPE_LINE
from .coordinator import PrepaidSimConfigEntry, tracked_line_ids
from .new_lines import FIX_ADD_LINES
from .providers.base import Snapshot
from .renewal import Caller

FIX_RENEW = "renew"
CONF_LINES = "lines"


def expiring_issue_id(entry_id: str, line_id: str) -> str:
    """Return the issue id for a line that expires soon."""
    return f"line_expiring_{entry_id}_{line_id}"


@callback
def async_update_issues(
    hass: HomeAssistant, entry: PrepaidSimConfigEntry, snapshot: Snapshot
) -> None:
    """Raise or clear the account's issues from a snapshot."""
    data = entry.runtime_data
    now = dt_util.utcnow()
    # Most lines raise nothing: look before deleting (this runs per line on every refresh).
    raised = ir.async_get(hass).issues
    wallet_short: list[str] = []
    for line_id, subentry_id in tracked_line_ids(entry).items():
        line = snapshot.lines.get(line_id)
        if line is None:
            continue
        title = entry.subentries[subentry_id].title
        issue_id = expiring_issue_id(entry.entry_id, line_id)
        if expires_within_warning(line, data.renewals.settings(line_id), now):
            ir.async_create_issue(
                hass,
                DOMAIN,
                issue_id,
                is_fixable=True,
                severity=ir.IssueSeverity.WARNING,
                translation_key="line_expiring",
                translation_placeholders={"line": title, "days": str(days_left(line, now))},
                data={"kind": FIX_RENEW, "entry_id": entry.entry_id, "line_id": line_id},
            )
        elif (DOMAIN, issue_id) in raised:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
        packages = data.renewals.cached_packages(line_id)
        package = data.renewals.default_package(line_id, packages) if packages else None
        if (
            snapshot.wallet is not None
            and package is not None
            and package.price.currency == snapshot.wallet.currency
            and package.price.amount > snapshot.wallet.amount
        ):
            wallet_short.append(f"{title} ({package.price})")
    wallet_issue = f"wallet_low_{entry.entry_id}"
    if wallet_short and snapshot.wallet is not None:
        ir.async_create_issue(
            hass,
            DOMAIN,
            wallet_issue,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="wallet_low",
            translation_placeholders={
                "account": entry.title,
                "balance": str(snapshot.wallet),
                "lines": ", ".join(wallet_short),
            },
        )
    else:
        ir.async_delete_issue(hass, DOMAIN, wallet_issue)


class RenewLineFlow(RepairsFlow):
    """Renew an expiring line after the user saw the package and price."""

    def __init__(self, entry_id: str, line_id: str) -> None:
        """Remember which line to renew."""
        self._entry_id = entry_id
        self._line_id = line_id

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Go straight to the confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Show the quote; renew once confirmed."""
        entry: PrepaidSimConfigEntry | None = self.hass.config_entries.async_get_entry(
            self._entry_id
        )
        if entry is None or self._line_id not in tracked_line_ids(entry):
            return self.async_abort(reason="line_already_removed")
        renewals = entry.runtime_data.renewals
        try:
            if user_input is not None:
                await renewals.async_renew(self._line_id, caller=Caller.REPAIR)
                return self.async_create_entry(data={})
            quote = await renewals.async_renew(self._line_id, caller=Caller.REPAIR, dry_run=True)
        except HomeAssistantError as err:
            return self.async_abort(
                reason="renewal_failed", description_placeholders={"error": str(err)}
            )
        return self.async_show_form(
            step_id="confirm",
            data_schema=probatio.Schema({}),
            description_placeholders={
                "line": entry.subentries[tracked_line_ids(entry)[self._line_id]].title,
                "package": quote["package"]["name"],
                "price": f"{quote['price']:.2f} {quote['currency']}",
                "expires": dt_util.as_local(
                    dt_util.parse_datetime(quote["new_expires_at"]) or dt_util.utcnow()
                ).strftime("%Y-%m-%d %H:%M"),
            },
        )


class RemoveMissingLineFlow(RepairsFlow):
    """Stop tracking a line the provider no longer returns."""

    def __init__(self, entry_id: str, subentry_id: str) -> None:
        """Remember which line to remove."""
        self._entry_id = entry_id
        self._subentry_id = subentry_id

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Go straight to the confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Remove the line's subentry (and so its device and entities) once confirmed."""
        entries = self.hass.config_entries
        entry = entries.async_get_entry(self._entry_id)
        subentry = entry.subentries.get(self._subentry_id) if entry else None
        if entry is None or subentry is None:
            # Already removed some other way: nothing left to fix.
            return self.async_abort(reason="line_already_removed")
        if user_input is not None:
            entries.async_remove_subentry(entry, self._subentry_id)
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm",
            data_schema=probatio.Schema({}),
            description_placeholders={"line": subentry.title, "account": entry.title},
        )


class AddNewLinesFlow(RepairsFlow):
    """Pick which of an account's new lines to track."""

    def __init__(self, entry_id: str) -> None:
        """Remember the account."""
        self._entry_id = entry_id

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Go straight to the choice."""
        return await self.async_step_pick()

    async def async_step_pick(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Add the chosen lines as subentries; remember the others as declined."""
        entry: PrepaidSimConfigEntry | None = self.hass.config_entries.async_get_entry(
            self._entry_id
        )
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="account_not_loaded")
        watcher = entry.runtime_data.new_lines
        offered = list(watcher.offered)
        if user_input is not None:
            tracked = set(tracked_line_ids(entry))
            for line in offered:
                if line.line_id in user_input[CONF_LINES] and line.line_id not in tracked:
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


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Return the fix flow of a fixable issue."""
    assert data is not None
    if data.get("kind") == FIX_RENEW:
        return RenewLineFlow(str(data["entry_id"]), str(data["line_id"]))
    if data.get("kind") == FIX_ADD_LINES:
        return AddNewLinesFlow(str(data["entry_id"]))
    return RemoveMissingLineFlow(str(data["entry_id"]), str(data["subentry_id"]))
