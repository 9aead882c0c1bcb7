"""HTTP content negotiation: the one reader of ``Accept`` and ``Accept-Language`` (RFC 9110 §12).

A header is a comma-separated list of ranges, each with an optional weight ``;q=`` (0 to 1; missing:
1; malformed or out of range: 0).  For each offer the server can give, the weight that counts is the
one of the most specific range matching it (``text/html`` over ``text/*`` over ``*/*``; a language
``zh-CN`` or ``zh`` over ``*``), so ``q=0`` refuses an offer even when a wildcard would admit it.
The offer with the highest weight wins; equal weights go to the range listed first, then to the
server's first offer.

:func:`media_type` and :func:`language` answer for any offers; :func:`prefers_html` is the one
HTML-or-JSON decision the pages, the planner's routes, the error pages and the login redirect share.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Range", "parse", "media_type", "language", "prefers_html", "HTML_TYPES", "JSON_TYPES"]

HTML_TYPES = ("text/html",)  # the page gridmap renders (browsers name it first)
JSON_TYPES = ("application/json", "application/geo+json")


@dataclass(frozen=True)
class Range:
    """One entry of a header: its value (lower case, parameters other than ``q`` dropped), its
    weight and its 0-based position in the header."""

    value: str
    q: float
    position: int


def parse(header: str | None) -> list[Range]:
    """The ranges of an ``Accept`` / ``Accept-Language`` header, in the order written (empty entries
    skipped)."""
    out = []
    for i, part in enumerate((header or "").split(",")):
        value, *params = part.split(";")
        value = value.strip().lower()
        if not value:
            continue
        q = 1.0
        for p in params:
            name, _, raw = p.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(raw.strip())
                except ValueError:
                    q = 0.0
                if not (math.isfinite(q) and 0.0 <= q <= 1.0):
                    q = 0.0
        out.append(Range(value, q, i))
    return out


def _media_match(range_: str, offer: str) -> int | None:
    """How specifically a media range names ``offer`` (2 exact, 1 ``type/*``, 0 ``*/*``), or None."""
    if range_ == offer:
        return 2
    if range_ == "*/*":
        return 0
    kind, _, sub = range_.partition("/")
    return 1 if sub == "*" and offer.partition("/")[0] == kind else None


def _language_match(range_: str, offer: str) -> int | None:
    """How specifically a language range names ``offer`` (1 its primary tag: ``zh-Hans-CN``, ``zh_CN``
    and ``zh`` all name ``zh``; 0 ``*``), or None."""
    if range_ == "*":
        return 0
    return 1 if range_.replace("_", "-").split("-")[0] == offer else None


def _negotiate(ranges: list[Range], offers: Sequence[str], match: Callable[[str, str], int | None]) -> str | None:
    best, best_key = None, None
    for k, offer in enumerate(offers):
        hits = [(s, r) for r in ranges if (s := match(r.value, offer)) is not None]
        if not hits:
            continue
        top = max(s for s, _ in hits)
        r = max((r for s, r in hits if s == top), key=lambda r: (r.q, -r.position))
        if r.q <= 0:
            continue
        key = (r.q, -r.position, -k)
        if best_key is None or key > best_key:
            best, best_key = offer, key
    return best


def media_type(accept: str | None, offers: Sequence[str]) -> str | None:
    """The offer an ``Accept`` header prefers: ``offers[0]`` when there is no header (anything goes),
    None when the header refuses every offer."""
    ranges = parse(accept)
    return offers[0] if not ranges else _negotiate(ranges, [o.lower() for o in offers], _media_match)


def language(accept_language: str | None, offers: Sequence[str]) -> str | None:
    """The offer (a primary language tag: ``zh``, ``en``) an ``Accept-Language`` header prefers;
    None when there is no header or it names none of the offers (the caller's default applies)."""
    return _negotiate(parse(accept_language), offers, _language_match)


def prefers_html(accept: str | None, *, default: bool = False) -> bool:
    """Whether an ``Accept`` header prefers an HTML page to JSON.

    ``default`` settles what says nothing either way (no header, ``*/*``, a header refusing both):
    False for the APIs that also render pages (``fetch`` sends ``*/*``), True for a page that also
    answers JSON.  A browser's navigation (``text/html,...,*/*;q=0.8``) gets HTML,
    ``application/json`` JSON.
    """
    offers = HTML_TYPES + JSON_TYPES if default else JSON_TYPES + HTML_TYPES
    choice = media_type(accept, offers)
    return default if choice is None else choice in HTML_TYPES
