"""LLM tools: a read-only line status, and a renewal that needs a quote and a confirmation."""

from __future__ import annotations

from typing import override

import probatio

from homeassistant.components.llm import LLMTools
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import llm
from homeassistant.util.json import JsonObjectType

from .assistant import (
    AssistantError,
    async_confirm,
    async_quote,
    find_line,
    line_status,
    tracked_lines,
)
from .const import DOMAIN
from .renewal import CallerKind, Requester


@callback
def async_get_tools(
    hass: HomeAssistant, llm_context: llm.LLMContext, api_id: str
) -> LLMTools | None:
    """Offer the tools to the Assist API only."""
    if api_id != llm.LLM_API_ASSIST:
        return None
    return LLMTools(tools=[LineStatusTool(), RenewLineTool()])


def _error(text: str) -> JsonObjectType:
    """Return a tool error the model can read."""
    return {"success": False, "error": text}


class LineStatusTool(llm.Tool):
    """Data left, status and expiry of prepaid lines."""

    name = f"{DOMAIN}__line_status"
    description = (
        "Get how much mobile data a prepaid SIM line has left, its status and when its plan "
        "expires. Leave 'line' empty to get every line."
    )
    parameters = probatio.Schema({probatio.Optional("line"): str})
    annotations = llm.ToolAnnotations(
        read_only=True, destructive=False, idempotent=True, open_world=False
    )
    integration = DOMAIN

    @override
    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> JsonObjectType:
        """Return the status of one line or of all of them."""
        name = tool_input.tool_args.get("line")
        if not name:
            return {"success": True, "lines": [line_status(ref) for ref in tracked_lines(hass)]}
        try:
            ref = find_line(hass, name)
        except AssistantError as err:
            return _error(await err.async_text(hass, llm_context.language or "en"))
        return {"success": True, "lines": [line_status(ref)]}


class RenewLineTool(llm.Tool):
    """Renew a prepaid line: first a quote, then a call with confirm after the user agreed."""

    name = f"{DOMAIN}__renew_line"
    description = (
        "Renew (top up) a prepaid SIM line; this spends money. Call it first without "
        "'confirm' to get the package and price, tell the user and ask them to confirm. Only "
        "after the user explicitly agreed, call it again with confirm set to true."
    )
    parameters = probatio.Schema(
        {probatio.Required("line"): str, probatio.Optional("confirm"): bool}
    )
    annotations = llm.ToolAnnotations(
        read_only=False, destructive=True, idempotent=False, open_world=True
    )
    integration = DOMAIN

    @override
    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> JsonObjectType:
        """Quote, or renew what was quoted in this conversation."""
        language = llm_context.language or "en"
        # A quote is confirmed only by the same user in the same conversation's device.
        who = Requester(
            kind=CallerKind.ASSISTANT,
            user_id=llm_context.context.user_id if llm_context.context else None,
            device_id=llm_context.device_id,
        )
        try:
            ref = find_line(hass, tool_input.tool_args["line"])
            if tool_input.tool_args.get("confirm"):
                result = await async_confirm(hass, who, ref)
                return {"success": True, "renewed": True, "order": result.as_response()}
            quote = await async_quote(hass, ref, who)
        except AssistantError as err:
            return _error(await err.async_text(hass, language))
        except HomeAssistantError as err:
            return _error(str(err))
        return {
            "success": True,
            "renewed": False,
            "line": ref.name,
            "package": quote.package.name,
            "price": str(quote.price),
            "next_step": "Ask the user to confirm; then call again with confirm: true.",
        }
