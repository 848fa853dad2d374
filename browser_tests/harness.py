"""Run the real Home Assistant of ``script/run`` and drive it: REST, websocket and browser.

Shared by the browser tests (``browser_tests/``) and ``script/screenshots``.

Each run starts ``script/run`` in a fresh project folder under ``.run/`` (its ``script/``,
``custom_components``, ``pyproject.toml`` and ``uv.lock`` are links to this checkout), so it
onboards a new owner every time and never touches the ``.run/config`` of a person's own
``script/run``. Home Assistant runs from its own environment, ``.run/venv``: ``script/run``
syncs the ``run`` group exactly, which would otherwise uninstall Playwright from the
environment the test itself runs in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import contextlib
import os
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

REPO = Path(__file__).resolve().parents[1]
URL = "http://localhost:8123"
PORT = 8123
USERNAME = "demo"
PASSWORD = "demo-password"  # noqa: S105 - the demo owner script/run creates
DOMAIN = "prepaid_sim"

# Home Assistant's own environment for these runs.
HA_VENV = REPO / ".run" / "venv"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}

READY_MESSAGE = "Home Assistant is running at"


class HarnessError(AssertionError):
    """Something the run depends on did not happen; the message says what."""


def _uv_env() -> dict[str, str]:
    """Return the environment for uv commands that target Home Assistant's environment."""
    env = dict(os.environ)
    env["UV_PROJECT_ENVIRONMENT"] = str(HA_VENV)
    # The caller's own `uv run` sets these for *its* environment; they must not leak.
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    return env


def _port_in_use(port: int) -> bool:
    """Return True if something accepts connections on localhost:port."""
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            with contextlib.suppress(OSError):
                if sock.connect_ex((host, port)) == 0:
                    return True
    return False


class HomeAssistantRun:
    """One ``script/run`` in a fresh project folder ``.run/<name>``; stop() ends it."""

    def __init__(self, name: str) -> None:
        """Prepare to run in ``.run/<name>``."""
        self.project = REPO / ".run" / name
        self.log_path = self.project / "script-run.log"
        self.token_path = self.project / ".ha-token"
        self.config_path = self.project / ".run" / "config"
        self.process: subprocess.Popen[bytes] | None = None

    def log_tail(self, lines: int = 60) -> str:
        """Return the end of script/run's output."""
        if not self.log_path.exists():
            return "(no output)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _prepare(self) -> None:
        """Create the project folder: links to this checkout, no Home Assistant state."""
        shutil.rmtree(self.project, ignore_errors=True)
        (self.project / "script").mkdir(parents=True)
        for name in ("pyproject.toml", "uv.lock", "custom_components"):
            (self.project / name).symlink_to(REPO / name)
        for name in (
            "run",
            "python-env",
            "ensure-uv",
            "quickstart.py",
            "demo_dashboard.py",
            "configuration.yaml",
        ):
            (self.project / "script" / name).symlink_to(REPO / "script" / name)

    def start(self, timeout: float = 300, *, fresh: bool = True) -> str:
        """Start script/run and wait until Home Assistant runs; return the access token.

        ``fresh=False`` runs it again in the same folder, as a user who pressed Ctrl+C and
        reran ``script/run`` to continue where they left.
        """
        if _port_in_use(PORT):
            raise HarnessError(
                f"Port {PORT} is already in use: stop the other Home Assistant "
                "(script/run, script/screenshots or a browser test) first."
            )
        if fresh:
            self._prepare()
        env = _uv_env()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own script
                [str(self.project / "script" / "run")],
                cwd=self.project,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() ends all of it
            )
        deadline = time.monotonic() + timeout
        token = self._wait_for_quickstart(deadline)
        api = HomeAssistantApi(URL, token)
        try:
            api.wait_for(
                lambda: api.rest("GET", "/api/config")["state"] == "RUNNING",
                deadline - time.monotonic(),
                "Home Assistant to finish starting (state RUNNING)",
            )
        finally:
            api.close()
        return token

    def _wait_for_quickstart(self, deadline: float) -> str:
        """Wait until script/run reports the demo is ready; return the token."""
        assert self.process is not None
        while True:
            if self.process.poll() is not None:
                raise HarnessError(
                    f"script/run exited with {self.process.returncode} before Home Assistant "
                    f"was ready. Its output ends with:\n{self.log_tail()}"
                )
            if READY_MESSAGE in self.log_path.read_text(errors="replace"):
                return self.token_path.read_text(encoding="utf-8").strip()
            if time.monotonic() > deadline:
                raise HarnessError(
                    "script/run did not report Home Assistant ready in time. "
                    f"Its output ends with:\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def restart(self) -> None:
        """Stop Home Assistant as Ctrl+C would and run script/run again in the same folder."""
        self.stop()
        self.start(fresh=False)

    def stop(self, timeout: float = 30) -> None:
        """Stop script/run and everything it started (its whole process group).

        Home Assistant is first asked to stop through its own Stop action, which writes
        every delayed save (a dashboard just created, say) before it exits; a signal to
        the process group can end it before they are written. A signal follows only if
        it has not exited in time.
        """
        if self.process is None:
            return
        pgid = self.process.pid
        if not self._ask_to_stop() or not self._wait_for_group(pgid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            if not self._wait_for_group(pgid, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def _ask_to_stop(self) -> bool:
        """Call ``homeassistant.stop``; return False when Home Assistant could not be asked."""
        if not self.token_path.exists():
            return False
        api = HomeAssistantApi(URL, self.token_path.read_text(encoding="utf-8").strip())
        try:
            api.rest("POST", "/api/services/homeassistant/stop", {})
        except Exception:  # noqa: BLE001 - already stopping or never started: signal it
            return False
        finally:
            with contextlib.suppress(Exception):
                api.close()
        return True

    def _wait_for_group(self, pgid: int, timeout: float) -> bool:
        """Wait until no process of the group is left; return False on timeout."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.process.poll()
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.2)
        return False


class HomeAssistantApi:
    """Blocking REST and websocket calls, run on an event loop in a helper thread.

    (Playwright's sync API owns the main thread's event loop.)
    """

    def __init__(self, url: str, token: str) -> None:
        """Talk to Home Assistant at ``url`` with ``token``."""
        self.url = url
        self.token = token
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._next_id = 1

    def _run[T](self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run ``coro`` on the helper loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"})
        return self._session

    async def _rest(self, method: str, path: str, payload: Any) -> Any:
        session = await self._get_session()
        async with session.request(method, f"{self.url}{path}", json=payload) as response:
            body = await response.json(content_type=None)
            if response.status >= 400:
                raise HarnessError(f"{method} {path} answered {response.status}: {body}")
            return body

    def rest(self, method: str, path: str, payload: Any = None) -> Any:
        """Call the REST API; return the JSON answer."""
        return self._run(self._rest(method, path, payload))

    async def _ws_call(self, message: dict[str, Any]) -> Any:
        if self._ws is None or self._ws.closed:
            session = await self._get_session()
            self._ws = await session.ws_connect(f"{self.url}/api/websocket")
            await self._ws.receive_json()
            await self._ws.send_json({"type": "auth", "access_token": self.token})
            if (answer := await self._ws.receive_json())["type"] != "auth_ok":
                raise HarnessError(f"The websocket API refused the token: {answer}")
        message_id = self._next_id
        self._next_id += 1
        await self._ws.send_json({"id": message_id, **message})
        while True:
            answer = await self._ws.receive_json()
            if answer.get("id") == message_id and answer.get("type") == "result":
                if not answer["success"]:
                    raise HarnessError(f"Websocket {message['type']} failed: {answer['error']}")
                return answer.get("result")

    def ws(self, message_type: str, **fields: Any) -> Any:
        """Send one websocket command; return its result."""
        return self._run(self._ws_call({"type": message_type, **fields}))

    async def _drop_connections(self) -> None:
        """Close the websocket and the session; the next call opens new ones."""
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        self._ws = None
        self._session = None

    def reconnect(self) -> None:
        """Drop the connections (Home Assistant restarted)."""
        self._run(self._drop_connections())

    def close(self) -> None:
        """Close the connections and the helper loop."""
        self._run(self._drop_connections())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    # Conveniences.

    def states(self) -> dict[str, dict[str, Any]]:
        """Return every state, by entity id."""
        return {state["entity_id"]: state for state in self.rest("GET", "/api/states")}

    def state(self, entity_id: str) -> dict[str, Any] | None:
        """Return one state, or None if the entity does not exist."""
        return self.states().get(entity_id)

    def wait_for[T](self, check: Callable[[], T], timeout: float, what: str) -> T:
        """Poll ``check`` until it returns something truthy; fail saying ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            try:
                if result := check():
                    return result
            except (HarnessError, aiohttp.ClientError, KeyError, TimeoutError) as err:
                last_error = err
            if time.monotonic() > deadline:
                detail = f" (last error: {last_error})" if last_error else ""
                raise HarnessError(f"Timed out after {timeout:.0f} s waiting for {what}{detail}")
            time.sleep(0.5)

    def entry_id(self) -> str:
        """Return the Prepaid SIM config entry's id (the demo account)."""
        entries = self.rest("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
        if not entries:
            raise HarnessError("script/run did not add a Prepaid SIM account")
        return str(entries[0]["entry_id"])

    def entry_loaded(self) -> bool:
        """Return True when the demo account is loaded."""
        entries = self.rest("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
        return bool(entries) and entries[0]["state"] == "loaded"

    def subentries(self) -> dict[str, str]:
        """Return the tracked lines: subentry id by title."""
        listed = self.ws("config_entries/subentries/list", entry_id=self.entry_id())
        return {item["title"]: item["subentry_id"] for item in listed}

    def ensure_all_lines(self, timeout: float = 60) -> None:
        """Track every line of the demo account, through the subentry flow's REST API."""
        entry_id = self.entry_id()
        deadline = time.monotonic() + timeout
        while True:
            self.wait_for(
                self.entry_loaded, deadline - time.monotonic(), "the Prepaid SIM account to load"
            )
            flow = self.rest(
                "POST",
                "/api/config/config_entries/subentries/flow",
                {"handler": [entry_id, "line"]},
            )
            if flow["type"] == "abort" and flow["reason"] == "all_lines_configured":
                return
            if flow["type"] == "form":
                line_id = flow["data_schema"][0]["selector"]["select"]["options"][0]["value"]
                self.rest(
                    "POST",
                    f"/api/config/config_entries/subentries/flow/{flow['flow_id']}",
                    {"line_id": line_id},
                )
            elif flow.get("reason") != "entry_not_loaded":
                raise HarnessError(f"Adding the demo lines failed: {flow}")
            if time.monotonic() > deadline:
                raise HarnessError("Could not add every demo line in time")

    def device_id(self, name: str) -> str:
        """Return the id of the device named ``name`` (a line)."""
        devices = self.ws("config/device_registry/list")
        for device in devices:
            if (device.get("name_by_user") or device.get("name")) == name:
                return str(device["id"])
        raise HarnessError(f"No device named {name!r}")


def launch_browser(playwright: Playwright) -> Browser:
    """Launch the system's Chromium, headless (Playwright's own download is not used)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


FRONTEND_READY = """() => {
    const ha = document.querySelector("home-assistant");
    return Boolean(ha && ha.hass && ha.hass.connected && ha.hass.user
        && Object.keys(ha.hass.states).length > 0 && ha.hass.services
        && ha.hass.services.prepaid_sim);
}"""


def login(page: Page, username: str = USERNAME, password: str = PASSWORD) -> None:
    """Log in through Home Assistant's own login page and wait for the frontend."""
    page.goto(URL)
    page.wait_for_url("**/auth/authorize?**")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/auth/" not in url and "auth_callback" not in url)
    page.wait_for_function(FRONTEND_READY)


def wait_for_frontend(page: Page) -> None:
    """Wait until the frontend is connected and has its states and actions."""
    page.wait_for_function(FRONTEND_READY)
