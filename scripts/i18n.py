"""gridmap's message catalogues: extract the keys the code uses, add the missing ones, compile.

    python scripts/i18n.py extract   # keys of t("...") calls in api/ (Babel, babel.cfg) -> api/locale/gridmap.pot;
                                     # keys missing from a .po are added with an empty msgstr to translate
    python scripts/i18n.py check     # exit 1 if a key used in the code lacks a text in either language
    python scripts/i18n.py compile   # .po -> .mo (also done by api.i18n on first use)

The catalogues are keyed (``msgid "map.title"``); a translator edits ``msgstr`` in
``api/locale/{zh,en}/LC_MESSAGES/gridmap.po``.  Keys built at run time (``f"coverage.band.{b}"``)
are not extracted: they live in the .po files only, and the tests check the pages for stray text.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEYWORDS = {"t": None}


def extracted() -> dict[str, list[tuple[str, int]]]:
    """key -> [(file, line)] of every literal first argument of a ``t(...)`` call under ``api/``."""
    import contextlib
    import io
    import warnings

    from babel.messages.extract import extract_from_dir

    out: dict[str, list[tuple[str, int]]] = {}
    method_map = [("**.py", "python")]
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")  # f-string keys (f"kind.{k}") are built at run time, on purpose
        found = list(extract_from_dir(ROOT / "api", method_map, keywords=KEYWORDS, comment_tags=(),
                                      strip_comment_tags=True))
    for filename, lineno, message, _comments, _ctx in found:
        key = message if isinstance(message, str) else message[0]
        if key and "." in key and " " not in key and not key.endswith("."):
            out.setdefault(key, []).append((f"api/{filename}", lineno))
    return out


def missing() -> dict[str, list[str]]:
    """language -> keys used in the code that its .po lacks (or leaves empty)."""
    from api import i18n

    keys = extracted()
    return {lang: sorted(k for k in keys if not i18n.CATALOGUE.get(k, {}).get(lang)) for lang in i18n.LANGS}


def extract() -> None:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    from api import i18n

    keys = extracted()
    pot = Catalog(project="gridmap", domain=i18n.DOMAIN)
    for key, where in keys.items():
        pot.add(key, locations=where)
    with (i18n.LOCALE_DIR / "gridmap.pot").open("wb") as f:
        write_po(f, pot, width=100, omit_header=False)
    for lang in i18n.LANGS:
        po = i18n.po_path(lang)
        with po.open("rb") as f:
            cat = read_po(f)
        added = [k for k in keys if k not in cat]
        for k in added:
            cat.add(k, "", locations=keys[k])
        if added:
            with po.open("wb") as f:
                write_po(f, cat, width=100, sort_output=False)
        print(f"{po.relative_to(ROOT)}: {len(added)} key(s) added to translate")


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "check"
    if cmd == "extract":
        extract()
    elif cmd == "compile":
        from api import i18n

        for mo in i18n.compile_catalogues():
            print("compiled", mo.relative_to(ROOT))
    elif cmd == "check":
        gaps = missing()
        for lang, keys in gaps.items():
            for k in keys:
                print(f"{lang}: no text for {k}")
        return 1 if any(gaps.values()) else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
