"""Every provider, every fault: a renewal never charges twice (checked against the ledger).

One adapter per provider sets an account up through Home Assistant, injects faults into its
backend (the demo carrier or an emulator) and counts the backend's charges. The test cases
are parametrized over providers x cases; a new provider plugs in by adding one adapter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util

from custom_components.prepaid_sim.catalogue import choose_package
from custom_components.prepaid_sim.const import DOMAIN
from custom_components.prepaid_sim.providers.demo import (
    DemoBackend,
    PurchaseFault,
    reset_demo_backend,
)
from custom_components.prepaid_sim.records import LineBaseline, RenewalRecord

from .emulators import (
    airalo as airalo_emulator,
    esimaccess as esimaccess_emulator,
    esimgo as esimgo_emulator,
    onence as onence_emulator,
)
from .helpers import (
    AIRALO_CREDENTIALS,
    AIRALO_LINE,
    ESIMACCESS_TRAVEL as TRAVEL,
    ONENCE_CREDENTIALS,
    ONENCE_LINE,
    add_esimaccess_account,
    add_esimgo_account,
    add_manual_account,
    add_oauth_account,
    demo_entry,
)

# Faults an adapter understands (mapped to its backend's own switch).
LOST_AFTER_COMMIT = "drop_after_commit"
TIMEOUT = "timeout"
SERVER_ERROR_AFTER_COMMIT = "5xx_after_commit"


@dataclass
class Adapter:
    """How the matrix drives one provider; subclasses fill in the backend specifics."""

    name: str
    line_id: str
    package: str | None = None
    # What a refused purchase for lack of money is called (no wallet: "order_rejected").
    no_funds_key: str = "insufficient_funds"
    # Cases that do not apply, with the reason.
    not_applicable: dict[str, str] = field(default_factory=dict)
    backend: Any = None

    async def start(self) -> None:
        """Start the backend."""

    async def stop(self) -> None:
        """Stop the backend."""

    async def add_account(self, hass: HomeAssistant) -> ConfigEntry:
        """Set the account up with the line through Home Assistant."""
        raise NotImplementedError

    def inject(self, fault: str) -> None:
        """Make the next purchase fail as ``fault``."""
        raise NotImplementedError

    def shorten_timeout(self, entry: ConfigEntry) -> None:
        """Make the client give up quickly (before the backend's timeout delay ends)."""

    def ledger_count(self) -> int:
        """Return how many charges the backend made."""
        return len(self.backend.ledger)

    def set_balance_low(self) -> None:
        """Leave too little money for any package (or refuse payment without a wallet)."""
        self.backend.balance = 0

    def fields(self, **extra: object) -> dict[str, object]:
        """Return the renew action's fields besides the device."""
        return {**({"package": self.package} if self.package else {}), **extra}


@dataclass
class DemoAdapter(Adapter):
    """The built-in simulated carrier; its ledger is ``DemoBackend.ledger``."""

    async def start(self) -> None:
        """Start the simulated carrier afresh on Home Assistant's clock."""
        self.backend: DemoBackend = reset_demo_backend(clock=dt_util.utcnow)

    async def add_account(self, hass: HomeAssistant) -> ConfigEntry:
        """Add the demo account (a config entry, as the demo tests do)."""
        entry = demo_entry(self.line_id)
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        return entry

    def inject(self, fault: str) -> None:
        """Map the fault onto the demo's purchase switch."""
        self.backend.next_purchase_fault = {
            LOST_AFTER_COMMIT: PurchaseFault.LOSE_RESPONSE_AFTER_COMMIT,
            TIMEOUT: PurchaseFault.TIMEOUT_BEFORE_COMMIT,
        }[fault]

    def set_balance_low(self) -> None:
        """Empty the demo wallet."""
        self.backend.wallet = Decimal(0)


@dataclass
class EsimAccessAdapter(Adapter):
    """eSIM Access on its emulator; purchase route ``esim/topup``."""

    async def start(self) -> None:
        """Run the emulator with the travel line."""
        self.backend = esimaccess_emulator.EsimAccessEmulator(timeout_delay=2)
        await self.backend.start()
        self.backend.add_esim(esim_tran_no=TRAVEL, total_volume=3 * esimaccess_emulator.GIB)

    async def stop(self) -> None:
        """Stop the emulator."""
        await self.backend.close()

    async def add_account(self, hass: HomeAssistant) -> ConfigEntry:
        """Add the account through the UI flow."""
        return await add_esimaccess_account(hass, self.backend)

    def inject(self, fault: str) -> None:
        """Set the fault switch of the top-up endpoint."""
        mode = "http_500_after_commit" if fault == SERVER_ERROR_AFTER_COMMIT else fault
        self.backend.fail_next["esim/topup"] = mode

    def shorten_timeout(self, entry: ConfigEntry) -> None:
        """Give up after half a second."""
        entry.runtime_data.provider.timeout = aiohttp.ClientTimeout(total=0.5)


@dataclass
class EsimGoAdapter(Adapter):
    """eSIM Go on its emulator; purchase route ``POST /orders``."""

    async def start(self) -> None:
        """Run the emulator with the travel eSIM."""
        self.backend = esimgo_emulator.EsimGoEmulator(timeout_seconds=2)
        await self.backend.start()
        self.backend.add_esim("active", iccid=self.line_id, customer_ref="Travel phone")

    async def stop(self) -> None:
        """Stop the emulator."""
        await self.backend.close()

    async def add_account(self, hass: HomeAssistant) -> ConfigEntry:
        """Add the account through the UI flow."""
        return await add_esimgo_account(hass, self.backend)

    def inject(self, fault: str) -> None:
        """Fail the next order (eSIM Go's 5xx after commit is a 503 "Processing")."""
        mode = "http_503_after_commit" if fault == SERVER_ERROR_AFTER_COMMIT else fault
        self.backend.fail_next("/orders", mode, method="POST")

    def shorten_timeout(self, entry: ConfigEntry) -> None:
        """Give up after half a second."""
        entry.runtime_data.provider.timeout = aiohttp.ClientTimeout(total=0.5)

    def set_balance_low(self) -> None:
        """Empty the organisation balance."""
        self.backend.balance = Decimal(0)


@dataclass
class AiraloAdapter(Adapter):
    """Airalo on its emulator; purchase route ``order_topup``."""

    async def start(self) -> None:
        """Run the emulator with one eSIM."""
        self.backend = airalo_emulator.AiraloEmulator(timeout_delay=2)
        await self.backend.start()
        self.backend.add_sim(iccid=self.line_id, total_mb=3072, remaining_mb=1024)

    async def stop(self) -> None:
        """Stop the emulator."""
        await self.backend.close()

    async def add_account(self, hass: HomeAssistant) -> ConfigEntry:
        """Add the account through the UI flow."""
        return await add_oauth_account(
            hass, "airalo", self.backend.base_url, AIRALO_CREDENTIALS, self.line_id
        )

    def inject(self, fault: str) -> None:
        """Set the fault switch of the top-up order."""
        mode = "http_500_after_commit" if fault == SERVER_ERROR_AFTER_COMMIT else fault
        self.backend.fail_next["order_topup"] = mode

    def shorten_timeout(self, entry: ConfigEntry) -> None:
        """Give up after half a second."""
        entry.runtime_data.provider.timeout = aiohttp.ClientTimeout(total=0.5)

    def set_balance_low(self) -> None:
        """Empty the partner balance."""
        self.backend.balance = Decimal(0)


@dataclass
class OnenceAdapter(Adapter):
    """1NCE on its emulator; purchase route ``topup`` (invoiced, no wallet)."""

    async def start(self) -> None:
        """Run the emulator with one SIM."""
        self.backend = onence_emulator.OnenceEmulator(timeout_delay=2)
        await self.backend.start()
        self.backend.add_sim(
            iccid=self.line_id, label="Tracker", volume_mb=350, total_volume_mb=500
        )

    async def stop(self) -> None:
        """Stop the emulator."""
        await self.backend.close()

    async def add_account(self, hass: HomeAssistant) -> ConfigEntry:
        """Add the account through the UI flow."""
        return await add_oauth_account(
            hass, "onence", self.backend.base_url, ONENCE_CREDENTIALS, self.line_id
        )

    def inject(self, fault: str) -> None:
        """Set the fault switch of the top-up."""
        mode = "http_500_after_commit" if fault == SERVER_ERROR_AFTER_COMMIT else fault
        self.backend.fail_next["topup"] = mode

    def shorten_timeout(self, entry: ConfigEntry) -> None:
        """Give up after half a second."""
        entry.runtime_data.provider.timeout = aiohttp.ClientTimeout(total=0.5)

    def set_balance_low(self) -> None:
        """1NCE invoices top-ups: the nearest refusal is a payment method it does not take."""
        self.backend.accepted_payment_methods = set()


@dataclass
class ManualAdapter(Adapter):
    """The manual tracker: no backend; its "ledger" is the succeeded receipts."""

    hass: HomeAssistant | None = None

    async def add_account(self, hass: HomeAssistant) -> ConfigEntry:
        """Add the manual tracker with its line through the UI flow."""
        self.hass = hass
        return await add_manual_account(hass)

    def ledger_count(self) -> int:
        """Count the renewals recorded (each one moves the line's expiry once)."""
        assert self.hass is not None
        (entry,) = self.hass.config_entries.async_entries(DOMAIN)
        return sum(r.state == "succeeded" for r in entry.runtime_data.journal.records)


_NO_PROVIDER = "manual renewals are recorded locally: no provider request to fault"
ADAPTERS: dict[str, Any] = {
    "demo": lambda: DemoAdapter(
        "demo",
        "europe-esim",
        not_applicable={"5xx_after_commit": "the demo carrier has no 5xx-after-commit fault"},
    ),
    "esimaccess": lambda: EsimAccessAdapter("esimaccess", TRAVEL, package="TOPUP_US_1GB_7D"),
    "esimgo": lambda: EsimGoAdapter(
        "esimgo", "8944000000000000001", package=esimgo_emulator.DEFAULT_BUNDLE
    ),
    "airalo": lambda: AiraloAdapter("airalo", AIRALO_LINE, package="change-7days-1gb-topup"),
    "onence": lambda: OnenceAdapter("onence", ONENCE_LINE, no_funds_key="order_rejected"),
    "manual": lambda: ManualAdapter(
        "manual",
        "mint",
        not_applicable={
            "lost_after_commit": _NO_PROVIDER,
            "timeout_before_processing": _NO_PROVIDER,
            "5xx_after_commit": _NO_PROVIDER,
            "restart_between_send_and_answer": _NO_PROVIDER,
            "insufficient_funds": "a manual line has no wallet",
        },
    ),
}


@dataclass
class Harness:
    """One provider's account, set up in Home Assistant."""

    hass: HomeAssistant
    adapter: Adapter
    entry: ConfigEntry

    @property
    def device_id(self) -> str:
        """Return the device of the line under test."""
        devices = dr.async_entries_for_config_entry(dr.async_get(self.hass), self.entry.entry_id)
        if len(devices) == 1:
            return devices[0].id
        wanted = (DOMAIN, f"{self.entry.unique_id}_{self.adapter.line_id}")
        return next(d.id for d in devices if wanted in d.identifiers)

    async def renew(self, **extra: object) -> dict[str, Any]:
        """Call the renew action for the line."""
        response = await self.hass.services.async_call(
            DOMAIN,
            "renew",
            {"device_id": self.device_id, **self.adapter.fields(**extra)},
            blocking=True,
            return_response=True,
        )
        assert isinstance(response, dict)
        return response

    async def receipts(self) -> list[dict[str, Any]]:
        """Return every receipt, newest first."""
        response = await self.hass.services.async_call(
            DOMAIN, "get_renewals", {}, blocking=True, return_response=True
        )
        return response["renewals"]

    @property
    def ledger(self) -> int:
        """Return the backend's charge count."""
        return self.adapter.ledger_count()


@pytest.fixture(params=list(ADAPTERS))
async def adapter(request: pytest.FixtureRequest, socket_enabled: None) -> AsyncGenerator[Adapter]:
    """Start one provider's backend."""
    adapter = ADAPTERS[request.param]()
    await adapter.start()
    yield adapter
    await adapter.stop()


def _skip_if_not_applicable(adapter: Adapter, case: str) -> None:
    """Skip, with the reason, a case that does not apply to the provider."""
    if reason := adapter.not_applicable.get(case):
        pytest.skip(f"{adapter.name}: {reason}")


async def _harness(hass: HomeAssistant, adapter: Adapter) -> Harness:
    """Set the provider's account up."""
    return Harness(hass, adapter, await adapter.add_account(hass))


async def _assert_second_call_refused(harness: Harness) -> None:
    """A second renew right away is refused (as a repeat or as pending)."""
    with pytest.raises(HomeAssistantError) as err:
        await harness.renew()
    assert err.value.translation_key in ("renewed_recently", "renewal_pending")


async def _case_lost_after_commit(harness: Harness) -> None:
    """The provider committed, the answer was lost: found by reference, never resent."""
    harness.adapter.inject(LOST_AFTER_COMMIT)
    order = await harness.renew()
    assert order["state"] in ("succeeded", "pending")
    assert harness.ledger == 1
    (receipt,) = await harness.receipts()
    assert receipt["state"] == order["state"]
    assert receipt["reference"] == order["reference"]
    await _assert_second_call_refused(harness)
    assert harness.ledger == 1
    assert len(await harness.receipts()) == 1


async def _case_timeout_before_processing(harness: Harness) -> None:
    """A timeout before the provider processed it charges nothing; pending blocks a retry."""
    harness.adapter.shorten_timeout(harness.entry)
    harness.adapter.inject(TIMEOUT)
    with pytest.raises(HomeAssistantError) as err:
        await harness.renew()
    assert err.value.translation_key in ("outcome_unknown", "order_not_placed")
    assert harness.ledger == 0
    (receipt,) = await harness.receipts()
    if receipt["state"] == "pending":
        assert err.value.translation_key == "outcome_unknown"
        with pytest.raises(HomeAssistantError) as err:
            await harness.renew(allow_repeat=True)
        assert err.value.translation_key == "renewal_pending"
    else:
        assert (receipt["state"], receipt["error"]) == ("failed", "not_placed")
    assert harness.ledger == 0


async def _case_5xx_after_commit(harness: Harness) -> None:
    """A 5xx after the provider committed: one charge, found by look-up."""
    harness.adapter.inject(SERVER_ERROR_AFTER_COMMIT)
    order: dict[str, Any] | None = None
    refusal: HomeAssistantError | None = None
    try:
        order = await harness.renew()
    except HomeAssistantError as err:
        refusal = err
    # An error is only acceptable while the outcome is still being looked up.
    assert refusal is None or refusal.translation_key == "outcome_unknown"
    assert harness.ledger == 1
    (receipt,) = await harness.receipts()
    assert receipt["state"] in ("succeeded", "pending")
    if order is not None:
        assert receipt["state"] == order["state"]
    await _assert_second_call_refused(harness)
    assert harness.ledger == 1


async def _case_restart_between_send_and_answer(
    harness: Harness, hass_storage: dict[str, Any]
) -> None:
    """Stopped after sending (order committed with our reference); settled on start.

    The journal writes a record before the order is sent; here the provider commits the
    order and the account stops before the answer is written. Set up again, the record
    is looked up and settled as charged; nothing is sent twice.
    """
    hass, entry, line_id = harness.hass, harness.entry, harness.adapter.line_id
    data = entry.runtime_data
    provider = data.provider
    packages = await provider.async_list_packages(line_id)
    line = data.coordinator.data.lines.get(line_id)
    package = next(
        (p for p in packages if p.package_id == harness.adapter.package),
        None,
    ) or choose_package(packages, None, line)
    assert package is not None
    reference = "ps-sent-before-stop"
    await provider.async_purchase(line_id, package, reference)
    assert harness.ledger == 1
    subentry = next(iter(entry.subentries.values()))
    journal = data.journal
    journal.add(
        RenewalRecord(
            reference=reference,
            line_key=data.renewals.key(line_id),
            line_id=line_id,
            entry_id=entry.entry_id,
            line_name=subentry.title,
            package_id=package.package_id,
            package_name=package.name,
            price=package.price,
            caller="user",
            created_at=dt_util.utcnow() - timedelta(minutes=1),
            baseline=LineBaseline.of(line) if line is not None else None,
        )
    )
    await journal.async_save()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (receipt,) = await harness.receipts()
    assert receipt["reference"] == reference
    assert receipt["state"] in ("succeeded", "pending")
    await _assert_second_call_refused(harness)
    assert harness.ledger == 1


async def _case_concurrent(harness: Harness) -> None:
    """Twenty renew calls at once for one line: one charge."""
    results = await asyncio.gather(*(harness.renew() for _ in range(20)), return_exceptions=True)
    assert sum(isinstance(r, dict) for r in results) == 1, results
    assert all(isinstance(r, (dict, HomeAssistantError)) for r in results), results
    assert harness.ledger == 1
    assert len(await harness.receipts()) == 1


async def _case_same_request_id(harness: Harness) -> None:
    """The same request_id twice: one charge, the same answer."""
    first = await harness.renew(request_id="ctx-1")
    second = await harness.renew(request_id="ctx-1", allow_repeat=True)
    assert first == second
    assert harness.ledger == 1


async def _case_repeat_window(harness: Harness) -> None:
    """A repeat within ten minutes without allow_repeat is refused."""
    await harness.renew()
    with pytest.raises(ServiceValidationError) as err:
        await harness.renew()
    assert err.value.translation_key in ("renewed_recently", "renewal_pending")
    assert harness.ledger == 1


async def _case_insufficient_funds(harness: Harness) -> None:
    """Too little money: no charge, a translated refusal."""
    harness.adapter.set_balance_low()
    with pytest.raises(HomeAssistantError) as err:
        await harness.renew()
    assert err.value.translation_key == harness.adapter.no_funds_key
    assert harness.ledger == 0
    (receipt,) = await harness.receipts()
    assert receipt["state"] == "failed"


async def _case_spend_cap(harness: Harness) -> None:
    """A line's spend cap below the price is refused before any order is sent."""
    hass, entry = harness.hass, harness.entry
    subentry = next(iter(entry.subentries.values()))
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, "spend_cap": 1}
    )
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as err:
        await harness.renew()
    assert err.value.translation_key == "spend_cap_reached"
    assert harness.ledger == 0
    assert await harness.receipts() == []


CASES = {
    "lost_after_commit": _case_lost_after_commit,
    "timeout_before_processing": _case_timeout_before_processing,
    "5xx_after_commit": _case_5xx_after_commit,
    "restart_between_send_and_answer": _case_restart_between_send_and_answer,
    "concurrent_20": _case_concurrent,
    "same_request_id": _case_same_request_id,
    "repeat_window": _case_repeat_window,
    "insufficient_funds": _case_insufficient_funds,
    "spend_cap": _case_spend_cap,
}


@pytest.mark.parametrize("case", list(CASES))
async def test_never_charges_twice(
    hass: HomeAssistant, hass_storage: dict[str, Any], adapter: Adapter, case: str
) -> None:
    """Run one case against one provider and check its charge ledger."""
    _skip_if_not_applicable(adapter, case)
    harness = await _harness(hass, adapter)
    if case == "restart_between_send_and_answer":
        await _case_restart_between_send_and_answer(harness, hass_storage)
    else:
        await CASES[case](harness)
    with contextlib.suppress(Exception):
        await hass.config_entries.async_unload(harness.entry.entry_id)
    await hass.async_block_till_done()
