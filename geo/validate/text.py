"""Text a layer may store: no control characters, no lone surrogates, and a length limit per column.

PostgreSQL cannot store a NUL character in text, a lone UTF-16 surrogate (``"\\ud800"``, legal in
JSON's escapes) has no UTF-8 encoding, and a key longer than a B-tree index row allows (~2,700
bytes) fails at the index: each used to reach the database and crash the request.  These checks
refuse them by row and field before anything is written.  Characters are counted as Python ``str``
characters (code points).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["MAX_TEXT_LENGTH", "DEFAULT_TEXT_LENGTH", "text_limit", "text_faults", "shown"]

#: Longest text per column, characters.  Codes and vocabularies follow the schema's varchar
#: lengths; keys (``source_id``, ``external_id``) stay well inside a B-tree index row; free text
#: (``description``, ``note``) is a report, not a document.
MAX_TEXT_LENGTH: dict[str, int] = {
    "code": 32, "parent_code": 32, "community_code": 32, "town_code": 32, "grid_code": 32,
    "level": 16, "kind": 64, "road_class": 32, "category": 64, "reporter_kind": 32,
    "status": 16, "close_reason": 32, "escalation_level": 16,
    "source_id": 200, "external_id": 200, "region_code": 6,
    "description": 10_000, "note": 10_000,
}

#: Any other text column (names, addresses, phones, opening hours...), characters.
DEFAULT_TEXT_LENGTH = 1_000

# C0 controls except tab, line feed and carriage return; DEL; C1 controls; lone surrogates
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def text_limit(column: str) -> int:
    """The longest text ``column`` may hold, characters."""
    return MAX_TEXT_LENGTH.get(column, DEFAULT_TEXT_LENGTH)


def _describe(ch: str) -> str:
    cp = ord(ch)
    if 0xD800 <= cp <= 0xDFFF:
        return f"a lone surrogate U+{cp:04X} (not a character; the text is broken UTF-16)"
    return f"the control character U+{cp:04X}" + (" (NUL)" if cp == 0 else "")


def text_faults(values, column: str) -> list[tuple[int, str]]:
    """The faults of a column of text: ``(position, reason)`` per bad value, positions 0-based.

    Parameters
    ----------
    values : sequence of str or None
        The column's values (missing values are skipped).
    column : str
        The column's name (its length limit: :func:`text_limit`).
    """
    limit = text_limit(column)
    values = list(values)
    texts = [v for v in values if type(v) is str]  # only text is checked here (numbers are coerced elsewhere)
    if not texts:
        return []
    # the common case, a clean column, in two C-speed passes over all of it at once: the longest
    # value, and one search of the values joined by a character the check allows
    if max(map(len, texts)) <= limit and _BAD.search("\n".join(texts)) is None:
        return []
    s = pd.Series(values, dtype=object)
    s = s.where(s.map(type) == str)
    long_ = (s.str.len() > limit).fillna(False).to_numpy(dtype=bool)
    bad = s.str.contains(_BAD).fillna(False).to_numpy(dtype=bool) & ~long_
    out: list[tuple[int, str]] = []
    for i in np.flatnonzero(long_ | bad):
        v = s.iloc[i]
        if long_[i]:
            out.append((int(i), f"{column} is {len(v):,} characters long; at most {limit:,} are allowed"))
        else:
            m = _BAD.search(v)
            out.append((int(i), f"{column} contains {_describe(m.group())} at character {m.start() + 1}"))
    return out


def shown(value, width: int = 80):
    """``value`` as a problem may quote it: text with control characters or lone surrogates
    escaped (``repr``) and cut to ``width`` characters; anything else unchanged."""
    if not isinstance(value, str):
        return value
    if _BAD.search(value):
        value = repr(value)[1:-1]
    return value if len(value) <= width else value[: width - 1] + "…"
