"""The one rule for reading a few tracked lines of a large account.

Some APIs read lines only as a paged listing of the whole account, or one line per
request. Which costs fewer requests depends on how many lines are tracked and how large the
account is, so a client compares the two every refresh::

    per line  when  M < P,   P = max(1, ceil(T / page size))

(M lines to read, T lines on the account). A tie goes to paging: the same cost, and it
also tells how large the account has become and finds lines that slipped between pages.
"""

from __future__ import annotations

import math


def page_count(total: int, page_size: int) -> int:
    """Return how many pages a listing of ``total`` items takes (at least one)."""
    return max(1, math.ceil(total / page_size))


def per_line_is_cheaper(lines: int, pages: int) -> bool:
    """Return True when asking for ``lines`` lines one by one beats reading ``pages`` pages."""
    return lines < pages
