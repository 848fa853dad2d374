"""One benchmark run of script/bench.py: Home Assistant in this process, one way of reading N lines.

Sides (``--side``):

``ours``
    Prepaid SIM with an eSIM Access account tracking every line.
``rest_per_line``
    (b1) the built-in ``rest:`` integration, one resource per line (``esim/query`` with the
    line's esimTranNo) with six sensors each, plus one ``balance/query`` resource.
``rest_single_tpl``
    (b2) one ``esim/query`` resource per page of 500 holding the list as an attribute, and
    six ``template:`` sensors per line that pick the line out of that attribute.
``rest_keyed_tpl``
    (b3) the same page resources, ONE ``template:`` sensor whose attribute maps each line id
    to its fields, and six ``template:`` sensors per line that look their line up in it.
``rest_single_rest``
    (b2, other form) the same page resources, with the six sensors of each line directly
    under the page resource that holds the line, picking it out of ``value_json``.
``ours_esimgo``, ``ours_airalo``, ``ours_onence``
    Prepaid SIM with an eSIM Go, Airalo or 1NCE account tracking every line (Airalo's
    client on a simulated clock that moves 5 minutes per refresh).

Passes, each in a fresh Home Assistant instance: ``main`` (emulator 429s off, client
limiter bypassed: setup, requests, CPU, state writes, profile), ``limits`` (the emulator's
rate limit on and the client limiter as shipped: wall time, 429s) and ``memory``
(tracemalloc). The result is written as JSON to ``--result``. With ``--profile`` and
``BENCH_PROFILE_DUMP=PREFIX`` in the environment, each profiled scenario's raw cProfile
stats are also written to ``PREFIX-<side>-<lines>-<scenario>.prof``.
"""

# Imported before anything pulls in ``unittest``: Home Assistant then arms every
# blocking-call check, including those it skips under test runners.
from homeassistant import block_async_io  # isort: skip

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import cProfile
from dataclasses import dataclass, field
import gc
import io
import json
import logging
import math
import os
from pathlib import Path
import pstats
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from typing import TYPE_CHECKING, Any, Self

import aiohttp
from aiohttp import ThreadedResolver
import orjson

from homeassistant.config_entries import SOURCE_RECONFIGURE
from homeassistant.const import (
    EVENT_HOMEASSISTANT_FINAL_WRITE,
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import aiohttp_client, entity_registry as er, frame, translation
from homeassistant.helpers.entity_platform import async_get_platforms
from homeassistant.setup import async_setup_component

ROOT = Path(__file__).resolve().parent.parent
# The repository first on sys.path: ``custom_components`` must be ours, not the package of
# the same name pytest-homeassistant-custom-component ships.
sys.path.insert(0, str(ROOT))

from pytest_homeassistant_custom_component.common import MockConfigEntry, async_test_home_assistant  # noqa: E402

from homeassistant import loader  # noqa: E402

from custom_components.prepaid_sim.const import (  # noqa: E402
    CONF_BASE_URL,
    CONF_LINE_ID,
    CONF_PROVIDER,
    DOMAIN,
    SUBENTRY_TYPE_LINE,
)
from custom_components.prepaid_sim.providers import airalo, esimaccess, esimgo, onence, shared  # noqa: E402
from custom_components.prepaid_sim.providers.esimaccess.parse import (  # noqa: E402
    account_id as esimaccess_account_id,
)
from custom_components.prepaid_sim.providers.ratelimit import RateLimiter, shared_rate_limiter  # noqa: E402

if TYPE_CHECKING:
    # Only for types: the baselines' processes must not import more of ours than they need.
    from custom_components.prepaid_sim.runtime import PrepaidSimData

ACCESS_CODE = "test-access-code"
ESIMGO_KEY = "esimgo-test-key"
AIRALO_CLIENT = ("airalo-test-client", "airalo-test-secret")
ONENCE_CLIENT = ("1nce-api-user", "1nce-api-password")
PAGE_SIZE = 500
# The six values both sides give every line.
KEYS = ("data_remaining", "data_used", "data_total", "plan_expiry", "status", "balance")
# Far beyond any test: the timers never refresh on their own while we measure.
SCAN_INTERVAL = 1800
UNLIMITED = 10**9
# The share of lines whose usage moves in the "some changed" scenario: the lines in use.
SOME_CHANGED = 0.1
# The timed scenarios: the share of lines changed before each refresh.
SCENARIOS = {"unchanged": 0.0, "some_changed": SOME_CHANGED, "changed": 1.0}
_STATUS_MAP = (
    "{'IN_USE': 'active', 'USED_UP': 'depleted', 'USED_EXPIRED': 'expired',"
    " 'UNUSED_EXPIRED': 'expired', 'CANCEL': 'suspended', 'REVOKED': 'suspended',"
    " 'SUSPENDED': 'suspended', 'GOT_RESOURCE': 'not_active'}"
)
# What a line's sensor shows, given ``e`` (its esimList record): the RESTful user's templates.
_VALUE_OF: dict[str, str] = {
    "data_remaining": "[e.totalVolume - e.orderUsage, 0] | max",
    "data_used": "e.orderUsage",
    "data_total": "e.totalVolume",
    "plan_expiry": "as_datetime(e.expiredTime)",
    "status": f"{_STATUS_MAP}.get(e.esimStatus, 'unknown')",
}
_SENSOR_OPTIONS: dict[str, dict[str, Any]] = {
    "data_remaining": {"device_class": "data_size", "unit_of_measurement": "B"},
    "data_used": {"device_class": "data_size", "unit_of_measurement": "B"},
    "data_total": {"device_class": "data_size", "unit_of_measurement": "B"},
    "plan_expiry": {"device_class": "timestamp"},
    "status": {},
    "balance": {"device_class": "monetary", "unit_of_measurement": "USD"},
}

LOGGER = logging.getLogger("bench")


# --- logging: the blocking-call detector and every other complaint ------------------------


class _Capture(logging.Handler):
    """Keep every warning and error Home Assistant logs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def summary(self, first: int = 0) -> dict[str, Any]:
        """Return the blocking-call reports and the other warnings (first line of each)."""
        blocking, other = [], []
        for record in self.records[first:]:
            text = record.getMessage().splitlines()[0][:300]
            if "blocking call" in text.lower():
                blocking.append(text)
            else:
                other.append(f"{record.levelname} {record.name}: {text}")
        return {"blocking": blocking, "warnings": other}


# --- Home Assistant in-process ------------------------------------------------------------


def _plain_resolver(hass: HomeAssistant) -> ThreadedResolver:
    """Resolve names without zeroconf (the emulators are on 127.0.0.1 anyway)."""
    resolver = ThreadedResolver()
    resolver.real_close = resolver.close  # type: ignore[attr-defined]
    return resolver


# Home Assistant's resolver needs the network and zeroconf integrations, which would open
# multicast sockets; the pytest harness swaps it the same way.
aiohttp_client._async_make_resolver = _plain_resolver  # type: ignore[assignment]  # noqa: SLF001


@contextlib.asynccontextmanager
async def running_hass() -> AsyncIterator[HomeAssistant]:
    """Start a Home Assistant (as the pytest harness builds it) in a fresh config dir.

    Nothing the clients share within the event loop (limiters, Airalo's cached readings)
    survives from an earlier pass: each pass starts like a fresh Home Assistant process.
    """
    shared._objects.pop(asyncio.get_running_loop(), None)  # noqa: SLF001
    config_dir = await asyncio.to_thread(tempfile.mkdtemp, prefix="bench-ha-")
    try:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            # Load custom integrations (ours) like enable_custom_integrations does.
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            frame.async_setup(hass)
            await translation.async_load_integrations(hass, {"homeassistant"})
            try:
                yield hass
            finally:
                for entry in hass.config_entries.async_entries():
                    with contextlib.suppress(Exception):
                        await hass.config_entries.async_unload(entry.entry_id)
                await hass.async_stop(force=True)
    finally:
        await asyncio.to_thread(shutil.rmtree, config_dir, ignore_errors=True)


@dataclass
class Readiness:
    """When each entity first had a state, and first had a real value."""

    start: float = field(default_factory=time.perf_counter)
    seen: dict[str, float] = field(default_factory=dict)
    valued: dict[str, float] = field(default_factory=dict)

    @callback
    def on_state(self, event: Event[Any]) -> None:
        """Note the first state and the first real value of each entity."""
        now = time.perf_counter()
        entity_id = event.data["entity_id"]
        new = event.data["new_state"]
        if new is None:
            return
        self.seen.setdefault(entity_id, now)
        if new.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE):
            self.valued.setdefault(entity_id, now)

    def ready_after(self, hass: HomeAssistant, entity_ids: list[str]) -> float | None:
        """Seconds until every entity had its value.

        Final unknowns count once they exist, and so do final unavailables (a line the
        provider no longer returns, such as a recycled Airalo eSIM).
        """
        times = []
        for entity_id in entity_ids:
            state = hass.states.get(entity_id)
            if state is None:
                return None
            moment = (
                self.seen.get(entity_id)
                if state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE)
                else self.valued.get(entity_id)
            )
            if moment is None:
                return None
            times.append(moment)
        return max(times) - self.start if times else None


@dataclass
class Counters:
    """State writes: changed states and unchanged re-writes (state_reported)."""

    changed: int = 0
    reported: int = 0

    @callback
    def on_changed(self, _event: Event[Any]) -> None:
        """Count a changed state."""
        self.changed += 1

    @callback
    def on_reported(self, _event: Event[Any]) -> None:
        """Count a state written again unchanged."""
        self.reported += 1


class Emulator:
    """The emulator process's control port."""

    def __init__(self, session: aiohttp.ClientSession, control_url: str) -> None:
        """Talk to the control port at ``control_url``."""
        self.session = session
        self.control_url = control_url

    async def stats(self) -> dict[str, Any]:
        """Return the requests received so far (total, per endpoint) and the 429s."""
        async with self.session.get(f"{self.control_url}/stats") as response:
            return await response.json()

    async def requests(self) -> int:
        """Return how many API requests the emulator received so far."""
        return int((await self.stats())["requests"])

    async def bump(self, share: float) -> None:
        """Make the usage of ``share`` of the lines grow (1.0: every line)."""
        async with self.session.post(f"{self.control_url}/bump", json={"share": share}) as response:
            await response.read()

    async def rate_limit(self, value: int | None) -> None:
        """Turn the emulator's 429s on (requests per second) or off (None)."""
        async with self.session.post(
            f"{self.control_url}/rate_limit", json={"value": value}
        ) as response:
            await response.read()


def rss_bytes() -> int:
    """Return this process's resident set size."""
    with Path("/proc/self/statm").open(encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def limiter_for(side: str, base_url: str) -> tuple[RateLimiter, int]:
    """Return the client's shared limiter for the emulator and its shipped capacity."""
    if side == "ours_airalo":
        limiter = shared_rate_limiter(
            f"airalo {base_url}", airalo.REQUESTS_PER_SECOND, period=airalo.RATE_WINDOW_SECONDS
        )
        return limiter, airalo.REQUESTS_PER_SECOND
    if side == "ours_onence":
        limiter = shared_rate_limiter(
            f"onence {base_url} {ONENCE_CLIENT[0]}",
            onence.SIMS_REQUESTS_PER_SECOND,
            period=onence.SIMS_WINDOW_SECONDS,
        )
        return limiter, onence.SIMS_REQUESTS_PER_SECOND
    if side == "ours_esimgo":
        limiter = shared_rate_limiter(
            f"esimgo {base_url}", esimgo.RATE_LIMIT_PER_SECOND, period=esimgo.RATE_WINDOW_SECONDS
        )
        return limiter, esimgo.RATE_LIMIT_PER_SECOND
    limiter = shared_rate_limiter(
        f"esimaccess {base_url}",
        esimaccess.REQUESTS_PER_SECOND,
        period=getattr(esimaccess, "RATE_WINDOW_SECONDS", 1.0),
    )
    return limiter, esimaccess.REQUESTS_PER_SECOND


def set_limiter(limiter: RateLimiter, capacity: int) -> None:
    """Set the shared limiter's requests per window (``UNLIMITED`` bypasses it)."""
    limiter._capacity = capacity  # noqa: SLF001
    limiter._starts.clear()  # noqa: SLF001
    limiter._blocked_until = 0.0  # noqa: SLF001


# --- the sides ----------------------------------------------------------------------------


@dataclass
class Setup:
    """A side set up in a Home Assistant: what to refresh and which entities to watch."""

    refresh: Callable[[], Awaitable[None]]
    background: Callable[[], Awaitable[None]]
    # Fills the fields below: the benchmark's own bookkeeping (at 1,000 lines it scans
    # 17,000 registry entries), run after the setup's loop-lag window, not inside it.
    describe: Callable[[Setup], None]
    entity_ids: list[str] = field(default_factory=list)
    entities: int = 0
    resources: int = 0
    # Of ``entities``, those enabled (None: all of them, as for the RESTful sides).
    enabled: int | None = None


def _rest_resource(
    base_url: str, endpoint: str, payload: dict[str, Any], sensors: list[dict[str, Any]]
) -> dict[str, Any]:
    """Return one ``rest:`` resource as a user writes it for eSIM Access."""
    return {
        "resource": f"{base_url}/api/v1/open/{endpoint}",
        "method": "POST",
        "headers": {"RT-AccessCode": ACCESS_CODE, "Content-Type": "application/json"},
        "payload": json.dumps(payload),
        "scan_interval": SCAN_INTERVAL,
        "timeout": 30,
        "sensor": sensors,
    }


def _entity_id(line_id: str, key: str) -> str:
    return f"sensor.esim_{line_id}_{key}"


def _line_sensor(line_id: str, key: str, template: str) -> dict[str, Any]:
    return {"name": f"esim {line_id} {key}", "value_template": template, **_SENSOR_OPTIONS[key]}


def _balance_sensors(line_ids: list[str]) -> list[dict[str, Any]]:
    """One balance sensor per line, read from the balance/query resource."""
    return [
        _line_sensor(line_id, "balance", "{{ value_json.obj.balance / 10000 }}")
        for line_id in line_ids
    ]


def _page_payload(page: int) -> dict[str, Any]:
    return {"orderNo": "", "iccid": "", "pager": {"pageNum": page, "pageSize": PAGE_SIZE}}


def rest_config(side: str, base_url: str, line_ids: list[str]) -> dict[str, Any]:
    """Return the ``rest:`` (and ``template:``) configuration of a RESTful side."""
    pages = max(1, math.ceil(len(line_ids) / PAGE_SIZE))
    if side == "rest_per_line":
        resources = [_rest_resource(base_url, "balance/query", {}, _balance_sensors(line_ids))]
        for line_id in line_ids:
            payload = {
                "orderNo": "",
                "iccid": "",
                "esimTranNo": line_id,
                "pager": {"pageNum": 1, "pageSize": 5},
            }
            sensors = [
                _line_sensor(
                    line_id, key, f"{{% set e = value_json.obj.esimList[0] %}}{{{{ {value} }}}}"
                )
                for key, value in _VALUE_OF.items()
            ]
            resources.append(_rest_resource(base_url, "esim/query", payload, sensors))
        return {"rest": resources}
    if side == "rest_single_rest":
        resources = [_rest_resource(base_url, "balance/query", {}, _balance_sensors(line_ids))]
        for page in range(1, pages + 1):
            # Each line under the page that holds it now: fragile, a shifted list moves it.
            on_page = line_ids[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
            sensors = [
                _line_sensor(
                    line_id,
                    key,
                    "{% set e = value_json.obj.esimList | selectattr('esimTranNo', 'eq', '"
                    + line_id
                    + "') | first %}{{ "
                    + value
                    + " }}",
                )
                for line_id in on_page
                for key, value in _VALUE_OF.items()
            ]
            resources.append(_rest_resource(base_url, "esim/query", _page_payload(page), sensors))
        return {"rest": resources}
    if side == "rest_keyed_tpl":
        return keyed_config(base_url, line_ids)
    # rest_single_tpl: the list as an attribute of one sensor per page, template sensors.
    every_page = " + ".join(
        f"(state_attr('sensor.esim_access_page_{page}', 'esimList') or [])"
        for page in range(1, pages + 1)
    )
    templates = []
    for line_id in line_ids:
        pick = (
            f"{{% set e = ({every_page}) | selectattr('esimTranNo', 'eq', '{line_id}')"
            " | first | default(none) %}"
        )
        for key, value in _VALUE_OF.items():
            templates.append(
                {
                    "name": f"esim {line_id} {key}",
                    "state": f"{pick}{{{{ ({value}) if e else none }}}}",
                    **_SENSOR_OPTIONS[key],
                }
            )
        templates.append(
            {
                "name": f"esim {line_id} balance",
                "state": "{{ states('sensor.esim_access_balance') | float(none) }}",
                **_SENSOR_OPTIONS["balance"],
            }
        )
    return {"rest": _list_resources(base_url, pages), "template": [{"sensor": templates}]}


def _list_resources(base_url: str, pages: int) -> list[dict[str, Any]]:
    """Return the balance resource and the esim/query page resources (list as an attribute)."""
    resources = [
        _rest_resource(
            base_url,
            "balance/query",
            {},
            [
                {
                    "name": "esim access balance",
                    "value_template": "{{ value_json.obj.balance / 10000 }}",
                }
            ],
        )
    ]
    resources.extend(
        _rest_resource(
            base_url,
            "esim/query",
            _page_payload(page),
            [
                {
                    "name": f"esim access page {page}",
                    "value_template": "{{ value_json.obj.pager.total }}",
                    "json_attributes_path": "$.obj",
                    "json_attributes": ["esimList"],
                }
            ],
        )
        for page in range(1, pages + 1)
    )
    return resources


# b3: the fields each line's sensors need, in the order of the keyed mapping's tuples.
_KEYED_FIELDS = ("orderUsage", "totalVolume", "expiredTime", "esimStatus")
# What a line's sensor shows, given ``e``: its tuple in the mapping (fields as above).
_KEYED_VALUE_OF: dict[str, str] = {
    "data_remaining": "[e[1] - e[0], 0] | max",
    "data_used": "e[0]",
    "data_total": "e[1]",
    "plan_expiry": "as_datetime(e[2])",
    "status": f"{_STATUS_MAP}.get(e[3], 'unknown')",
}


def keyed_config(base_url: str, line_ids: list[str]) -> dict[str, Any]:
    """Return b3: the list pages as in b2, ONE template sensor keying them by line id.

    The mapping sensor's ``by_id`` attribute maps each esimTranNo to a tuple of the four
    fields the line sensors need, built in one pass (``zip`` of the mapped columns, no
    loop that copies). Only those fields, because a template's output is capped at
    256 KiB: the whole records of 1,000 eSIMs would not fit, their four fields do. Each
    line's six sensors look their line up with ``.get(id)``, one dict lookup.
    """
    pages = max(1, math.ceil(len(line_ids) / PAGE_SIZE))
    every_page = " + ".join(
        f"(state_attr('sensor.esim_access_page_{page}', 'esimList') or [])"
        for page in range(1, pages + 1)
    )
    columns = ", ".join(f"l | map(attribute='{name}')" for name in _KEYED_FIELDS)
    mapping = {
        "name": "esim access lines",
        "state": f"{{{{ ({every_page}) | count }}}}",
        "attributes": {
            "by_id": (
                f"{{% set l = {every_page} %}}"
                f"{{{{ dict(zip(l | map(attribute='esimTranNo'), zip({columns}))) }}}}"
            )
        },
    }
    templates: list[dict[str, Any]] = [mapping]
    for line_id in line_ids:
        pick = f"{{% set e = (state_attr('sensor.esim_access_lines', 'by_id') or {{}}).get('{line_id}') %}}"
        for key, value in _KEYED_VALUE_OF.items():
            templates.append(
                {
                    "name": f"esim {line_id} {key}",
                    "state": f"{pick}{{{{ ({value}) if e else none }}}}",
                    **_SENSOR_OPTIONS[key],
                }
            )
        templates.append(
            {
                "name": f"esim {line_id} balance",
                "state": "{{ states('sensor.esim_access_balance') | float(none) }}",
                **_SENSOR_OPTIONS["balance"],
            }
        )
    return {"rest": _list_resources(base_url, pages), "template": [{"sensor": templates}]}


async def setup_rest(hass: HomeAssistant, side: str, base_url: str, line_ids: list[str]) -> Setup:
    """Set the RESTful side up the way Home Assistant does at start (rest and template)."""
    config = rest_config(side, base_url, line_ids)
    await asyncio.gather(*(async_setup_component(hass, domain, config) for domain in config))
    await hass.async_block_till_done()
    coordinators = list(hass.data["rest"]["coordinator"])

    async def refresh() -> None:
        await asyncio.gather(*(coordinator.async_refresh() for coordinator in coordinators))
        await hass.async_block_till_done()

    async def background() -> None:
        return

    def describe(setup: Setup) -> None:
        setup.entity_ids = [_entity_id(line_id, key) for line_id in line_ids for key in KEYS]
        setup.entities = len(hass.states.async_entity_ids())

    return Setup(
        refresh=refresh, background=background, describe=describe, resources=len(coordinators)
    )


def ours_entry(side: str, base_url: str, line_ids: list[str]) -> MockConfigEntry:
    """Return the account entry the config flow creates, with every line tracked."""
    if side == "ours_esimgo":
        data = {CONF_PROVIDER: "esimgo", "api_key": ESIMGO_KEY, CONF_BASE_URL: base_url}
        unique_id = "esimgo_bench"
    elif side in ("ours_airalo", "ours_onence"):
        provider = side.removeprefix("ours_")
        client_id, secret = AIRALO_CLIENT if provider == "airalo" else ONENCE_CLIENT
        data = {
            CONF_PROVIDER: provider,
            "client_id": client_id,
            "client_secret": secret,
            CONF_BASE_URL: base_url,
        }
        unique_id = f"{provider}_bench"
    else:
        data = {CONF_PROVIDER: "esimaccess", "access_code": ACCESS_CODE, CONF_BASE_URL: base_url}
        unique_id = f"esimaccess_{esimaccess_account_id(ACCESS_CODE)}"
    return MockConfigEntry(
        domain=DOMAIN,
        title="Bench account",
        unique_id=unique_id,
        data=data,
        subentries_data=[
            {
                "subentry_type": SUBENTRY_TYPE_LINE,
                "data": {CONF_LINE_ID: line_id},
                "title": f"eSIM {line_id[-6:]}",
                "unique_id": line_id,
            }
            for line_id in line_ids
        ],
    )


class SimulatedClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start: float) -> None:
        """Start at ``start`` seconds."""
        self.now = start

    def __call__(self) -> float:
        """Return the current reading."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock on."""
        self.now += seconds


async def setup_ours(hass: HomeAssistant, side: str, base_url: str, line_ids: list[str]) -> Setup:
    """Set up the account; the entry's own setup is what we time."""
    entry = ours_entry(side, base_url, line_ids)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data.coordinator

    if side == "ours_airalo":
        # Airalo reads each eSIM's usage at most every 15 minutes, spread over the 5-minute
        # refreshes: the client's clock moves one refresh interval per refresh, as it would
        # between scheduled ones.
        simulated = SimulatedClock(time.monotonic())
        entry.runtime_data.provider._clock = simulated  # noqa: SLF001

        async def refresh() -> None:
            simulated.advance(airalo.UPDATE_INTERVAL.total_seconds())
            await coordinator.async_refresh()
            await hass.async_block_till_done()

    else:

        async def refresh() -> None:
            await coordinator.async_refresh()
            await hass.async_block_till_done()

    async def background() -> None:
        # The package lists of every line, read once after setup.
        await asyncio.gather(*entry._background_tasks)  # noqa: SLF001
        await hass.async_block_till_done()

    def describe(setup: Setup) -> None:
        entries = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        setup.entity_ids = [
            item.entity_id
            for item in entries
            if item.domain == "sensor" and any(item.unique_id.endswith(f"_{key}") for key in KEYS)
        ]
        setup.entities = len(entries)
        setup.enabled = sum(item.disabled_by is None for item in entries)

    return Setup(refresh=refresh, background=background, describe=describe, resources=1)


async def set_up(
    hass: HomeAssistant,
    side: str,
    base_url: str,
    line_ids: list[str],
    *,
    describe: bool = True,
) -> Setup:
    """Set ``side`` up for every line (``describe=False``: the caller describes it later)."""
    if side.startswith("ours"):
        setup = await setup_ours(hass, side, base_url, line_ids)
    else:
        setup = await setup_rest(hass, side, base_url, line_ids)
    if describe:
        setup.describe(setup)
    return setup


def preimport(side: str) -> None:
    """Import what setup would import, so setup times leave Python's import time out."""
    import importlib

    modules = ["homeassistant.components.sensor", "homeassistant.components.binary_sensor"]
    if side.startswith("ours"):
        modules += [
            f"custom_components.prepaid_sim.{name}"
            for name in ("sensor", "binary_sensor", "button", "select", "diagnostics")
        ] + ["homeassistant.components.button", "homeassistant.components.select"]
    else:
        modules += ["homeassistant.components.rest", "homeassistant.components.rest.sensor"]
        modules += ["homeassistant.components.template", "homeassistant.components.template.sensor"]
    for module in modules:
        importlib.import_module(module)


# --- measurements -------------------------------------------------------------------------


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    quarter = max(len(ordered) // 4, 0)
    return {
        "median": statistics.median(ordered),
        "p25": ordered[quarter],
        "p75": ordered[-1 - quarter],
        "min": ordered[0],
        "max": ordered[-1],
        "n": len(ordered),
    }


class LoopLag:
    """How late the event loop runs a task that asks to wake every ``interval`` seconds.

    The lag of one wake-up is how long the loop was busy with something else past the
    moment the task asked for: a stall. ``result()`` gives the largest, the count of
    samples and of those over 50 and 100 ms, and the total time spent in lags over 100 ms.
    """

    def __init__(self, interval: float = 0.005) -> None:
        """Sample every ``interval`` seconds (once started)."""
        self.interval = interval
        self.lags: list[float] = []
        # Each sample's window (when it was due, when it ran), and CPython's garbage
        # collections meanwhile: a full collection of a large heap stalls the loop too,
        # whoever made the garbage, so the result tells the two apart.
        self.windows: list[tuple[float, float]] = []
        self.collections: list[tuple[float, float]] = []
        self._collection_started = 0.0
        self._task: asyncio.Task[None] | None = None
        self._due = 0.0

    async def _sample(self) -> None:
        while True:
            self._due = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            now = time.perf_counter()
            self.lags.append(now - self._due)
            self.windows.append((self._due, now))

    def _on_collection(self, phase: str, _info: dict[str, Any]) -> None:
        """Note when each garbage collection ran."""
        if phase == "start":
            self._collection_started = time.perf_counter()
        else:
            self.collections.append((self._collection_started, time.perf_counter()))

    def _lag_without_collections(self, due: float, ran: float) -> float:
        """Return a sample's lag minus the garbage collections inside it."""
        collecting = sum(
            max(0.0, min(end, ran) - max(start, due)) for start, end in self.collections
        )
        return max(0.0, ran - due - collecting)

    async def __aenter__(self) -> Self:
        """Start sampling."""
        gc.callbacks.append(self._on_collection)
        self._task = asyncio.get_running_loop().create_task(self._sample())
        # Let the probe take its first sample's deadline before the work starts.
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        """Stop sampling, counting the stall in progress.

        The work measured often ends with a stall (a refresh's entity updates) and resumes
        the measuring task in the same turn of the loop as the probe's overdue wake-up:
        cancelled then, the probe would never report it. Its overdue time is the lag.
        """
        assert self._task is not None
        now = time.perf_counter()
        if (overdue := now - self._due) > 0:
            self.lags.append(overdue)
            self.windows.append((self._due, now))
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        gc.callbacks.remove(self._on_collection)

    def result(self) -> dict[str, Any]:
        """Return the largest lag and how many samples stalled beyond 50 and 100 ms."""
        lags = self.lags or [0.0]
        return {
            "max": max(lags),
            "samples": len(self.lags),
            "over_50ms": sum(lag > 0.05 for lag in lags),
            "over_100ms": sum(lag > 0.1 for lag in lags),
            "stalled_s_over_100ms": sum(lag for lag in lags if lag > 0.1),
            "largest": sorted(lags, reverse=True)[:5],
            "max_without_gc": max(
                (self._lag_without_collections(*window) for window in self.windows),
                default=0.0,
            ),
            "gc_longest": max((end - start for start, end in self.collections), default=0.0),
            "gc_over_100ms": sum(end - start > 0.1 for start, end in self.collections),
        }


def timed_full_collection() -> dict[str, float]:
    """Time one full collection of the whole heap, with the objects the collector tracks.

    Run right after another collection, so it times the traversal of the live heap, which
    any full collection of this process costs, whoever triggers it.
    """
    objects = len(gc.get_objects())
    started = time.perf_counter()
    gc.collect()
    return {"objects": objects, "s": time.perf_counter() - started}


async def timed_cycles(
    setup: Setup, emulator: Emulator, cycles: int, *, change: float
) -> dict[str, Any]:
    """Force ``cycles`` refreshes, ``change`` of the lines changed before each (0: none).

    Returns the CPU (process_time) and wall time of each, and the requests.
    """
    cpu, wall, requests = [], [], []
    for _ in range(cycles):
        if change:
            await emulator.bump(change)
        before = await emulator.requests()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await setup.refresh()
        cpu.append(time.process_time() - cpu0)
        wall.append(time.perf_counter() - wall0)
        requests.append(await emulator.requests() - before)
    return {"cpu": _summary(cpu), "wall": _summary(wall), "requests": _summary(requests)}


async def write_cost(
    hass: HomeAssistant, setup: Setup, emulator: Emulator, cycles: int
) -> dict[str, Any]:
    """CPU of the state writes alone that an all-changed refresh makes, through our entities.

    The entities that one all-changed refresh wrote are set to a placeholder state with
    their own attributes (untimed), then each writes its own state again (timed): the
    entity's state computation and Home Assistant's state machine, as in a refresh, and
    nothing else of ours. With the floor, a bound for any reader that writes as many
    states.
    """
    written: list[str] = []

    @callback
    def on_changed(event: Event[Any]) -> None:
        written.append(event.data["entity_id"])

    await emulator.bump(1.0)
    remove = hass.bus.async_listen(EVENT_STATE_CHANGED, on_changed)
    await setup.refresh()
    remove()
    entities = {
        entity_id: entity
        for platform in async_get_platforms(hass, DOMAIN)
        for entity_id, entity in platform.entities.items()
    }
    targets = [entities[entity_id] for entity_id in written if entity_id in entities]
    cpu = []
    for _ in range(cycles):
        for entity in targets:
            assert entity.entity_id is not None
            state = hass.states.get(entity.entity_id)
            assert state is not None
            hass.states.async_set(entity.entity_id, "placeholder", state.attributes)
        await hass.async_block_till_done()
        started = time.process_time()
        for entity in targets:
            entity.async_write_ha_state()
        await hass.async_block_till_done()
        cpu.append(time.process_time() - started)
    return {"writes": len(targets), "cpu": _summary(cpu)}


async def count_writes(
    hass: HomeAssistant, setup: Setup, emulator: Emulator, *, change: float
) -> dict[str, int]:
    """Count state_changed and state_reported events of one forced refresh."""
    counters = Counters()
    if change:
        await emulator.bump(change)
    unsubscribe = [
        hass.bus.async_listen(EVENT_STATE_CHANGED, counters.on_changed),
        hass.bus.async_listen(
            EVENT_STATE_REPORTED, counters.on_reported, event_filter=_every_event
        ),
    ]
    await setup.refresh()
    for remove in unsubscribe:
        remove()
    return {"changed": counters.changed, "reported": counters.reported}


@callback
def _every_event(_data: Any) -> bool:
    """Let every event through (state_reported listeners must filter)."""
    return True


def profile_text(profile: cProfile.Profile, sort: str, top: int = 15) -> str:
    """Return the ``top`` rows of a profile sorted by ``sort``."""
    stream = io.StringIO()
    stats = pstats.Stats(profile, stream=stream)
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    text = stream.getvalue()
    # Keep the table only (from the header line on).
    start = text.find("   ncalls")
    return text[start:].rstrip() if start >= 0 else text


def _valued(hass: HomeAssistant, entity_ids: list[str]) -> set[str]:
    """Return the entities that show a real value (neither unknown nor unavailable)."""
    return {
        entity_id
        for entity_id in entity_ids
        if (state := hass.states.get(entity_id)) is not None
        and state.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE)
    }


async def main_pass(
    args: argparse.Namespace, cfg: dict[str, Any], emulator: Emulator
) -> dict[str, Any]:
    """Measure setup, requests, CPU, RSS and state writes (429s off, limiter bypassed)."""
    result: dict[str, Any] = {}
    base_url, line_ids = cfg["base_url"], cfg["line_ids"]
    await emulator.rate_limit(None)
    async with running_hass() as hass:
        if args.side.startswith("ours"):
            limiter, _ = limiter_for(args.side, base_url)
            set_limiter(limiter, UNLIMITED)
        readiness = Readiness()
        remove = hass.bus.async_listen(EVENT_STATE_CHANGED, readiness.on_state)
        gc.collect()
        # What one full collection holds the loop for before this side adds anything.
        result["full_gc_before_setup"] = timed_full_collection()
        rss0 = rss_bytes()
        stats0 = await emulator.stats()
        requests0 = stats0["requests"]
        readiness.start = time.perf_counter()
        async with LoopLag() as lag:
            setup = await set_up(hass, args.side, base_url, line_ids, describe=False)
        result["lag_setup"] = lag.result()
        result["setup_returned_s"] = time.perf_counter() - readiness.start
        setup.describe(setup)
        if args.side.startswith("ours"):
            # The bypass only works if the client really uses the shared limiter we changed.
            provider = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.provider
            used = next(
                (
                    found
                    for name in ("rate_limiter", "_limiter", "_sims_limiter")
                    if (found := getattr(provider, name, None)) is not None
                ),
                None,
            )
            result["limiter_bypassed"] = used is limiter
        result["values_s"] = readiness.ready_after(hass, setup.entity_ids)
        async with LoopLag() as lag:
            await setup.background()
        result["lag_background"] = lag.result()
        result["background_done_s"] = time.perf_counter() - readiness.start
        result["requests_setup_total"] = await emulator.requests() - requests0
        result["requests_setup_by_endpoint"] = {
            key: count - stats0["by_endpoint"].get(key, 0)
            for key, count in (await emulator.stats())["by_endpoint"].items()
            if count - stats0["by_endpoint"].get(key, 0)
        }
        remove()
        result["entities"] = setup.entities
        result["entities_enabled"] = setup.entities if setup.enabled is None else setup.enabled
        result["resources"] = setup.resources
        result["comparable_entities"] = len(setup.entity_ids)
        valued = _valued(hass, setup.entity_ids)
        cfg["valued"] = valued
        result["valued_entities"] = len(valued)
        # Two warm-up refreshes (first-time caches, the history store's first save).
        await setup.refresh()
        await setup.refresh()
        await flush_delayed_saves(hass)
        # One full collection here; during the timed cycles the collector runs as it would.
        gc.collect()
        result["full_gc_after_setup"] = timed_full_collection()
        result["rss_delta"] = rss_bytes() - rss0
        result["writes_unchanged"] = await count_writes(hass, setup, emulator, change=0)
        result["writes_some_changed"] = await count_writes(
            hass, setup, emulator, change=SOME_CHANGED
        )
        result["writes_changed"] = await count_writes(hass, setup, emulator, change=1)
        before = await emulator.stats()
        await setup.refresh()
        after = await emulator.stats()
        result["requests_by_endpoint"] = {
            key: count - before["by_endpoint"].get(key, 0)
            for key, count in after["by_endpoint"].items()
            if count - before["by_endpoint"].get(key, 0)
        }
        for scenario, change in SCENARIOS.items():
            result[scenario] = await timed_cycles(setup, emulator, args.cycles, change=change)
        await emulator.bump(1.0)
        async with LoopLag() as lag:
            await setup.refresh()
        result["lag_refresh_changed"] = lag.result()
        if args.side == "ours":
            result["floor"] = await transport_floor(hass, len(line_ids), args.cycles)
            result["write_cost"] = await write_cost(hass, setup, emulator, args.cycles)
        if args.profile:
            result["profile"] = {}
            for label, change in (
                ("changed", 1.0),
                ("some_changed", SOME_CHANGED),
                ("unchanged", 0.0),
            ):
                profile = cProfile.Profile()
                for _ in range(args.profile):
                    if change:
                        await emulator.bump(change)
                    profile.enable()
                    await setup.refresh()
                    profile.disable()
                if dump := os.environ.get("BENCH_PROFILE_DUMP"):
                    profile.dump_stats(f"{dump}-{args.side}-{len(line_ids)}-{label}.prof")
                result["profile"][label] = {
                    "cycles": args.profile,
                    "tottime": profile_text(profile, "tottime"),
                    "cumulative": profile_text(profile, "cumulative"),
                }
    return result


async def settle(hass: HomeAssistant, setup: Setup) -> None:
    """Bring a side to its steady state before timing.

    Its background reads done, two refreshes, the registries' delayed saves written and one
    full collection.
    """
    await setup.background()
    await setup.refresh()
    await setup.refresh()
    await flush_delayed_saves(hass)
    gc.collect()


async def flush_delayed_saves(hass: HomeAssistant) -> None:
    """Write now what Home Assistant's stores have delayed, and wait for it.

    Setting an account up schedules the entity and device registries' saves 10 s later,
    in an executor thread whose CPU ``process_time`` counts: that one-off write must not
    land inside the timed refreshes of one process and not another.
    """
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()


async def transport_floor(hass: HomeAssistant, lines: int, cycles: int) -> dict[str, Any]:
    """CPU of a refresh's HTTP exchanges alone, then with the JSON parse: any reader's floor.

    The same requests our client makes (balance/query and every esim/query page), through
    its own transport and session, with nothing done to the answers, then parsed by orjson
    as the rest integration does. No reader of this API can refresh for less.
    """
    provider = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.provider
    assert isinstance(provider, esimaccess.EsimAccessProvider)
    pages = max(1, math.ceil(lines / PAGE_SIZE))

    async def exchange_all() -> list[bytes]:
        replies = await asyncio.gather(
            provider._exchange("balance/query", {}),  # noqa: SLF001
            *(provider._exchange("esim/query", _page_payload(n)) for n in range(1, pages + 1)),  # noqa: SLF001
        )
        return [reply.body for reply in replies]

    result: dict[str, Any] = {}
    for label, parse in (("exchange", False), ("exchange_parse", True)):
        cpu = []
        for _ in range(cycles):
            started = time.process_time()
            bodies = await exchange_all()
            if parse:
                for body in bodies:
                    orjson.loads(body)
            cpu.append(time.process_time() - started)
        result[label] = _summary(cpu)
    return result


async def cpu_pass(
    args: argparse.Namespace, cfg: dict[str, Any], emulator: Emulator
) -> dict[str, Any]:
    """Only the timed refreshes of the main pass, in another process (see bench.py)."""
    result: dict[str, Any] = {}
    await emulator.rate_limit(None)
    async with running_hass() as hass:
        if args.side.startswith("ours"):
            limiter, _ = limiter_for(args.side, cfg["base_url"])
            set_limiter(limiter, UNLIMITED)
        setup = await set_up(hass, args.side, cfg["base_url"], cfg["line_ids"])
        await settle(hass, setup)
        for scenario, change in SCENARIOS.items():
            result[scenario] = await timed_cycles(setup, emulator, args.cycles, change=change)
        if args.side == "ours":
            result["floor"] = await transport_floor(hass, len(cfg["line_ids"]), args.cycles)
            result["write_cost"] = await write_cost(hass, setup, emulator, args.cycles)
    return result


async def _cpu_of(hass: HomeAssistant, change: Callable[[], Awaitable[None]]) -> float:
    """Return the CPU of one change and everything it sets off in the loop."""
    started = time.process_time()
    await change()
    await hass.async_block_till_done()
    return time.process_time() - started


async def stall_pass(
    args: argparse.Namespace, cfg: dict[str, Any], emulator: Emulator
) -> dict[str, Any]:
    """Ours only: what a settings, journal or package-list change costs, and a renewal's stall.

    Each change (see change_actions) is made ``--change-repeats`` times, through the path
    the integration takes for it, and timed (CPU of the process) until Home Assistant is
    idle again. Then one renewal through the ``prepaid_sim.renew`` action, with the
    loop-lag probe on.
    """
    result: dict[str, Any] = {}
    base_url, line_ids = cfg["base_url"], cfg["line_ids"]
    await emulator.rate_limit(None)
    async with running_hass() as hass:
        limiter, _ = limiter_for(args.side, base_url)
        set_limiter(limiter, UNLIMITED)
        if args.profile:
            # Where setting up the lines spends its time (cProfile slows it down).
            profile = cProfile.Profile()
            profile.enable()
            setup = await set_up(hass, args.side, base_url, line_ids)
            profile.disable()
            result["setup_profile"] = {
                "tottime": profile_text(profile, "tottime", 25),
                "cumulative": profile_text(profile, "cumulative", 30),
            }
        else:
            setup = await set_up(hass, args.side, base_url, line_ids)
        await settle(hass, setup)
        data = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
        changes = change_actions(hass, data, line_ids[0])
        result["changes"] = await _time_changes(hass, changes, args.change_repeats)
        if args.profile:
            result["local_update_profile"] = await _profile_change(
                hass, changes["local_update"], args.profile
            )
        await flush_delayed_saves(hass)
        result["renewal"] = await _renew_once(hass, data, line_ids, emulator)
    return result


def change_actions(
    hass: HomeAssistant, data: PrepaidSimData, line_id: str
) -> dict[str, Callable[[], Awaitable[None]]]:
    """Return the changes the stall and changes passes time, each made on ``line_id``.

    * *settings*: the line's low-data threshold changed through its settings dialog (its
      reconfigure flow, started and submitted; the integration applies it in place);
    * *journal*: the journal tells its listeners of a change (``Journal.async_save_later``,
      as a renewal's verification does; its write is delayed and not timed);
    * *package list*: the line's package list read again and found different (the kept list
      is made to differ first), and the read alone (same request), to subtract;
    * *local update*: ``coordinator.async_local_update([line])``, which all three end in.
    """
    entry = data.coordinator.config_entry
    subentry_id = data.line_subentries[line_id]
    catalogue = data.catalogue
    thresholds = iter(range(10**6))

    async def settings() -> None:
        # Through the line's settings dialog, as a person changes them.
        flow = await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_TYPE_LINE),
            context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id},
        )
        await hass.config_entries.subentries.async_configure(
            flow["flow_id"],
            {
                "low_data_percent": 11 + next(thresholds) % 2,
                "expiry_warning_days": 3,
                "auto_renew": "off",
                "auto_renew_max_per_month": 1,
                "auto_renew_hours_before_expiry": 24,
                "voice_without_user": False,
            },
        )

    async def journal() -> None:
        # As a verification saves its line's record.
        data.journal.async_save_later(data.renewals.key(line_id))

    async def read_only() -> None:
        await data.provider.async_list_packages(line_id)

    async def packages() -> None:
        kept = catalogue._packages[line_id]  # noqa: SLF001
        catalogue._packages[line_id] = list(reversed(kept)) or []  # noqa: SLF001
        await catalogue.async_read(line_id)

    async def local_update() -> None:
        data.coordinator.async_local_update([line_id])

    return {
        "settings": settings,
        "journal": journal,
        "package_read_only": read_only,
        "package_list": packages,
        "local_update": local_update,
    }


async def changes_pass(
    args: argparse.Namespace, cfg: dict[str, Any], emulator: Emulator
) -> dict[str, Any]:
    """Ours only: the stall pass's timed changes and nothing else, for bench.py's rounds.

    bench.py runs this pass at 10 and at 1,000 lines back to back, several times, so the
    two sizes' costs can be compared round by round (see its repeat_changes).
    """
    base_url, line_ids = cfg["base_url"], cfg["line_ids"]
    await emulator.rate_limit(None)
    async with running_hass() as hass:
        limiter, _ = limiter_for(args.side, base_url)
        set_limiter(limiter, UNLIMITED)
        setup = await set_up(hass, args.side, base_url, line_ids)
        await settle(hass, setup)
        data = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
        changes = change_actions(hass, data, line_ids[0])
        result = {"changes": await _time_changes(hass, changes, args.change_repeats)}
        await flush_delayed_saves(hass)
    return result


async def _time_changes(
    hass: HomeAssistant, changes: dict[str, Callable[[], Awaitable[None]]], repeats: int
) -> dict[str, Any]:
    """Time each change ``repeats`` times: CPU, the loop's lag and the state writes."""
    counters = Counters()
    unsubscribe = [
        hass.bus.async_listen(EVENT_STATE_CHANGED, counters.on_changed),
        hass.bus.async_listen(
            EVENT_STATE_REPORTED, counters.on_reported, event_filter=_every_event
        ),
    ]
    result: dict[str, Any] = {}
    for name, change in changes.items():
        counters.changed = counters.reported = 0
        async with LoopLag() as lag:
            cpu = [await _cpu_of(hass, change) for _ in range(repeats)]
        result[name] = {
            **_summary(cpu),
            "lag": lag.result(),
            "writes_per_change": counters.changed / repeats,
            "reported_per_change": counters.reported / repeats,
        }
    for remove in unsubscribe:
        remove()
    return result


async def _profile_change(
    hass: HomeAssistant, change: Callable[[], Awaitable[None]], cycles: int
) -> dict[str, Any]:
    """Return the cProfile of ``cycles`` runs of a change."""
    profile = cProfile.Profile()
    for _ in range(cycles):
        profile.enable()
        await _cpu_of(hass, change)
        profile.disable()
    return {
        "cycles": cycles,
        "tottime": profile_text(profile, "tottime"),
        "cumulative": profile_text(profile, "cumulative"),
    }


async def _renew_once(
    hass: HomeAssistant, data: Any, line_ids: list[str], emulator: Emulator
) -> dict[str, Any]:
    """Renew the first line that takes a renewal, through the action, with the probe on."""
    tried: list[str] = []
    for line_id in line_ids[:20]:
        device_id = data.renewals.device_id(line_id)
        before = await emulator.stats()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        try:
            async with LoopLag() as lag:
                response = await hass.services.async_call(
                    DOMAIN,
                    "renew",
                    {"device_id": device_id},
                    blocking=True,
                    return_response=True,
                )
                await hass.async_block_till_done()
        except Exception as err:  # noqa: BLE001 - a line that takes no renewal: the next
            tried.append(f"{type(err).__name__}: {err}"[:160])
            continue
        after = await emulator.stats()
        return {
            "cpu_s": time.process_time() - cpu0,
            "wall_s": time.perf_counter() - wall0,
            "lag": lag.result(),
            "state": (response or {}).get("state"),
            "requests": {
                key: count - before["by_endpoint"].get(key, 0)
                for key, count in after["by_endpoint"].items()
                if count - before["by_endpoint"].get(key, 0)
            },
            "refused_first": tried,
        }
    return {"error": "no line took a renewal", "refused": tried}


async def limits_pass(
    args: argparse.Namespace, cfg: dict[str, Any], emulator: Emulator
) -> dict[str, Any]:
    """Wall time with the provider's rate limit enforced and the client limiter as shipped."""
    result: dict[str, Any] = {}
    base_url, line_ids = cfg["base_url"], cfg["line_ids"]
    await emulator.rate_limit(args.emulator_rate)
    # Start in a fresh window: the main pass's last requests must not count against us.
    await asyncio.sleep(1.1)
    throttled0 = (await emulator.stats())["throttled"]
    try:
        async with running_hass() as hass:
            if args.side.startswith("ours"):
                limiter, capacity = limiter_for(args.side, base_url)
                set_limiter(limiter, capacity)
            readiness = Readiness()
            hass.bus.async_listen(EVENT_STATE_CHANGED, readiness.on_state)
            requests0 = await emulator.requests()
            readiness.start = time.perf_counter()
            setup = await set_up(hass, args.side, base_url, line_ids)
            expected: set[str] = cfg.get("valued") or set(setup.entity_ids)
            result["values_s"] = readiness.ready_after(hass, setup.entity_ids)
            result["expected_values"] = len(expected)
            result["missing_after_setup"] = len(expected - _valued(hass, setup.entity_ids))
            if args.side.startswith("ours"):
                if len(line_ids) <= args.catalogue_wait_max:
                    await setup.background()
                    result["background_done_s"] = time.perf_counter() - readiness.start
                else:
                    # Sample the pace of the package reads, let them finish with both limits
                    # off (429s then not counted), and go on with both limits on.
                    start_count, start = await emulator.requests(), time.perf_counter()
                    await asyncio.sleep(4.0)
                    pace = (await emulator.requests() - start_count) / (time.perf_counter() - start)
                    result["background_pace_per_s"] = pace
                    before_bypass = (await emulator.stats())["throttled"]
                    limiter, capacity = limiter_for(args.side, base_url)
                    await emulator.rate_limit(None)
                    set_limiter(limiter, UNLIMITED)
                    await setup.background()
                    set_limiter(limiter, capacity)
                    await emulator.rate_limit(args.emulator_rate)
                    await asyncio.sleep(1.1)
                    throttled0 += (await emulator.stats())["throttled"] - before_bypass
            result["requests_setup_total"] = await emulator.requests() - requests0
            walls, missing = [], []
            for _ in range(args.limit_cycles):
                # A scheduled refresh comes long after the last one: let the window empty.
                await asyncio.sleep(1.2)
                start = time.perf_counter()
                await setup.refresh()
                walls.append(time.perf_counter() - start)
                missing.append(len(expected - _valued(hass, setup.entity_ids)))
            result["refresh_wall"] = _summary(walls)
            result["missing_after_refresh"] = max(missing)
    finally:
        result["throttled"] = (await emulator.stats())["throttled"] - throttled0
        await emulator.rate_limit(None)
    return result


async def memory_pass(
    args: argparse.Namespace, cfg: dict[str, Any], emulator: Emulator
) -> dict[str, Any]:
    """Python memory held after setup and two refreshes (tracemalloc, after gc)."""
    base_url, line_ids = cfg["base_url"], cfg["line_ids"]
    await emulator.rate_limit(None)
    async with running_hass() as hass:
        if args.side.startswith("ours"):
            limiter, _ = limiter_for(args.side, base_url)
            set_limiter(limiter, UNLIMITED)
        gc.collect()
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        setup = await set_up(hass, args.side, base_url, line_ids)
        await setup.background()
        await setup.refresh()
        await setup.refresh()
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {"held_bytes": current - baseline, "peak_bytes": peak - baseline}


def self_test_detector() -> bool:
    """Make one blocking call in the loop and tell whether the detector reported it."""
    before = len(CAPTURE.records)
    os.listdir(tempfile.gettempdir())  # noqa: PTH208 - the deliberate blocking call
    found = any("blocking call" in r.getMessage().lower() for r in CAPTURE.records[before:])
    del CAPTURE.records[before:]
    return found


CAPTURE = _Capture()


async def run(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    """Run the passes and write the result."""
    result: dict[str, Any] = {"side": args.side, "lines": len(cfg["line_ids"])}
    async with aiohttp.ClientSession() as session:
        emulator = Emulator(session, cfg["control_url"])
        result["detector_armed"] = self_test_detector()
        for name in args.passes.split(","):
            pass_fn = {
                "main": main_pass,
                "cpu": cpu_pass,
                "limits": limits_pass,
                "memory": memory_pass,
                "stall": stall_pass,
                "changes": changes_pass,
            }[name]
            first = len(CAPTURE.records)
            result[name] = await pass_fn(args, cfg, emulator)
            result[name]["log"] = CAPTURE.summary(first)
    text = json.dumps(result, indent=1)
    await asyncio.to_thread(Path(args.result).write_text, text, encoding="utf-8")
    return result


def main() -> None:
    """Parse the command line, arm the blocking-call detector and run."""
    parser = argparse.ArgumentParser(description="One run of script/bench.py (internal).")
    parser.add_argument("--side", required=True)
    parser.add_argument("--config", required=True, help="JSON: base_url, control_url, line_ids")
    parser.add_argument("--result", required=True)
    parser.add_argument("--passes", default="main,limits")
    parser.add_argument("--cycles", type=int, default=25)
    parser.add_argument("--limit-cycles", type=int, default=3)
    parser.add_argument("--emulator-rate", type=int, default=8)
    parser.add_argument("--catalogue-wait-max", type=int, default=100)
    parser.add_argument("--profile", type=int, default=0, help="cycles to profile (0: none)")
    parser.add_argument("--change-repeats", type=int, default=15, help="stall pass: each change")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger().addHandler(CAPTURE)
    cfg = json.loads(Path(args.config).read_text(encoding="utf-8"))
    preimport(args.side)
    block_async_io.enable()
    asyncio.run(run(args, cfg))


if __name__ == "__main__":
    main()
