"""A proposal written to a file: GeoPackage (one layer a table), GeoJSON/CSV (one file a table),
Excel (one sheet a table) or JSON (the API's answer).

Tables: ``sites`` (points), ``grids`` and ``communities`` (before/after, polygons in the spatial
formats), ``gain_curve``, ``closures`` and ``service_areas`` (the new sites' areas, spatial formats).
CSV is written with a BOM so that Excel reads its Chinese names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from api.errors import ValidationFailed
from api.siting.proposal import Proposal
from geo.errors import Problem

FORMATS = (".gpkg", ".geojson", ".json", ".csv", ".xlsx")


def tables(p: Proposal, *, spatial: bool) -> dict[str, pd.DataFrame]:
    """The proposal's tables (GeoDataFrames with ``spatial``)."""
    out: dict[str, pd.DataFrame] = {}
    sites = p.sites()
    out["sites"] = sites if spatial else pd.DataFrame(sites.drop(columns="geometry"))
    for level, name in (("grid", "grids"), ("community", "communities")):
        out[name] = p.area_frame(level) if spatial else p.area_table(level)
    curve = p.curve_frame()
    if curve is not None:
        out["gain_curve"] = curve
    if p.matrix.n_existing:
        out["closures"] = p.closures()
    if spatial and len(sites):
        out["service_areas"] = p.service_areas()
    return out


def write_proposal(p: Proposal, out: Path | str) -> list[Path]:
    """Write ``p`` to ``out`` (format by suffix, :data:`FORMATS`); returns the files written.

    Raises
    ------
    ValidationFailed
        ``field="out"`` for another suffix.
    """
    import pyogrio

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValidationFailed(f"--out must end in one of {', '.join(FORMATS)}",
                               [Problem(f"unknown format {suffix or out.name!r}", field="out")])
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".json":
        out.write_text(json.dumps(p.as_json(), ensure_ascii=False, indent=1), encoding="utf-8")
        return [out]
    if suffix == ".xlsx":
        with pd.ExcelWriter(out, engine="openpyxl") as xl:
            for name, df in tables(p, spatial=False).items():
                df.to_excel(xl, sheet_name=name, index=False)
        return [out]
    spatial = tables(p, spatial=True)
    written = []
    if suffix == ".gpkg":
        out.unlink(missing_ok=True)
        for name, df in spatial.items():
            if hasattr(df, "geometry") and "geometry" in df:
                pyogrio.write_dataframe(df, out, layer=name, driver="GPKG", append=out.exists())
            else:
                import geopandas as gpd

                pyogrio.write_dataframe(gpd.GeoDataFrame(df, geometry=[None] * len(df), crs=4326), out, layer=name,
                                        driver="GPKG", append=out.exists())
        return [out]
    for name, df in spatial.items():
        path = out if name == "sites" else out.with_name(f"{out.stem}_{name}{out.suffix}")
        path.unlink(missing_ok=True)
        if suffix == ".csv":
            plain = pd.DataFrame(df.drop(columns="geometry")) if "geometry" in df else df
            if name != "sites" and "geometry" in df:
                plain = plain.assign(geometry=df.geometry.to_wkt(rounding_precision=8))
            plain.to_csv(path, index=False, encoding="utf-8-sig")
        elif "geometry" in df:
            pyogrio.write_dataframe(df, path, driver="GeoJSON", layer_options={"RFC7946": "YES"})
        else:
            path = path.with_suffix(".json")
            path.write_text(df.to_json(orient="records", force_ascii=False), encoding="utf-8")
        written.append(path)
    return written
