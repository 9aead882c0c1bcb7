"""Validating an imported frame against its layer before anything is written.

:func:`validate_frame` checks everything it can without a database and reports *every* fault
at once (1-based row, field, feature id, reason) in one :class:`geo.errors.InvalidInput`:

- required columns missing (naming them and the columns found) or empty in a row;
- values of the wrong type (non-integer households, unparsable dates, non-boolean flags),
  values out of their domain (area level, ``oneway`` not -1/0/1, negative counts, speeds <= 0,
  incident status), text too long for its column, region codes that are not 6 digits;
- duplicate keys within the file;
- geometry: missing/empty, wrong type, out-of-range or swapped longitude/latitude, invalid or
  self-intersecting polygons (with the location; ``fix=True`` repairs them), see
  :mod:`geo.validate.geometry`.

Checks that need the stored data (a grid outside its community, an unknown community code) run
in :func:`api.db.load.load_frame`, inside the import's transaction.

Times without a time zone are taken in the zone ``tz`` (the caller passes ``settings.timezone``,
``GRIDMAP_TIMEZONE``; default China Standard Time, UTC+08:00, :data:`NAIVE_TZ`, the way Chinese office
systems and 12345 hotline exports write them); stored times are UTC.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo.errors import InvalidInput, Problem
from geo.layers import AREA_LEVELS, CLOSE_REASONS, ESCALATION_LEVELS, INCIDENT_STATUSES, LAYERS, ROAD_CLASSES, Layer
from geo.validate.geometry import check_geometries
from geo.validate.text import MAX_TEXT_LENGTH, shown, text_faults

__all__ = ["validate_frame", "NAIVE_TZ", "YEARS", "MAX_LENGTH", "VOCABULARIES", "OPTIONAL_GEOMETRY"]

log = logging.getLogger(__name__)

#: First and last year of a date or time any layer accepts: a year outside is a typing mistake
#: (year 1, 20250), not a record.
YEARS = (1900, 2199)

#: Default time zone (IANA name) of times written without one: ``validate_frame(tz=...)``.
NAIVE_TZ = "Asia/Shanghai"

#: Longest text per column, characters (the schema's varchar lengths, the keys' and free text's
#: limits); any other text column: :data:`geo.validate.text.DEFAULT_TEXT_LENGTH`.
MAX_LENGTH: dict[str, int] = MAX_TEXT_LENGTH

#: (layer, column) -> allowed values.
VOCABULARIES: dict[tuple[str, str], tuple] = {
    ("areas", "level"): AREA_LEVELS,
    ("incidents", "status"): INCIDENT_STATUSES,
    ("incidents", "close_reason"): CLOSE_REASONS,
    ("incidents", "escalation_level"): ESCALATION_LEVELS,
}

#: Extra geometry columns a layer may carry through validation (stored when present).
OPTIONAL_GEOMETRY: dict[str, str] = {"dwellings": "footprint"}

_NON_NEGATIVE = ("households", "population", "capacity", "levels")
_TRUE = {"true", "t", "yes", "y", "1", "是", "真", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "否", "假", "0.0"}
_TZ_SUFFIX = r"(?:[zZ]|[+-]\d{2}:?\d{2})\s*$"


class _Collector:
    """Problems with row numbers and feature ids filled in from masks."""

    def __init__(self, rows: np.ndarray, ids: np.ndarray):
        self.rows, self.ids, self.items = rows, ids, []

    def add_mask(self, mask, field: str, reason) -> None:
        for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
            text = reason(i) if callable(reason) else reason
            self.items.append(Problem(text, row=int(self.rows[i]), field=field, feature_id=self.ids[i]))


def _as_text(s: pd.Series) -> pd.Series:
    """Text column: numbers written without a spurious '.0', stripped, empty -> missing."""
    if s.isna().all():  # an empty column (most optional ones): nothing to convert or strip
        return pd.Series(pd.NA, index=s.index, dtype="string")
    if pd.api.types.is_float_dtype(s):
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        integral = np.isfinite(vals) & (np.mod(vals, 1) == 0)
        out = s.astype(object)
        out[integral] = vals[integral].astype(np.int64).astype(str)
        out[~integral & np.isfinite(vals)] = s[~integral & np.isfinite(vals)].astype(str)
        out[~np.isfinite(vals)] = None
        s = out
    elif pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s):
        s = s.astype("string")
    s = s.astype("string").str.strip()
    return s.mask(s == "")


def _as_number(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Numbers (float64) and a mask of non-missing values that are not numbers."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        num = pd.to_numeric(s, errors="coerce").astype("float64")
        return num, np.zeros(len(s), dtype=bool)
    text = _as_text(s)
    num = pd.to_numeric(text, errors="coerce").astype("float64")
    return num, (text.notna() & num.isna()).to_numpy()


def _as_bool(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean"), np.zeros(len(s), dtype=bool)
    text = _as_text(s).str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[text.isin(_TRUE).fillna(False).to_numpy(dtype=bool)] = True
    out[text.isin(_FALSE).fillna(False).to_numpy(dtype=bool)] = False
    return out, (text.notna() & out.isna()).to_numpy()


def _as_datetime(s: pd.Series, tz: str) -> tuple[pd.Series, np.ndarray]:
    """UTC timestamps; naive values are local times of zone ``tz``."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC"), np.zeros(len(s), dtype=bool)
    if pd.api.types.is_datetime64_dtype(s):
        return s.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC"), \
            np.zeros(len(s), dtype=bool)
    text = _as_text(s)
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    naive = (~text.str.contains(_TZ_SUFFIX, regex=True)).fillna(False).to_numpy(dtype=bool)
    if naive.any():  # parsed as if UTC; they were local times of tz
        shifted = parsed[naive].dt.tz_localize(None).dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        shifted = shifted.dt.tz_convert("UTC")
        parsed = parsed.copy()
        parsed[naive] = shifted
    return parsed, (text.notna() & parsed.isna()).to_numpy()


def _as_date(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_datetime64_any_dtype(s):
        parsed = s
        bad = np.zeros(len(s), dtype=bool)
    else:
        text = _as_text(s)
        parsed = pd.to_datetime(text, errors="coerce", format="mixed")
        bad = (text.notna() & parsed.isna()).to_numpy()
    out = pd.Series(parsed.dt.date, index=s.index, dtype=object)
    out[parsed.isna().to_numpy()] = None
    return out, bad


def _coerce(layer: Layer, frame: pd.DataFrame, out: dict, problems: _Collector, tz: str) -> None:
    n = len(frame)
    for col in layer.columns:
        name = col.name
        if name not in frame.columns:
            out[name] = pd.Series([None] * n if col.dtype in ("str", "date") else pd.NA,
                                  index=frame.index, dtype={
                                      "str": "string", "int": "Int64", "float": "Float64", "bool": "boolean",
                                      "datetime": "datetime64[ns, UTC]", "date": object}[col.dtype])
            continue
        s = frame[name]
        raw = s
        if col.dtype == "str":
            faults = text_faults(s.to_numpy(dtype=object), name)  # NUL, lone surrogates, length
            bad = np.zeros(n, dtype=bool)
            reasons = {}
            for i, why in faults:
                bad[i], reasons[i] = True, why
            problems.add_mask(bad, name, reasons.__getitem__)
            text = _as_text(s.mask(bad)) if bad.any() else _as_text(s)
            out[name] = text
        elif col.dtype == "int":
            num, bad = _as_number(s)
            vals = num.to_numpy(dtype=float, na_value=np.nan)
            frac = np.isfinite(vals) & (np.mod(vals, 1) != 0)
            problems.add_mask(bad | np.isinf(vals), name, lambda i: f"{raw.iloc[i]!r} is not a whole number")
            problems.add_mask(frac, name, lambda i: f"{vals[i]:g} is not a whole number")
            ok = np.isfinite(vals) & ~frac
            res = pd.Series(pd.NA, index=frame.index, dtype="Int64")
            res[ok] = vals[ok].astype(np.int64)
            out[name] = res
        elif col.dtype == "float":
            num, bad = _as_number(s)
            problems.add_mask(bad | np.isinf(num.to_numpy(dtype=float, na_value=np.nan)), name,
                              lambda i: f"{raw.iloc[i]!r} is not a number")
            out[name] = num.where(np.isfinite(num)).astype("Float64")
        elif col.dtype == "bool":
            res, bad = _as_bool(s)
            problems.add_mask(bad, name, lambda i: f"{raw.iloc[i]!r} is not true/false (or yes/no, 1/0, 是/否)")
            out[name] = res
        elif col.dtype == "datetime":
            res, bad = _as_datetime(s, tz)
            problems.add_mask(bad, name, lambda i: f"{raw.iloc[i]!r} is not a date and time")
            years = res.dt.year.to_numpy(dtype=float, na_value=np.nan)
            problems.add_mask((years < YEARS[0]) | (years > YEARS[1]), name,
                              lambda i: f"{res.iloc[i].isoformat()} is outside the years {YEARS[0]}-{YEARS[1]}")
            out[name] = res
        elif col.dtype == "date":
            res, bad = _as_date(s)
            problems.add_mask(bad, name, lambda i: f"{raw.iloc[i]!r} is not a date")
            odd = np.array([d is not None and not (YEARS[0] <= d.year <= YEARS[1]) for d in res], dtype=bool)
            problems.add_mask(odd, name, lambda i: f"{res.iloc[i]} is outside the years {YEARS[0]}-{YEARS[1]}")
            out[name] = res


def _domain_checks(layer: Layer, out: dict, problems: _Collector) -> None:
    region = out["region_code"] if "region_code" in out else None
    if region is not None:
        bad = (region.notna() & ~region.str.fullmatch(r"\d{6}").fillna(False)).to_numpy(dtype=bool)
        problems.add_mask(bad, "region_code", lambda i: f"{region.iloc[i]!r} is not a 6-digit county code")
    for (lname, col), allowed in VOCABULARIES.items():
        if lname == layer.name and col in out:
            s = out[col]
            bad = (s.notna() & ~s.isin(allowed)).to_numpy(dtype=bool)
            problems.add_mask(bad, col, lambda i, s=s, col=col, allowed=allowed:
                              f"unknown {col} {s.iloc[i]!r}; use one of {', '.join(allowed)}")
    for col in _NON_NEGATIVE:
        if col in out:
            vals = out[col]
            bad = (vals < 0).fillna(False).to_numpy(dtype=bool)
            problems.add_mask(bad, col, lambda i, v=vals, c=col: f"{c} {v.iloc[i]} is negative")
    if layer.name == "streets":
        one = out["oneway"]
        bad = (one.notna() & ~one.isin([-1, 0, 1])).to_numpy(dtype=bool)
        problems.add_mask(bad, "oneway", lambda i: f"oneway {one.iloc[i]} is not -1, 0 or 1")
        speed = out["speed_kmh"]
        bad = (speed <= 0).fillna(False).to_numpy(dtype=bool)
        problems.add_mask(bad, "speed_kmh", lambda i: f"speed {speed.iloc[i]} km/h is not positive")
        cls = out["road_class"]
        for i, mode in enumerate(("walk", "bike", "drive")):
            default = cls.map({k: v[i] for k, v in ROAD_CLASSES.items()}).astype("boolean")
            fallback = mode != "drive"
            out[mode] = out[mode].fillna(default).fillna(fallback).astype(bool)
        out["oneway"] = one.fillna(0).astype("int16")
    if layer.name == "grids":
        vf, vt = out["valid_from"], out["valid_to"]
        bad = (vt <= vf).fillna(False).to_numpy(dtype=bool)
        problems.add_mask(bad, "valid_to", "valid_to is not after valid_from")
    if layer.name == "stations":
        oo, cl = out["opened_on"], out["closed_on"]
        both = oo.notna() & cl.notna()
        bad = np.zeros(len(oo), dtype=bool)
        if both.any():
            bad[both.to_numpy()] = (cl[both].to_numpy() < oo[both].to_numpy())
        problems.add_mask(bad, "closed_on", "closed_on is before opened_on")


def validate_frame(layer: str, frame: gpd.GeoDataFrame, *, fix: bool = False,
                   row_offset: int = 1, tz: str = NAIVE_TZ) -> gpd.GeoDataFrame:
    """Check a frame for ``layer`` and return it cleaned, or raise listing every problem.

    Parameters
    ----------
    layer : str
        Layer name from :data:`geo.layers.LAYERS`.
    frame : geopandas.GeoDataFrame
        Features as read by :func:`geo.io.read_layer` (EPSG:4326; a frame without a CRS is
        taken as EPSG:4326, another CRS is reprojected).  Extra columns are ignored.
    fix : bool
        Repair invalid polygons with ``shapely.make_valid`` (keeping their polygonal part)
        instead of rejecting them; what was repaired is in ``result.attrs["fixes"]`` (list of
        :class:`~geo.errors.Problem`) and logged.
    row_offset : int
        Row number of the frame's first feature in the user's file (1 for the first feature);
        problems report ``position + row_offset``.
    tz : str
        IANA time zone (e.g. ``"Asia/Shanghai"``, the default :data:`NAIVE_TZ`) of date-times written
        without an offset; callers pass ``settings.timezone`` (``GRIDMAP_TIMEZONE``).  Times with an
        offset keep it; every time is returned in UTC.

    Returns
    -------
    geopandas.GeoDataFrame
        Exactly the layer's columns (in ``geo.layers`` order; missing optional ones all null)
        plus ``geometry`` (and ``footprint`` for dwellings when given), dtypes coerced (text
        ``string``, integers ``Int64``, floats ``Float64``, flags ``boolean``/bool, times UTC,
        dates ``datetime.date``), polygons as MultiPolygon, 2-D, EPSG:4326, a RangeIndex.
        ``region_code`` may be null: the loader fills it.  For streets, missing walk/bike/drive
        come from the road class (``geo.layers.ROAD_CLASSES``) and missing ``oneway`` is 0.
        ``attrs``: ``row_offset``, ``fixes``, ``layer``.

    Raises
    ------
    geo.errors.InvalidInput
        With every problem found.
    """
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("Unknown time zone", [Problem(f"{tz!r} is not an IANA time zone such as Asia/Shanghai",
                                                         field="tz")]) from None
    spec = LAYERS.get(layer)
    if spec is None:
        raise InvalidInput("Unknown layer", [Problem(f"{layer!r} is not one of {', '.join(LAYERS)}", field="layer")])
    if not isinstance(frame, gpd.GeoDataFrame) or frame.active_geometry_name not in frame.columns:
        raise InvalidInput(f"No geometry for {layer}", [Problem("the input has no geometry column", field="geometry")])
    frame = frame.reset_index(drop=True)
    if frame.crs is not None and not CRS(frame.crs).equals(CRS.from_epsg(4326)):
        frame = frame.to_crs(4326)
    n = len(frame)
    rows = np.arange(n) + row_offset
    key = spec.key
    if key in frame.columns:
        ids = _as_text(frame[key]).astype(object).where(lambda s: s.notna(), None).map(shown).to_numpy(dtype=object)
    else:
        ids = np.full(n, None, dtype=object)
    problems = _Collector(rows, ids)
    header: list[Problem] = []

    found = [str(c) for c in frame.columns if c != frame.geometry.name]
    # region_code may come from the import's --region / settings instead of the file
    missing = [c for c in spec.required if c not in frame.columns and c != "region_code"]
    if missing:
        header.append(Problem(
            f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; columns found: "
            f"{', '.join(found) or '(none)'} (rename with --map {missing[0]}=<column>)", field=", ".join(missing)))
    if n == 0:
        header.append(Problem("the file has no features"))

    out: dict[str, pd.Series] = {}
    _coerce(spec, frame, out, problems, tz)
    for col in spec.required:
        if col in frame.columns and col != "region_code":
            empty = _as_text(frame[col]).isna().to_numpy(dtype=bool)
            problems.add_mask(empty, col, f"{col} is required but empty")
    _domain_checks(spec, out, problems)

    if key in frame.columns:
        keys = out[key]
        region = out["region_code"].fillna("")
        dup = (keys.notna() & pd.DataFrame({"r": region, "k": keys}).duplicated(keep=False)).to_numpy(dtype=bool)
        if dup.any():
            idx = np.flatnonzero(dup)
            same: dict[tuple, list[int]] = {}
            for i in idx:
                same.setdefault((region.iloc[i], keys.iloc[i]), []).append(int(rows[i]))
            for i in idx:
                others = [r for r in same[(region.iloc[i], keys.iloc[i])] if r != rows[i]]
                listed = ", ".join(map(str, others[:5])) + (" ..." if len(others) > 5 else "")
                problems.items.append(Problem(
                    f"duplicate {key} {keys.iloc[i]!r} (also in row{'s' if len(others) > 1 else ''} {listed})",
                    row=int(rows[i]), field=key, feature_id=ids[i]))

    geo = check_geometries(spec.geometry, frame.geometry.to_numpy(), rows, ids, fix=fix)
    extra_geom = {}
    opt = OPTIONAL_GEOMETRY.get(layer)
    if opt and opt in frame.columns:
        fp = gpd.GeoSeries(frame[opt], crs=frame.crs).to_numpy()
        given = ~pd.isna(pd.Series(fp, dtype=object)).to_numpy()
        fpres = check_geometries("MultiPolygon", np.where(given, fp, None), rows, ids, fix=True)
        extra_geom[opt] = np.where(given, fpres.geometries, None)
        problems.items += [p for p in fpres.problems if "empty or missing" not in p.reason]

    all_problems = header + problems.items + geo.problems
    if all_problems:
        all_problems.sort(key=lambda p: (p.row is not None, p.row or 0))
        raise InvalidInput(f"{len(all_problems)} problem{'s' if len(all_problems) != 1 else ''} in the "
                           f"{layer} file; nothing was imported", all_problems)
    for f in geo.fixes:
        log.info("%s: %s", layer, f)
    result = gpd.GeoDataFrame(
        {**{c.name: out[c.name] for c in spec.columns}, **{k: gpd.GeoSeries(v, crs=4326) for k, v in extra_geom.items()}},
        geometry=gpd.GeoSeries(geo.geometries, crs=4326), crs=4326,
    )
    result.attrs.update({"layer": layer, "row_offset": row_offset, "fixes": list(geo.fixes)})
    return result
