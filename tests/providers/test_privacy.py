"""ICCIDs, EIDs and phone numbers never reach a message: only their last 4 characters."""

from __future__ import annotations

import pytest

from custom_components.prepaid_sim.providers.base import (
    LineNotFoundError,
    OrderRejectedError,
    ProviderUnavailableError,
    line_ref,
    redact_identifiers,
)
from custom_components.prepaid_sim.providers.http import TransportError

ICCID = "8944500102198304826"
EID = "89049032004008882600004713123456"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"SIM {ICCID} refused", "SIM …4826 refused"),
        (f"SIM {ICCID}F refused", "SIM …826F refused"),
        (f"/v1/sims/{ICCID}/quota/data", "/v1/sims/…4826/quota/data"),
        (f"iccid={ICCID}&x=1", "iccid=…4826&x=1"),
        (f"eid {EID}.", "eid …3456."),
        ("call +14155550100 now", "call …0100 now"),
        ("msisdn 4915112345678", "msisdn …5678"),
        ("error 200007: insufficient balance", "error 200007: insufficient balance"),
        ("HTTP 429, retry in 600 s, year 2026", "HTTP 429, retry in 600 s, year 2026"),
        ("order 123456789 placed", "order 123456789 placed"),
    ],
)
def test_redact_identifiers(text: str, expected: str) -> None:
    """Long digit runs lose all but their last 4 characters; short numbers stay."""
    assert redact_identifiers(text) == expected


def test_every_provider_error_is_redacted() -> None:
    """The base class redacts; no subclass can forget to."""
    assert ICCID not in str(LineNotFoundError(ICCID))
    assert LineNotFoundError(ICCID).line_id == ICCID  # the id itself stays usable
    assert ICCID not in str(ProviderUnavailableError(f"SIM {ICCID} unreadable"))
    rejected = OrderRejectedError("73", f"The eSIM with iccid {ICCID} has been recycled.")
    assert ICCID not in str(rejected)
    assert ICCID not in rejected.message
    assert rejected.message.endswith("iccid …4826 has been recycled.")
    assert ICCID not in str(TransportError(f"no answer from http://x/sims/{ICCID}", sent=True))


def test_line_ref_reveals_nothing() -> None:
    """The log reference of a line is stable and holds no digit run of the ICCID."""
    assert line_ref(ICCID) == line_ref(ICCID)
    assert line_ref(ICCID) != line_ref(EID)
    assert ICCID[-4:] not in line_ref(ICCID)
