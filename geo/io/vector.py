"""Reading vector files (GeoJSON, GeoPackage, Shapefile) with pyogrio, for :func:`geo.io.read_layer`.

A Shapefile's text encoding is never guessed: with no ``--encoding``, no ``.cpg`` and no code page
in the .dbf header, its attribute text must decode as UTF-8, else :class:`geo.errors.InvalidInput`
asks for ``--encoding gbk``.  Coordinates are returned as the file has them (CRS untouched);
:mod:`geo.io` brings them to EPSG:4326.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio

from geo.errors import InvalidInput, Problem

__all__ = ["read_vector", "shapefile_encoding"]

_UTF8_TEST_BYTES = 256 * 1024 * 1024  # decode at most this much of a .dbf when checking UTF-8


# --- Shapefile encoding -----------------------------------------------------------------------

def _dbf_source(path: Path) -> tuple[bytes | None, bool]:
    """(first bytes of the .dbf up to :data:`_UTF8_TEST_BYTES`, whether a .cpg is present)."""
    if path.suffix.lower() == ".zip":
        import zipfile

        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                has_cpg = any(n.lower().endswith(".cpg") for n in names)
                dbf = next((n for n in names if n.lower().endswith(".dbf")), None)
                if dbf is None:
                    return None, has_cpg
                with zf.open(dbf) as fh:
                    return fh.read(_UTF8_TEST_BYTES), has_cpg
        except zipfile.BadZipFile:
            return None, False
    has_cpg = any(path.with_suffix(s).exists() for s in (".cpg", ".CPG"))
    for suffix in (".dbf", ".DBF"):
        dbf = path.with_suffix(suffix)
        if dbf.exists():
            with open(dbf, "rb") as fh:
                return fh.read(_UTF8_TEST_BYTES), has_cpg
    return None, has_cpg


def shapefile_encoding(path: Path, encoding: str | None) -> str | None:
    """The encoding to read a Shapefile's text with, or raise when it would be a guess.

    With ``--encoding`` that is used; with a ``.cpg`` file or a code page in the .dbf header
    (language driver id) GDAL knows it.  Otherwise the text must decode as UTF-8 (plain ASCII
    does); when it does not, the file is most likely GBK and the user must say so.
    """
    if encoding:
        return encoding
    raw, has_cpg = _dbf_source(path)
    if raw is None or has_cpg or len(raw) < 32:
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


def read_vector(path: Path, fmt: str, file_layer: str | None, encoding: str | None) -> gpd.GeoDataFrame:
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
        Text encoding (Shapefiles: see :func:`shapefile_encoding`).

    Returns
    -------
    geopandas.GeoDataFrame
        The features in the file's own CRS (possibly none); :mod:`geo.io` reprojects to EPSG:4326.

    Raises
    ------
    geo.errors.InvalidInput
        Unreadable file, unknown or ambiguous layer, undecodable text, no geometry column.
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
    kwargs = {"layer": file_layer} if file_layer else {}
    try:
        frame = pyogrio.read_dataframe(src, encoding=encoding, **kwargs)
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "The file's text is not in the expected encoding",
            [Problem(f"{path.name}: {exc}; pass --encoding (e.g. gbk)", field="--encoding")],
        ) from None
    except LookupError as exc:
        raise InvalidInput("Unknown encoding", [Problem(str(exc), field="--encoding")]) from None
    except Exception as exc:  # noqa: BLE001
        raise InvalidInput("Cannot read the file", [Problem(f"{path.name}: {exc}", field="FILE")]) from None
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InvalidInput("The file has no geometry", [Problem(f"{path.name} has no geometry column", field="FILE")])
    return frame
