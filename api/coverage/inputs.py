"""The stored layers a coverage run reads: streets, stations, dwellings, grids and areas of a scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection

from api.coverage.params import LAYERS
from api.db.export import layer_frame
from api.jurisdiction import Jurisdiction


@dataclass
class Inputs:
    """The stored layers of one scope and region, EPSG:4326 (``id`` = database id)."""

    streets: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    dwellings: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    names: dict[str, str] = field(default_factory=dict)  # area or grid code -> name

    def regions(self) -> list[str]:
        """The county codes of the streets, stations and dwellings read, sorted (each one's rows
        are contiguous in those frames)."""
        codes = set()
        for f in (self.streets, self.stations, self.dwellings):
            codes.update(str(c) for c in f["region_code"].dropna().unique())
        return sorted(codes)

    def station_info(self) -> pd.DataFrame:
        """Stations indexed by their id as text (the station key of every run): name, kind, source_id."""
        s = self.stations
        return pd.DataFrame({"name": s["name"].to_numpy(), "kind": s["kind"].to_numpy(),
                             "source_id": s["source_id"].to_numpy()}, index=s["id"].astype(str).to_numpy())


def load_inputs(conn: Connection, scope: Jurisdiction, region: str | None = None,
                read: Callable[[str, Jurisdiction], gpd.GeoDataFrame] | None = None) -> Inputs:
    """Read every layer coverage needs for ``scope`` (and ``region``, a county code) from PostGIS.

    Grids are the current versions; a grid without ``town_code`` takes its community's parent.
    Streets carry only a county code, so for a scope narrower than a county they are read for the
    counties of the in-scope grids and dwellings: people walk the county's streets (the streets
    are shared infrastructure; every other layer stays within ``scope``).  ``read(layer, scope)``
    replaces the reading of one layer (the service passes a per-layer cache).
    """
    read = read or (lambda layer, sc: layer_frame(conn, layer, sc, area=region))
    f = {layer: read(layer, scope) for layer in LAYERS if layer != "streets"}
    street_scope = scope
    if not scope.everywhere:
        counties = set(f["grids"]["region_code"]) | set(f["dwellings"]["region_code"])
        street_scope = Jurisdiction(frozenset(str(c) for c in counties))
    f["streets"] = read("streets", street_scope)
    # region after region (by id within one): every computation runs per region on contiguous rows
    for layer in ("streets", "stations", "dwellings"):
        if f[layer]["region_code"].nunique() > 1:
            f[layer] = f[layer].sort_values(["region_code", "id"], kind="stable").reset_index(drop=True)
    areas, grids = f["areas"], f["grids"].copy()
    parent = dict(zip(areas["code"], areas["parent_code"]))
    if len(grids):
        town = grids["town_code"].astype(object)
        missing = town.isna()
        grids.loc[missing, "town_code"] = grids.loc[missing, "community_code"].map(parent)
    names = {**dict(zip(areas["code"], areas["name"])), **dict(zip(grids["code"], grids["name"]))}
    return Inputs(f["streets"], f["stations"], f["dwellings"], grids, areas, names)
