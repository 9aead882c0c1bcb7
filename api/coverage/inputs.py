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
    """The stored layers of one scope and region, EPSG:4326 (``id`` = database id).

    ``streets`` may be read lazily (``read_streets``, called once, at the first use): a run whose
    networks come from the disk store never reads the county's streets."""

    _streets: gpd.GeoDataFrame | None
    stations: gpd.GeoDataFrame
    dwellings: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    names: dict[str, str] = field(default_factory=dict)  # area or grid code -> name
    read_streets: Callable[[], gpd.GeoDataFrame] | None = None
    count_streets: Callable[[], int] | None = None

    @property
    def streets(self) -> gpd.GeoDataFrame:
        if self._streets is None:
            self._streets = _by_region(self.read_streets())
        return self._streets

    def has_streets(self) -> bool:
        """Whether any street is stored in the scope (without reading them when they are not read yet)."""
        if self._streets is None and self.count_streets is not None:
            return self.count_streets() > 0
        return len(self.streets) > 0

    def regions(self) -> list[str]:
        """The county codes of the stations and dwellings read (and of the streets, when read),
        sorted (each one's rows are contiguous in those frames)."""
        codes = set()
        for f in (self._streets, self.stations, self.dwellings):
            if f is not None:
                codes.update(str(c) for c in f["region_code"].dropna().unique())
        return sorted(codes)

    def station_info(self) -> pd.DataFrame:
        """Stations indexed by their id as text (the station key of every run): name, kind, source_id."""
        s = self.stations
        return pd.DataFrame({"name": s["name"].to_numpy(), "kind": s["kind"].to_numpy(),
                             "source_id": s["source_id"].to_numpy()}, index=s["id"].astype(str).to_numpy())


def load_inputs(conn: Connection, scope: Jurisdiction, region: str | None = None,
                read: Callable[[str, Jurisdiction], gpd.GeoDataFrame] | None = None, *,
                streets: Callable[[Jurisdiction], gpd.GeoDataFrame] | None = None,
                count: Callable[[Jurisdiction], int] | None = None) -> Inputs:
    """Read every layer coverage needs for ``scope`` (and ``region``, a county code) from PostGIS.

    Grids are the current versions; a grid without ``town_code`` takes its community's parent.
    Streets carry only a county code, so for a scope narrower than a county they are read for the
    counties of the in-scope grids and dwellings: people walk the county's streets (the streets
    are shared infrastructure; every other layer stays within ``scope``).  ``read(layer, scope)``
    replaces the reading of one layer (the service passes a per-layer cache).  With ``streets``
    (and ``count``, the number of streets), given the streets' scope, the streets are read by it at
    their first use instead (it must open its own connection: ``conn`` may be closed by then).
    """
    read = read or (lambda layer, sc: layer_frame(conn, layer, sc, area=region))
    f = {layer: read(layer, scope) for layer in LAYERS if layer != "streets"}
    street_scope = scope
    if not scope.everywhere:
        counties = set(f["grids"]["region_code"]) | set(f["dwellings"]["region_code"])
        street_scope = Jurisdiction(frozenset(str(c) for c in counties))
    # region after region (by id within one): every computation runs per region on contiguous rows
    for layer in ("stations", "dwellings"):
        f[layer] = _by_region(f[layer])
    areas, grids = f["areas"], f["grids"].copy()
    parent = dict(zip(areas["code"], areas["parent_code"]))
    if len(grids):
        town = grids["town_code"].astype(object)
        missing = town.isna()
        grids.loc[missing, "town_code"] = grids.loc[missing, "community_code"].map(parent)
    names = {**dict(zip(areas["code"], areas["name"])), **dict(zip(grids["code"], grids["name"]))}
    if streets is not None:
        return Inputs(None, f["stations"], f["dwellings"], grids, areas, names,
                      read_streets=lambda: streets(street_scope), count_streets=lambda: count(street_scope))
    return Inputs(_by_region(read("streets", street_scope)), f["stations"], f["dwellings"], grids, areas, names)


def _by_region(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``frame`` ordered by region, then id, when it holds several regions."""
    if frame["region_code"].nunique() > 1:
        return frame.sort_values(["region_code", "id"], kind="stable").reset_index(drop=True)
    return frame
