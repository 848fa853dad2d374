"""State that every client of one account (or host) shares within an event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast
import weakref

_objects: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)


def shared_object[T](key: str, factory: Callable[[], T]) -> T:
    """Return the object kept under ``key`` in the running loop, creating it once.

    Keyed per loop so nothing bound to one event loop (locks) leaks into another.
    """
    objects = _objects.setdefault(asyncio.get_running_loop(), {})
    if key not in objects:
        objects[key] = factory()
    return cast(T, objects[key])
