"""User-facing strings in Chinese (the default) and English: the one place that reads the catalogues.

The strings live as gettext catalogues, ``api/locale/{zh,en}/LC_MESSAGES/gridmap.po`` (Babel), one
entry a key (``msgid "map.title"``, ``msgstr "网格总览图"``; a comment gives the other language's text
for the translator).  They are compiled to ``.mo`` at build/setup time (``scripts/i18n.py compile``),
or here on first use when a ``.mo`` is missing or older than its ``.po``; nothing needs a network.
``scripts/i18n.py extract`` finds the keys the code uses (``pybabel``'s extractor, ``babel.cfg``)
and adds any the catalogues lack.

Pages and messages call :func:`t` with a key and the language of the request, which
:func:`request_lang` picks: ``?lang=en`` first, then the ``Accept-Language`` header, then
``settings.language``.  Messages the code writes in English (errors' details, problems' reasons,
CLI help) are translated by :func:`detail`, which reads ``detail.*`` entries as patterns.
:func:`add` adds strings at run time (the incident categories, which ``geo.layers`` names in both
languages; tests)::

    from api import i18n
    i18n.add({"test.hello": {"zh": "你好", "en": "Hello"}})
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import Literal

from api.negotiation import language
from geo.layers import INCIDENT_CATEGORIES

Lang = Literal["zh", "en"]
LANGS: tuple[str, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "gridmap"


def po_path(lang: str) -> Path:
    """The catalogue a translator edits: ``api/locale/<lang>/LC_MESSAGES/gridmap.po``."""
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalogues(langs: tuple[str, ...] = LANGS) -> list[Path]:
    """Compile each ``.po`` into its ``.mo`` (Babel; no network); returns the files written.

    Run at build/setup time (``scripts/i18n.py compile``, ``scripts/setup.sh``); :func:`load` also
    calls it on first use when a ``.mo`` is missing or older than its ``.po``.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    out = []
    for lang in langs:
        po = po_path(lang)
        with po.open("rb") as f:
            catalog = read_po(f, locale=None, domain=DOMAIN)
        mo = po.with_suffix(".mo")
        with mo.open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
        out.append(mo)
    return out


def _read_mo(data: bytes) -> dict[str, str]:
    """The messages of a GNU ``.mo`` file (the documented format: magic, count, two offset tables)."""
    magic = struct.unpack("<I", data[:4])[0]
    order = "<" if magic == 0x950412DE else ">"
    _, n, orig, trans = struct.unpack(order + "4I", data[4:20])
    out = {}
    for i in range(n):
        olen, ooff = struct.unpack(order + "2I", data[orig + 8 * i: orig + 8 * i + 8])
        tlen, toff = struct.unpack(order + "2I", data[trans + 8 * i: trans + 8 * i + 8])
        key = data[ooff: ooff + olen].decode("utf-8")
        if key:  # the empty msgid holds the header
            out[key] = data[toff: toff + tlen].decode("utf-8")
    return out


def _messages(lang: str) -> dict[str, str]:
    po = po_path(lang)
    mo = po.with_suffix(".mo")
    if not mo.is_file() or mo.stat().st_mtime < po.stat().st_mtime:
        try:
            compile_catalogues((lang,))
        except OSError:  # a read-only install without .mo files: read the .po itself
            from babel.messages.pofile import read_po

            with po.open("rb") as f:
                return {m.id: m.string for m in read_po(f) if m.id and m.string}
    return {k: v for k, v in _read_mo(mo.read_bytes()).items() if v}


def load() -> dict[str, dict[str, str]]:
    """Every key of the ``.po`` catalogues with its text per language (the compiled ``.mo`` files,
    compiled first when missing or stale)."""
    per_lang = {lang: _messages(lang) for lang in LANGS}
    keys = dict.fromkeys(k for lang in LANGS for k in per_lang[lang])
    return {k: {lang: per_lang[lang][k] for lang in LANGS if k in per_lang[lang]} for k in keys}


#: key -> {language: text}: the ``.po`` catalogues, plus what :func:`add` adds at run time (the
#: incident categories of ``geo.layers``, tests).
CATALOGUE: dict[str, dict[str, str]] = load()
for _code, (_zh, _en, _sla) in INCIDENT_CATEGORIES.items():
    CATALOGUE[f"category.{_code}"] = {"zh": _zh, "en": _en}


def add(entries: dict[str, dict[str, str]]) -> None:
    """Add strings to the catalogue; each entry needs every language in :data:`LANGS`.

    Raises
    ------
    ValueError
        If an entry lacks a language, or redefines an existing key with different text.
    """
    for key, texts in entries.items():
        missing = [lang for lang in LANGS if not texts.get(lang)]
        if missing:
            raise ValueError(f"i18n key {key!r} has no text for {', '.join(missing)}")
        if key in CATALOGUE and CATALOGUE[key] != texts:
            raise ValueError(f"i18n key {key!r} is already defined differently")
        CATALOGUE[key] = dict(texts)


def normalise(lang: str | None) -> Lang | None:
    """``'en-GB'`` -> ``'en'``, ``'zh-Hans-CN'`` -> ``'zh'``; ``None`` for languages gridmap lacks."""
    if not lang:
        return None
    base = lang.strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGS else None  # type: ignore[return-value]


def t(key: str, lang: str | None = None, **fmt: object) -> str:
    """The text for ``key`` in ``lang`` (default Chinese), formatted with ``fmt``.

    Raises ``KeyError`` for a key nobody defined, so a typo fails in tests, not on a page.
    """
    texts = CATALOGUE[key]
    text = texts.get(normalise(lang) or DEFAULT_LANG) or texts[DEFAULT_LANG]
    return text.format(**fmt) if fmt else text


def error_title(slug: str, title: str, lang: str | None = None) -> str:
    """The title of an error (``slug`` as in :mod:`api.errors`) in ``lang``; ``title`` when the
    catalogue has none."""
    key = f"error.title.{slug}"
    return t(key, lang) if key in CATALOGUE else title


_DETAIL_PATTERNS: list[tuple[re.Pattern, str]] | None = None


def _detail_patterns() -> list[tuple[re.Pattern, str]]:
    global _DETAIL_PATTERNS
    if _DETAIL_PATTERNS is None or len(_DETAIL_PATTERNS) != sum(map(_is_pattern, CATALOGUE)):
        out = []
        for key, texts in CATALOGUE.items():
            if _is_pattern(key):
                parts = re.split(r"\{(\w+)\}", texts["en"])
                rx = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
                out.append((re.compile(rx + r"\Z", re.S), key))
        _DETAIL_PATTERNS = out
    return _DETAIL_PATTERNS


def _is_pattern(key: str) -> bool:
    """``detail.*`` entries, and entries keyed by their English text that hold ``{name}`` parts."""
    return key.startswith("detail.") or ("{" in key and " " in key and CATALOGUE[key].get("en") == key)


def text(english: str, lang: str | None = None) -> str:
    """A text the code writes in English (CLI help, messages) in ``lang``: the entry whose msgid is
    that text (whitespace runs read as one space), else as :func:`detail`; else as written."""
    lang = normalise(lang) or DEFAULT_LANG
    if lang == "en" or not english:
        return english
    norm = " ".join(english.split())
    hit = CATALOGUE.get(norm, {}).get(lang)
    return hit if hit else detail(norm, lang) if "{" not in norm else english


def cli_lang() -> Lang:
    """The CLI's language: ``GRIDMAP_LANGUAGE`` from the environment, read here without the settings
    object (pydantic would cost ``gridmap --help`` 0.3 s); English when it is not set, so scripts
    that read the CLI's output keep working (set ``GRIDMAP_LANGUAGE=zh`` for Chinese)."""
    return normalise(os.environ.get("GRIDMAP_LANGUAGE")) or "en"


def detail(text: str, lang: str | None = None) -> str:
    """A message written in English by the code (an error's detail, a problem's reason) in ``lang``:
    the first ``detail.*`` entry whose English text, read as a pattern, matches the whole message
    gives the translation, its ``{name}`` parts carried over; a message no entry matches stays as
    written."""
    lang = normalise(lang) or DEFAULT_LANG
    if lang == "en" or not text:
        return text
    for rx, key in _detail_patterns():
        m = rx.match(text)
        if m:
            return CATALOGUE[key][lang].format(**m.groupdict())
    return text


def kind_label(kind: str, lang: str | None = None) -> str:
    """Display name of a station kind; a user-defined kind is shown as written."""
    key = f"kind.{kind}"
    return t(key, lang) if key in CATALOGUE else kind


def accept_language(header: str | None, prefer: str | None = None) -> Lang | None:
    """The best language gridmap has from an ``Accept-Language`` header (q-values, ``*``, order:
    :func:`api.negotiation.language`); ``prefer`` first when the header leaves the choice open
    (``*``); None when the header names no language gridmap has."""
    first = normalise(prefer)
    offers = ((first,) if first else ()) + tuple(x for x in LANGS if x != first)
    return language(header, offers)  # type: ignore[return-value]


def request_lang(request, default: str | None = None) -> Lang:
    """The language for a request: ``?lang=``, then ``Accept-Language``, then ``default``.

    ``request`` is a Starlette request; ``default`` is usually ``settings.language``.
    """
    return (
        normalise(request.query_params.get("lang"))
        or accept_language(request.headers.get("accept-language"), default)
        or normalise(default)
        or DEFAULT_LANG
    )
