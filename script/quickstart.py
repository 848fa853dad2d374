"""Bring a fresh Home Assistant to a usable demo, through its own supported APIs.

Waits for Home Assistant to answer, completes onboarding (owner account), creates a
long-lived access token for scripts, and adds the Prepaid SIM demo account with all of its
lines through the config-flow endpoints, exactly as a person would in the UI. Safe to run
again: every step is skipped when already done.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
import sys
import time
from typing import Any

import aiohttp
from demo_dashboard import (
    DASHBOARD_FIELDS,
    DASHBOARD_URL_PATH,
    dashboard_config,
    is_unlimited,
    slug,
)

CLIENT_ID = "http://localhost:8123/"
DOMAIN = "prepaid_sim"


class HomeAssistantClient:
    """The few REST and websocket calls the quick start needs."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        """Talk to Home Assistant at ``base``."""
        self.session = session
        self.base = base
        self.token: str | None = None

    async def wait_until_up(self, timeout: float) -> None:
        """Wait until the HTTP server answers (onboarding open: 200; finished: 404)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                async with self.session.get(f"{self.base}/api/onboarding") as response:
                    if response.status in (200, 404):
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                sys.exit(f"Home Assistant did not answer at {self.base} within {timeout:.0f} s")
            await asyncio.sleep(1)

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API with the access token; return the JSON answer."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.request(
            method, f"{self.base}{path}", headers=headers, **kwargs
        ) as response:
            body = await response.json(content_type=None)
            if response.status >= 400:
                sys.exit(f"{method} {path} failed with {response.status}: {body}")
            return body

    async def exchange_code(self, code: str) -> None:
        """Turn an authorization code into an access token."""
        data = {"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID}
        tokens = await self.request("POST", "/auth/token", data=data)
        self.token = tokens["access_token"]

    async def onboarding_steps(self) -> list[dict[str, Any]]:
        """Return the onboarding steps; none once onboarding is finished (404)."""
        async with self.session.get(f"{self.base}/api/onboarding") as response:
            return [] if response.status == 404 else list(await response.json())

    async def onboard_or_login(self, username: str, password: str) -> None:
        """Create the owner on first start; log in as the owner afterwards."""
        steps = await self.onboarding_steps()
        if steps and not next(step["done"] for step in steps if step["step"] == "user"):
            answer = await self.request(
                "POST",
                "/api/onboarding/users",
                json={
                    "client_id": CLIENT_ID,
                    "name": "Demo owner",
                    "username": username,
                    "password": password,
                    "language": "en",
                },
            )
            await self.exchange_code(answer["auth_code"])
        else:
            await self.login(username, password)
        done = {step["step"] for step in await self.onboarding_steps() if step["done"]}
        if not done:
            return  # onboarding finished on an earlier run
        if "core_config" not in done:
            await self.request("POST", "/api/onboarding/core_config", json={})
        if "analytics" not in done:
            await self.request("POST", "/api/onboarding/analytics", json={})
        if "integration" not in done:
            await self.request(
                "POST",
                "/api/onboarding/integration",
                json={"client_id": CLIENT_ID, "redirect_uri": f"{CLIENT_ID}?auth_callback=1"},
            )

    async def login(self, username: str, password: str) -> None:
        """Log in through the login flow, as the web page does."""
        flow = await self.request(
            "POST",
            "/auth/login_flow",
            json={
                "client_id": CLIENT_ID,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{CLIENT_ID}?auth_callback=1",
            },
        )
        result = await self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            json={"client_id": CLIENT_ID, "username": username, "password": password},
        )
        if result.get("type") != "create_entry":
            sys.exit(f"Could not log in as {username}: {result.get('errors')}")
        await self.exchange_code(result["result"])

    async def ws(self, message_type: str, **payload: Any) -> Any:
        """Send one websocket command and return its result."""
        async with self.session.ws_connect(f"{self.base}/api/websocket") as ws:
            await ws.receive_json()
            await ws.send_json({"type": "auth", "access_token": self.token})
            if (await ws.receive_json())["type"] != "auth_ok":
                sys.exit("The websocket API refused the access token")
            await ws.send_json({"id": 1, "type": message_type, **payload})
            answer = await ws.receive_json()
            if not answer.get("success"):
                sys.exit(f"{message_type} failed: {answer.get('error')}")
            return answer["result"]

    async def long_lived_token(self) -> str:
        """Create a long-lived access token over the websocket API."""
        token = await self.ws(
            "auth/long_lived_access_token",
            client_name=f"Prepaid SIM quick start {int(time.time())}",
            lifespan=3650,
        )
        return str(token)

    async def add_dashboard(self) -> None:
        """Create the "Prepaid SIM" dashboard for the demo lines, unless it exists."""
        dashboards = await self.ws("lovelace/dashboards/list")
        if any(board["url_path"] == DASHBOARD_URL_PATH for board in dashboards):
            return
        entries = await self.request("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
        lines = await self.ws("config_entries/subentries/list", entry_id=entries[0]["entry_id"])
        states = {
            state["entity_id"]: state["state"] for state in await self.request("GET", "/api/states")
        }
        devices = {
            device.get("name_by_user") or device["name"]: device["id"]
            for device in await self.ws("config/device_registry/list")
            if entries[0]["entry_id"] in device["config_entries"]
        }
        config = dashboard_config(
            [
                (
                    line["title"],
                    is_unlimited(states.get(f"sensor.{slug(line['title'])}_data_allowance")),
                    devices[line["title"]],
                )
                for line in lines
            ]
        )
        await self.ws("lovelace/dashboards/create", **DASHBOARD_FIELDS)
        await self.ws("lovelace/config/save", url_path=DASHBOARD_URL_PATH, config=config)

    async def add_demo_account(self) -> None:
        """Add the demo account with every line, through the config-flow endpoints."""
        entries = await self.request("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
        if not entries:
            flow = await self.request(
                "POST", "/api/config/config_entries/flow", json={"handler": DOMAIN}
            )
            flow = await self.request(
                "POST",
                f"/api/config/config_entries/flow/{flow['flow_id']}",
                json={"provider": "demo"},
            )
            first = flow["data_schema"][0]["selector"]["select"]["options"][0]["value"]
            flow = await self.request(
                "POST",
                f"/api/config/config_entries/flow/{flow['flow_id']}",
                json={"line_id": first},
            )
            entries = await self.request("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
        entry_id = entries[0]["entry_id"]
        while True:
            # Each added line reloads the account; the next line waits until it is back.
            await self.wait_until_loaded(entry_id)
            flow = await self.request(
                "POST",
                "/api/config/config_entries/subentries/flow",
                json={"handler": [entry_id, "line"]},
            )
            if flow["type"] == "abort" and flow["reason"] == "all_lines_configured":
                return
            if flow["type"] != "form":
                continue  # the account was reloading; try again once it is loaded
            line_id = flow["data_schema"][0]["selector"]["select"]["options"][0]["value"]
            await self.request(
                "POST",
                f"/api/config/config_entries/subentries/flow/{flow['flow_id']}",
                json={"line_id": line_id},
            )

    async def wait_until_loaded(self, entry_id: str, timeout: float = 60) -> None:
        """Wait until the config entry is loaded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entries = await self.request("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
            if any(e["entry_id"] == entry_id and e["state"] == "loaded" for e in entries):
                return
            await asyncio.sleep(0.5)
        sys.exit("The demo account did not load; see Home Assistant's log")

    async def wait_for_sensors(self, timeout: float) -> int:
        """Wait until every tracked line's sensor has a value; return how many lines."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = await self.request("GET", "/api/states")
            ready = [
                s
                for s in states
                if s["entity_id"].endswith("_data_remaining") and s["state"] != "unavailable"
            ]
            entries = await self.request("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
            tracked = sum(int(e.get("num_subentries", 0)) for e in entries)
            if ready and len(ready) >= tracked:
                return len(ready)
            await asyncio.sleep(1)
        sys.exit("The demo lines' sensors did not get values in time")


async def main() -> None:
    """Run the quick start."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://localhost:8123")
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default="demo-password")
    parser.add_argument("--token-file", type=Path, default=Path(".ha-token"))
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args()

    async with aiohttp.ClientSession() as session:
        client = HomeAssistantClient(session, args.url)
        await client.wait_until_up(args.timeout)
        await client.onboard_or_login(args.username, args.password)
        args.token_file.write_text(await client.long_lived_token() + "\n", encoding="utf-8")
        args.token_file.chmod(0o600)
        await client.add_demo_account()
        count = await client.wait_for_sensors(60)
        await client.add_dashboard()
    print(
        f"\nHome Assistant is running at {args.url}\n"
        f"  login:    {args.username} / {args.password}\n"
        f"  token:    {args.token_file} (long-lived, for the REST API)\n"
        f"  demo:     {count} Prepaid SIM lines with live sensors\n"
        f"  board:    {args.url}/{DASHBOARD_URL_PATH} (the Prepaid SIM dashboard)\n"
        f'  try:      curl -s -H "Authorization: Bearer $(cat {args.token_file})" '
        f"{args.url}/api/states | head -c 400\n",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
