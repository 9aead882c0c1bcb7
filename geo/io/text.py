"""Checking decoded text: a wrong but decodable encoding must not store garbled names.

A file read with the wrong encoding does not always fail to decode: GB2312 applied to a GBK file
skips the characters GB2312 lacks (堃, 喆, 镕 ...), other codecs give U+FFFD replacement
characters, private-use (Unicode category ``Co``) or unassigned (``Cn``) code points.
:func:`bad_text_problems` finds such values in a frame's text columns; :func:`undecodable_problems`
decodes raw byte values strictly and says which encoding would read them cleanly.
"""

from __future__ import annotations

import codecs
import unicodedata

import numpy as np
import pandas as pd

from geo.errors import Problem

__all__ = ["CANDIDATE_ENCODINGS", "bad_character", "bad_text_problems", "undecodable_problems", "encoding_hint"]

#: Encodings suggested when the given one does not read the bytes cleanly, in this order.
CANDIDATE_ENCODINGS: tuple[str, ...] = ("utf-8", "gbk", "gb18030")

_MAX_PROBLEMS = 200  # listed per file; the message says how many more


def bad_character(ch: str) -> bool:
    """Whether ``ch`` is a replacement character (U+FFFD), private use (``Co``) or unassigned (``Cn``)."""
    return ch == "\ufffd" or unicodedata.category(ch) in ("Co", "Cn")


def _describe(ch: str) -> str:
    kind = "a replacement character" if ch == "\ufffd" else (
        "a private-use character" if unicodedata.category(ch) == "Co" else "an unassigned code point")
    return f"U+{ord(ch):04X} ({kind})"


def _text_of(arr: np.ndarray) -> str:
    """The text values of an object column joined, missing values skipped (one C pass when every
    present value is text, the usual case; else the text values picked one by one)."""
    present = arr[~pd.isna(arr)]
    try:
        return "".join(present)
    except TypeError:
        return "".join(v for v in present if isinstance(v, str))


def bad_text_problems(frame: pd.DataFrame, ids: np.ndarray | None = None, *, hint: str = "") -> list[Problem]:
    """Problems for every text value holding a character :func:`bad_character` refuses.

    Parameters
    ----------
    frame : pandas.DataFrame
        Decoded columns; only object/string columns are looked at (the geometry column is skipped).
    ids : ndarray of object, optional
        Each row's feature identifier (``None`` where unknown), for ``Problem.feature_id``.
    hint : str
        Appended to each reason (what to pass instead).

    Returns
    -------
    list of Problem
        One per (row, column), 1-based rows, ``field`` the column.
    """
    problems: list[Problem] = []
    cols = [c for c in frame.columns
            if pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c])]
    values = {c: frame[c].to_numpy(dtype=object) for c in cols}
    joined = "".join(_text_of(arr) for arr in values.values())  # a clean file costs one C pass over its text
    if joined.isascii():
        return problems
    badset = {c for c in set(joined) if ord(c) > 127 and bad_character(c)}
    if not badset:
        return problems
    for col, arr in values.items():
        for pos, v in enumerate(arr):
            found = [c for c in v if c in badset] if isinstance(v, str) else []
            if found:
                problems.append(Problem(
                    f"{v[:40]!r} holds {_describe(found[0])}: the text was decoded with the wrong encoding"
                    + hint, row=pos + 1, field=str(col),
                    feature_id=None if ids is None or ids[pos] is None else str(ids[pos])))
    problems.sort(key=lambda p: (p.row, p.field))
    return problems


def encoding_hint(values: list[bytes], given: str | None) -> str:
    """``"; it decodes cleanly as gbk: pass --encoding gbk"`` for the first of :data:`CANDIDATE_ENCODINGS`
    (other than ``given``) that decodes every byte string in ``values`` strictly with no refused
    character, else a plain request for the right ``--encoding``."""
    given_name = codecs.lookup(given).name if given else None
    for enc in CANDIDATE_ENCODINGS:
        if codecs.lookup(enc).name == given_name:
            continue
        try:
            decoded = [v.decode(enc) for v in values]
        except UnicodeDecodeError:
            continue
        if not any(bad_character(c) for c in set("".join(decoded)) if ord(c) > 127):
            return f"; it decodes cleanly as {enc}: pass --encoding {enc}"
    return "; pass the file's real encoding with --encoding (gbk, gb18030, utf-8, big5 ...)"


def undecodable_problems(values: dict[str, list[bytes]], encoding: str) -> list[Problem]:
    """Problems for the byte values that do not decode strictly in ``encoding`` or decode to refused characters.

    Parameters
    ----------
    values : dict of str to list of bytes
        Column name -> raw value of each row (row ``i`` is feature ``i + 1``).
    encoding : str
        The encoding the file is to be read with (a Python codec name).

    Returns
    -------
    list of Problem
        One per faulty (row, column), each saying which encoding to try (:func:`encoding_hint`).
    """
    faults: list[tuple[int, str, str]] = []
    for col, raw in values.items():
        for i, b in enumerate(raw):
            try:
                text = b.decode(encoding)
            except UnicodeDecodeError as exc:
                faults.append((i, col, f"bytes {b[exc.start:exc.start + 2].hex(' ')} are not {encoding}"))
                continue
            found = [c for c in text if ord(c) > 127 and bad_character(c)]
            if found:
                faults.append((i, col, f"decodes as {encoding} to {_describe(found[0])}"))
    if not faults:
        return []
    hint = encoding_hint([b for raw in values.values() for b in raw], encoding)
    faults.sort()
    return [Problem(f"the text {why}, so it would be stored garbled{hint}", row=i + 1, field=col)
            for i, col, why in faults[:_MAX_PROBLEMS]]
