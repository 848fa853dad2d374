"""Run a provider emulator for script/bench.py in its own process, with a control port.

The emulator runs out of the measured process so that its CPU time (building and encoding
answers) never counts against Home Assistant. The control server, on another loopback port,
lets the benchmark read request counts, change the usage of every line or of a share of them
and switch the emulator's rate limit; its own requests are not counted.

Prints one JSON line (``base_url``, ``control_url``, ``line_ids``) when ready, then serves
until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from decimal import Decimal
import json
import math
from pathlib import Path
import sys
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.emulators.airalo import AiraloEmulator
from tests.emulators.esimaccess import MIB, EsimAccessEmulator
from tests.emulators.esimgo import EsimGoEmulator, seed as seed_esimgo
from tests.emulators.onence import OnenceEmulator

HOST = "127.0.0.1"


class Controlled:
    """One emulator plus what the control port can do to it."""

    def __init__(self, provider: str, lines: int, rate_limit: int | None) -> None:
        """Create and seed the emulator; ``rate_limit`` None turns its 429s off."""
        self.provider = provider
        # Where the next partial bump starts.
        self._bump_from = 0
        # Requests counted so far (see stats).
        self._counted: Counter[str] = Counter()
        self._total = 0
        self.emulator: EsimAccessEmulator | EsimGoEmulator | AiraloEmulator | OnenceEmulator
        if provider == "esimaccess":
            self.emulator = EsimAccessEmulator(rate_limit=rate_limit)
            self.emulator.seed(lines)
        elif provider == "esimgo":
            self.emulator = EsimGoEmulator(
                rate_limit=_esimgo_limit(rate_limit), balance="1000000.00"
            )
            seed_esimgo(self.emulator, lines)
        elif provider == "airalo":
            # The client keeps to Airalo's 15 minutes per eSIM on its own (simulated) clock;
            # the emulator's per-eSIM limit runs on real time, so it is off here.
            self.emulator = AiraloEmulator(
                rate_limit=rate_limit, usage_interval=None, balance="1000000.00"
            )
            self.emulator.seed(lines)
        else:
            self.emulator = OnenceEmulator(sims_rate_limit=rate_limit)
            self.emulator.seed(lines)

    def line_ids(self) -> list[str]:
        """Return the provider's id of every line, in seeding order."""
        if isinstance(self.emulator, AiraloEmulator | OnenceEmulator):
            return list(self.emulator.sims)
        return list(self.emulator.esims)

    def stats(self) -> dict[str, Any]:
        """Return the requests received so far, in total and per endpoint.

        The emulator's log is folded into running counts and emptied at each call: asked
        before and after every timed refresh, a log that kept growing (b1 sends hundreds
        of requests a refresh) made each answer slower, and the emulator's own garbage
        collections of it slowed the next refresh's answers, for whichever side came later.
        """
        emulator = self.emulator
        if isinstance(emulator, EsimAccessEmulator):
            paths = list(emulator.request_log)
            throttled = emulator.throttled
        elif isinstance(emulator, EsimGoEmulator):
            paths = [record.path for record in emulator.request_log]
            throttled = emulator.rate_limited_count
        else:
            paths = [record.path for record in emulator.request_log]
            throttled = emulator.throttled
        emulator.request_log.clear()
        self._counted.update(_endpoint(path) for path in paths)
        self._total += len(paths)
        return {"requests": self._total, "throttled": throttled, "by_endpoint": self._counted}

    def bump(self, share: float = 1.0) -> None:
        """Add 1 MiB to the usage of ``share`` of the lines (at least one), as data flows.

        A partial bump takes the next lines in turn, so successive refreshes see different
        lines change, as a fleet whose devices take turns being online does.
        """
        emulator = self.emulator
        items: list[Any] = list(
            emulator.sims.values()
            if isinstance(emulator, AiraloEmulator | OnenceEmulator)
            else emulator.esims.values()
        )
        count = len(items) if share >= 1 else max(1, math.ceil(len(items) * share))
        for index in range(self._bump_from, self._bump_from + count):
            item = items[index % len(items)]
            if isinstance(emulator, EsimAccessEmulator):
                item.order_usage += MIB
            elif isinstance(emulator, EsimGoEmulator):
                for assignment in item.assignments:
                    assignment.remaining_bytes = max(assignment.remaining_bytes - MIB, 0)
            elif isinstance(emulator, AiraloEmulator):
                # Airalo counts in MB; unlimited plans report 0/0 and do not move.
                if not item.unlimited:
                    item.remaining_mb = max(item.remaining_mb - 1, Decimal(0))
            else:
                item.volume_mb -= 1
        self._bump_from = (self._bump_from + count) % len(items)

    def set_rate_limit(self, value: int | None) -> None:
        """Turn the emulator's own 429 limit on (a number per second) or off (None)."""
        emulator = self.emulator
        if isinstance(emulator, EsimAccessEmulator | AiraloEmulator):
            emulator.rate_limit = value
        elif isinstance(emulator, EsimGoEmulator):
            emulator.rate_limit = _esimgo_limit(value)
        else:
            emulator.sims_rate_limit = value


def _esimgo_limit(value: int | None) -> int:
    """Return eSIM Go's window size for ``value``; "off" is a window nobody fills.

    Its emulator with no limit reports ``X-Ratelimit-Remaining: 0``, which the client rightly
    obeys by waiting for the next window.
    """
    return value or 1_000_000


def _endpoint(path: str) -> str:
    """Group request paths: ``/api/v1/open/esim/query`` -> ``esim/query``; ICCIDs -> ``*``."""
    for prefix in ("/api/v1/open/", "/v2.4", "/v2/", "/management-api/"):
        path = path.removeprefix(prefix)
    path = path.strip("/")
    return "/".join("*" if part.isdigit() and len(part) > 8 else part for part in path.split("/"))


async def _serve(args: argparse.Namespace) -> None:
    """Start the emulator and the control server; stop when stdin closes."""
    controlled = Controlled(args.provider, args.lines, args.rate_limit or None)
    await controlled.emulator.start()

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(controlled.stats())

    async def bump(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        controlled.bump(float(body.get("share", 1.0)))
        return web.json_response({})

    async def rate_limit(request: web.Request) -> web.Response:
        controlled.set_rate_limit((await request.json()).get("value"))
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_post("/bump", bump)
    app.router.add_post("/rate_limit", rate_limit)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    port = runner.addresses[0][1]
    print(
        json.dumps(
            {
                "base_url": controlled.emulator.base_url,
                "control_url": f"http://{HOST}:{port}",
                "line_ids": controlled.line_ids(),
            }
        ),
        flush=True,
    )
    loop = asyncio.get_running_loop()
    # Serve until the benchmark closes our stdin (or exits).
    await loop.run_in_executor(None, sys.stdin.read)
    await runner.cleanup()
    await controlled.emulator.close()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--provider", choices=("esimaccess", "esimgo", "airalo", "onence"), default="esimaccess"
    )
    parser.add_argument("--lines", type=int, required=True)
    parser.add_argument(
        "--rate-limit", type=int, default=0, help="requests per second; 0 turns the 429s off"
    )
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
