"""Reading vector files (GeoJSON, GeoPackage, Shapefile) with pyogrio, for :func:`geo.io.read_layer`.

A Shapefile's text encoding is never guessed: with no ``--encoding``, no ``.cpg`` and no code page
in the .dbf header, its attribute text must decode as UTF-8, else :class:`geo.errors.InvalidInput`
asks for ``--encoding gbk``.  Coordinates are returned as the file has them (CRS untouched);
:mod:`geo.io` brings them to EPSG:4326.
"""

from __future__ import annotations

import codecs
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from geo.errors import InvalidInput, Problem
from geo.io.text import bad_character, undecodable_problems

__all__ = ["read_vector", "shapefile_encoding", "check_dbf_text"]

_UTF8_TEST_BYTES = 256 * 1024 * 1024  # decode at most this much of a .dbf when checking UTF-8


# --- Shapefile encoding -----------------------------------------------------------------------

def _dbf_source(path: Path) -> tuple[bytes | None, str | None]:
    """(first bytes of the .dbf up to :data:`_UTF8_TEST_BYTES`, the text of the .cpg or None when absent)."""
    if path.suffix.lower() == ".zip":
        import zipfile

        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                cpg_name = next((n for n in names if n.lower().endswith(".cpg")), None)
                cpg = zf.read(cpg_name).decode("ascii", "replace") if cpg_name else None
                dbf = next((n for n in names if n.lower().endswith(".dbf")), None)
                if dbf is None:
                    return None, cpg
                with zf.open(dbf) as fh:
                    return fh.read(_UTF8_TEST_BYTES), cpg
        except zipfile.BadZipFile:
            return None, None
    cpg = next((path.with_suffix(s).read_text(encoding="ascii", errors="replace")
                for s in (".cpg", ".CPG") if path.with_suffix(s).exists()), None)
    for suffix in (".dbf", ".DBF"):
        dbf = path.with_suffix(suffix)
        if dbf.exists():
            with open(dbf, "rb") as fh:
                return fh.read(_UTF8_TEST_BYTES), cpg
    return None, cpg


def _codec(name: str | None) -> str | None:
    """The Python codec of an ``--encoding`` or ``.cpg`` value (``936`` -> cp936), or None if unknown."""
    if not name or not name.strip():
        return None
    text = name.strip().split()[-1]  # "ANSI 936" -> "936"
    for cand in (text, f"cp{text}" if text.isdigit() else None):
        if cand:
            try:
                return codecs.lookup(cand).name
            except LookupError:
                pass
    return None


def _dbf_text_fields(raw: bytes) -> dict[str, list[bytes]]:
    """Raw values (trailing blanks stripped) of every character field of the records in ``raw`` (a .dbf)."""
    n = int.from_bytes(raw[4:8], "little")
    header_len = int.from_bytes(raw[8:10], "little")
    rec_len = int.from_bytes(raw[10:12], "little")
    fields, off, pos = [], 1, 32  # each record starts with its deletion flag
    while pos + 32 <= header_len and raw[pos] != 0x0D:
        name = raw[pos:pos + 11].split(b"\0")[0].decode("ascii", "replace")
        kind = chr(raw[pos + 11])
        length = raw[pos + 16] + (256 * raw[pos + 17] if kind == "C" else 0)
        fields.append((name, kind, off, length))
        off += length
        pos += 32
    n = min(n, max(len(raw) - header_len, 0) // max(rec_len, 1))
    if n == 0:
        return {}
    recs = np.frombuffer(raw, dtype=np.uint8, count=n * rec_len, offset=header_len).reshape(n, rec_len)
    return {name: [bytes(r).rstrip(b" \0") for r in recs[:, a:a + length]]
            for name, kind, a, length in fields if kind == "C"}


def check_dbf_text(path: Path, encoding: str | None) -> None:
    """Refuse a Shapefile whose text does not read cleanly in ``encoding`` (or its .cpg's), naming field and row.

    GDAL converts what it can and drops the rest with a warning, so a wrong but decodable
    encoding (GB2312 on a GBK file) would store garbled names; here the .dbf's character fields
    are decoded strictly in Python first.  A file whose .dbf declares its code page and no
    encoding given, or an encoding Python does not know, is left to GDAL.

    Raises
    ------
    geo.errors.InvalidInput
        Every (row, field) that does not decode or decodes to replacement, private-use or
        unassigned characters, with the encoding that would read the file cleanly.
    """
    raw, cpg = _dbf_source(path)
    codec = _codec(encoding) if encoding else _codec(cpg)
    if raw is None or codec is None or len(raw) < 32:
        return
    header_len = int.from_bytes(raw[8:10], "little")
    try:
        decoded = raw[header_len:].decode(codec)
    except UnicodeDecodeError:
        decoded = None
    if decoded is not None and not any(bad_character(c) for c in set(decoded) if ord(c) > 127):
        return  # the fast path: the whole record area reads cleanly
    problems = undecodable_problems(_dbf_text_fields(raw), codec)
    if problems:
        given = f"--encoding {encoding}" if encoding else f"the .cpg file's {cpg.strip()!r}"
        raise InvalidInput(f"{path.name}: the text does not read cleanly with {given}", problems)


def shapefile_encoding(path: Path, encoding: str | None) -> str | None:
    """The encoding to read a Shapefile's text with, or raise when it would be a guess.

    With ``--encoding`` that is used; with a ``.cpg`` file or a code page in the .dbf header
    (language driver id) GDAL knows it.  Otherwise the text must decode as UTF-8 (plain ASCII
    does); when it does not, the file is most likely GBK and the user must say so.
    """
    if encoding:
        return encoding
    raw, cpg = _dbf_source(path)
    if raw is None or cpg is not None or len(raw) < 32:
        return None
    if raw[29] != 0:
        return None  # the .dbf declares its code page (language driver id); GDAL honours it
    header_len = int.from_bytes(raw[8:10], "little")
    data = raw[header_len:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start > len(data) - 4 and len(raw) >= _UTF8_TEST_BYTES:  # cut inside a character at the limit
            return "utf-8"
        raise InvalidInput(
            "Shapefile text is not UTF-8 and no encoding was given",
            [Problem(f"{path.name} has no .cpg file and its attribute text is not UTF-8 (byte offset "
                     f"{exc.start} of the records); Chinese Shapefiles are usually GBK: pass "
                     "--encoding gbk (or the right encoding) so names are not garbled", field="--encoding")],
        ) from None
    return "utf-8"


def _unbuildable_geometries(src: str, kwargs: dict, encoding: str | None, frame: gpd.GeoDataFrame,
                            id_columns: tuple[str, ...], gdal_notes: list[str], name: str) -> list[Problem]:
    """Problems for the features whose geometry GDAL read but shapely cannot build (e.g. an unclosed ring)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GDAL repeats what the first read said (in gdal_notes)
        _, _, wkb, _ = pyogrio.raw.read(src, encoding=encoding, columns=[], **kwargs)
    wkb = np.asarray(wkb, dtype=object)
    present = np.array([w is not None for w in wkb], dtype=bool)
    built = shapely.from_wkb(np.where(present, wkb, None), on_invalid="ignore")
    bad = np.flatnonzero(present & shapely.is_missing(built))
    id_column = next((c for c in id_columns if c in frame.columns), None)
    ids = frame[id_column].to_numpy(dtype=object) if id_column else None
    unclosed_note = any("closed ring" in n.lower() for n in gdal_notes)
    problems = []
    for i in bad:
        try:
            shapely.from_wkb(wkb[i])
            why = "cannot be built"
        except Exception as exc:  # noqa: BLE001 - shapely/GEOS says why
            why = str(exc)
        if "closed linestring" in why or (unclosed_note and "LinearRing" in why):
            reason = ("a ring of the polygon is not closed (its last point is not its first point): end every "
                      "ring with its first point, or repair the feature in a GIS")
        else:
            reason = f"the geometry cannot be built ({why})"
        fid = None if ids is None or ids[i] is None or (isinstance(ids[i], float) and np.isnan(ids[i])) else str(ids[i])
        problems.append(Problem(f"{name}: {reason}", row=int(i) + 1, field="geometry", feature_id=fid))
    return problems


def read_vector(path: Path, fmt: str, file_layer: str | None, encoding: str | None,
                id_columns: tuple[str, ...] = ()) -> gpd.GeoDataFrame:
    """Read one layer of a GeoJSON, GeoPackage or Shapefile (``.shp`` or zipped) with pyogrio.

    Parameters
    ----------
    path : Path
        The file.
    fmt : {"geojson", "gpkg", "shp"}
        Its format (:data:`geo.io.FORMATS`).
    file_layer : str or None
        Layer to read; required when the file holds several.
    encoding : str or None
        Text encoding (Shapefiles: see :func:`shapefile_encoding`; checked by :func:`check_dbf_text`).
    id_columns : tuple of str
        The file's columns that may hold each feature's identifier (the first present is named in
        problems as ``feature_id``).

    Returns
    -------
    geopandas.GeoDataFrame
        The features in the file's own CRS (possibly none); :mod:`geo.io` reprojects to EPSG:4326.
        ``attrs["warnings"]``: what GDAL warned about while reading (no warning is re-emitted).

    Raises
    ------
    geo.errors.InvalidInput
        Unreadable file, unknown or ambiguous layer, undecodable or garbled text, no geometry
        column, features whose geometry cannot be built (unclosed rings...), each with its 1-based
        feature row and id.
    """
    src = str(path)
    if fmt == "shp" and path.suffix.lower() == ".zip":
        src = f"/vsizip/{path}"
    layers = None
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(src)]
    except Exception as exc:  # noqa: BLE001 - any GDAL failure means the file can't be opened
        raise InvalidInput("Cannot open the file", [Problem(f"{path.name}: {exc}", field="FILE")]) from None
    if file_layer is not None and file_layer not in layers:
        raise InvalidInput(
            "No such layer in the file",
            [Problem(f"{path.name} has no layer {file_layer!r}; its layers are: {', '.join(layers)}",
                     field="--layer")],
        )
    if file_layer is None and len(layers) > 1:
        raise InvalidInput(
            "The file holds several layers",
            [Problem(f"{path.name} has layers {', '.join(layers)}: choose one with --layer", field="--layer")],
        )
    if fmt == "shp":
        encoding = shapefile_encoding(path, encoding)
        check_dbf_text(path, encoding)
    kwargs = {"layer": file_layer} if file_layer else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = pyogrio.read_dataframe(src, encoding=encoding, on_invalid="warn", **kwargs)
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                "The file's text is not in the expected encoding",
                [Problem(f"{path.name}: {exc}; pass --encoding (e.g. gbk)", field="--encoding")],
            ) from None
        except LookupError as exc:
            raise InvalidInput("Unknown encoding", [Problem(str(exc), field="--encoding")]) from None
        except Exception as exc:  # noqa: BLE001
            raise InvalidInput("Cannot read the file", [Problem(f"{path.name}: {exc}", field="FILE")]) from None
    notes = [str(w.message) for w in caught]
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InvalidInput("The file has no geometry", [Problem(f"{path.name} has no geometry column", field="FILE")])
    if any("invalid wkb" in n.lower() for n in notes):
        problems = _unbuildable_geometries(src, kwargs, encoding, frame, id_columns, notes, path.name)
        if problems:
            raise InvalidInput(f"{len(problems)} feature(s) of {path.name} have a geometry that cannot be read",
                               problems)
    if any("couldn't be converted" in n for n in notes):
        raise InvalidInput(
            "The file's text is not in the given encoding",
            [Problem(f"{path.name}: some characters do not convert from {encoding or 'the declared encoding'}; "
                     "pass the file's real encoding with --encoding (gbk, gb18030, utf-8 ...)", field="--encoding")],
        )
    frame.attrs["warnings"] = [n for n in notes if "invalid wkb" not in n.lower()]
    return frame
