"""The packages each tracked line can be renewed with, and which one a renewal buys.

Package lists are read from the provider once after setup (for the selects and the
suggestion) and whenever a renewal or an action needs them; the last list read is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .const import LOGGER
from .errors import person_facing_error
from .providers.base import Line, Package, Provider, ProviderError
from .providers.ratelimit import fail_fast


def choose_package(
    packages: list[Package], preferred: str | None, line: Line | None
) -> Package | None:
    """Return the package a renewal buys when none is named.

    The line's preferred package; else its current package; else the package on offer that
    matches the current plan (same data and validity: top-up offers carry other ids than
    the plan bought first); else the cheapest.
    """
    current = line.package_id if line else None
    for wanted in (preferred, current):
        if wanted is not None:
            for package in packages:
                if package.package_id == wanted:
                    return package
    if line is not None and line.plan_validity is not None:
        allowance = line.daily_data_bytes or line.plan_data_bytes
        same_plan = [
            package
            for package in packages
            if package.validity == line.plan_validity
            and (package.daily_bytes or package.data_bytes) == allowance
        ]
        if same_plan:
            return min(same_plan, key=lambda package: package.price.amount)
    return min(packages, key=lambda package: package.price.amount, default=None)


class PackageCatalogue:
    """The package lists of an account's lines, as last read from the provider."""

    def __init__(self, provider: Provider, on_change: Callable[[Iterable[str]], None]) -> None:
        """Read from ``provider``; call ``on_change(line_ids)`` when lists shown to users change."""
        self._provider = provider
        self._on_change = on_change
        self._packages: dict[str, list[Package]] = {}
        # Per line: the package list, preferred and current package ids, and the choice.
        self._chosen: dict[str, tuple[list[Package], str | None, Line | None, Package | None]] = {}

    async def async_read(self, line_id: str, *, show: bool = True) -> list[Package]:
        """Return the line's packages fresh from the provider (and keep them).

        A person waits for this answer: a long rate-limit hold fails at once, saying until
        when. A list that differs from the one kept is shown at once unless ``show`` is
        False, for a caller that reads many and shows them together.
        """
        try:
            with fail_fast():
                packages = await self._provider.async_list_packages(line_id)
        except ProviderError as err:
            raise person_facing_error(err) from err
        previous = self._packages.get(line_id)
        self._packages[line_id] = packages
        if show and packages != previous:
            self._on_change((line_id,))
        return packages

    def cached(self, line_id: str) -> list[Package] | None:
        """Return the packages last read for the line, without asking the provider."""
        return self._packages.get(line_id)

    async def async_read_all(self, line_ids: Iterable[str]) -> None:
        """Read every line's packages once, in the background after setup."""
        for line_id in line_ids:
            if line_id in self._packages:
                continue
            try:
                packages = await self._provider.async_list_packages(line_id)
            except ProviderError as err:
                LOGGER.debug("Packages of a line not read: %s", err)
                continue
            self._packages[line_id] = packages
            # Shown line by line, as read: one change for 1,000 lines at the end would
            # hold the event loop while every entity is told.
            self._on_change((line_id,))

    def chosen(self, line_id: str, preferred: str | None, line: Line | None) -> Package | None:
        """Return the package a renewal of the line buys now, from the kept list.

        Asked per line on every refresh (repairs, the select): the answer changes only with
        the package list, the preferred package or the line.
        """
        packages = self._packages.get(line_id)
        if not packages:
            return None
        kept = self._chosen.get(line_id)
        if kept is not None and kept[0] is packages and kept[1] == preferred and kept[2] is line:
            return kept[3]
        choice = choose_package(packages, preferred, line)
        self._chosen[line_id] = (packages, preferred, line, choice)
        return choice
