"""What a redraw returns: :class:`CommunityPlan` (one community, its live partition and reasons) and
:class:`CountyPlan` (many communities), with their grids, units and metrics as EPSG:4326 frames."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from geo.crs import WGS84
from geo.zoning.metrics import grid_metrics, plan_metrics
from geo.zoning.params import ZoningParams
from geo.zoning.partition import Partition
from geo.zoning.units import Units

__all__ = ["CommunityPlan", "CountyPlan"]


@dataclass(eq=False)
class CommunityPlan:
    """The redraw of one community.

    Attributes
    ----------
    community : str
        Community code.
    partition : Partition
        Units, graph and assignment (live: moves can continue on it).
    reasons : list of Reason
        Why grids are out of band (empty when all are in band).
    micro : geopandas.GeoDataFrame, optional
        Micro-grids (``label``, ``grid``, ``households``, ``status``, ``dwelling_ids``, geometry 4326).
    """

    community: str
    partition: Partition
    reasons: list = field(default_factory=list)
    micro: gpd.GeoDataFrame | None = None

    @property
    def units(self) -> Units:
        return self.partition.units

    @property
    def assignment(self) -> pd.Series:
        """Grid label of each unit id."""
        return self.partition.assignment_series()

    def unit_frame(self) -> gpd.GeoDataFrame:
        """The units (EPSG:4326) with ``community_code`` and their ``grid``."""
        f = self.units.frame()
        f.insert(0, "community_code", self.community)
        f["grid"] = self.assignment.to_numpy()
        return f

    def grids(self) -> gpd.GeoDataFrame:
        """One row per grid: ``label``, ``community_code``, metrics (:func:`grid_metrics`), ``flagged``
        (a reason names it), geometry (EPSG:4326)."""
        m = grid_metrics(self.partition)
        m.insert(1, "community_code", self.community)
        flagged = {r.grid for r in self.reasons if r.grid}
        m["flagged"] = m["label"].isin(flagged) | ~m["in_band"] | ~m["contiguous"]
        return gpd.GeoDataFrame(m, geometry=gpd.GeoSeries(self.partition.polygons(), crs=WGS84))

    def metrics(self) -> dict:
        return plan_metrics(grid_metrics(self.partition))


@dataclass(eq=False)
class CountyPlan:
    """Redraws of many communities (each a :class:`CommunityPlan`)."""

    communities: dict
    params: ZoningParams

    def grids(self) -> gpd.GeoDataFrame:
        return pd.concat([c.grids() for c in self.communities.values()], ignore_index=True)

    def units(self) -> gpd.GeoDataFrame:
        return pd.concat([c.unit_frame() for c in self.communities.values()], ignore_index=True)

    def reasons(self) -> list:
        return [r for c in self.communities.values() for r in c.reasons]

    def micro(self) -> gpd.GeoDataFrame | None:
        parts = [c.micro for c in self.communities.values() if c.micro is not None]
        return pd.concat(parts, ignore_index=True) if parts else None

    def metrics(self) -> dict:
        return plan_metrics(pd.concat([grid_metrics(c.partition) for c in self.communities.values()]))
