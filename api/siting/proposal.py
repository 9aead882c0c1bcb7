"""One answered siting question (:class:`Proposal`) and the JSON and frames built from it.

A proposal holds the coverage run it starts from, the candidates, the siting matrix and the
engine's :class:`geo.siting.SitingResult`, and derives once:

* the chosen sites (order of marginal gain, households each adds, the grid it lies in, the what-if
  question that checks it: ``POST /coverage/what-if`` with ``action="add"`` at its lon/lat);
* the what-if question of the whole proposal (:meth:`Proposal.what_if`: every new site added and
  every closed station closed together), whose ``delta`` is the proposal's newly covered households;
* coverage before and after per grid and per community, and the totals;
* the marginal-gain curve for 1..k new sites (MCLP: the greedy order, and the exact optimum at k);
* the existing stations that could close with the least loss once the new sites are open;
* the new sites' service areas (:func:`geo.service_area.service_areas` of a reach of the new sites alone).

"Before" is the coverage run's own answer (every household within the budget of a counted
station); "after" adds the households the new sites reach and removes those only closed stations
reached.  Households the coverage engine reaches by the straight-line fallback (areas without
streets) stay as they are: they are out of the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from api.coverage.cache import Keyed
from api.coverage.runs import Run, jsonable, records
from api.siting.params import SitingParams
from geo.coverage import assign_to_grids
from geo.crs import WGS84
from geo.siting import SitingMatrix, SitingResult, closure_losses

LEVELS = ("grid", "community")


def _pct(a, b):
    return np.where(np.asarray(b) > 0, 100.0 * np.asarray(a, dtype=float) / np.maximum(np.asarray(b, dtype=float), 1),
                    np.nan)


@dataclass
class Proposal:
    """A siting answer (see the module docstring); ``fixed`` marks the straight-line households."""

    params: SitingParams
    run: Run
    candidates: gpd.GeoDataFrame
    matrix: SitingMatrix
    result: SitingResult
    fixed: np.ndarray
    curve: pd.DataFrame | None = None
    matrix_s: float = 0.0
    seconds: float = 0.0
    _lazy: Keyed = field(default_factory=Keyed, repr=False)

    def lazy(self, key, make: Callable[[], Any]):
        return self._lazy.get(key, make)

    # -- per dwelling ---------------------------------------------------------------------
    @property
    def covered_before(self) -> np.ndarray:
        """Per dwelling (run order): covered now (the coverage run's answer)."""
        return self.run.reach.covered(self.run.params.budget_s)

    @property
    def covered_after(self) -> np.ndarray:
        """Per dwelling: covered once the sites open and the closed stations close."""
        return self.lazy("after", lambda: (self.result.covered_after > 0.5) | self.fixed)

    @property
    def households(self) -> np.ndarray:
        return self.run.reach.households

    # -- tables ---------------------------------------------------------------------------
    def totals(self) -> dict:
        hh = self.households
        total = int(hh.sum())
        b, a = int(hh[self.covered_before].sum()), int(hh[self.covered_after].sum())
        r = self.result
        out = {"households": total, "covered_before": b, "covered_after": a, "newly_covered": a - b,
               "covered_pct_before": jsonable(100.0 * b / total) if total else None,
               "covered_pct_after": jsonable(100.0 * a / total) if total else None,
               "sites": int(r.sites.size), "closed": int(r.closed.size), "candidates": int(len(self.candidates)),
               "straight_line_households": int(hh[self.fixed].sum())}
        if r.time_after_s is not None:
            w = hh.astype(float)
            out["mean_time_before_s"] = jsonable(float(w @ r.time_before_s / w.sum())) if w.sum() else None
            out["mean_time_after_s"] = jsonable(float(w @ r.time_after_s / w.sum())) if w.sum() else None
        return out

    def area_table(self, level: str) -> pd.DataFrame:
        """Per grid or community: ``code, name, households, covered_before, covered_after,
        newly_covered, covered_pct_before, covered_pct_after`` (every unit with households)."""
        def make():
            codes = self.run.assignment[f"{level}_code"].to_numpy(dtype=object)
            hh = self.households
            df = pd.DataFrame({"code": codes, "households": hh, "covered_before": np.where(self.covered_before, hh, 0),
                               "covered_after": np.where(self.covered_after, hh, 0)})
            t = df.dropna(subset=["code"]).groupby("code", sort=True).sum().reset_index()
            t["newly_covered"] = t["covered_after"] - t["covered_before"]
            t["covered_pct_before"] = _pct(t["covered_before"], t["households"])
            t["covered_pct_after"] = _pct(t["covered_after"], t["households"])
            t.insert(1, "name", t["code"].map(self.run.inputs.names))
            if level == "grid":
                g = self.run.inputs.grids
                t.insert(2, "community_code", t["code"].map(dict(zip(g["code"], g["community_code"]))))
            for c in ("households", "covered_before", "covered_after", "newly_covered"):
                t[c] = t[c].astype(int)
            return t

        return self.lazy(("table", level), make)

    def area_frame(self, level: str) -> gpd.GeoDataFrame:
        """:meth:`area_table` with each unit's polygon (EPSG:4326)."""
        t = self.area_table(level)
        areas = self.run.inputs.areas
        src = self.run.inputs.grids if level == "grid" else areas[areas["level"] == level]
        geom = dict(zip(src["code"], src.geometry))
        return gpd.GeoDataFrame(t.copy(), geometry=[geom.get(c) for c in t["code"]], crs=WGS84)

    def sites(self) -> gpd.GeoDataFrame:
        """The opened sites in order of marginal gain: ``order, candidate_id, name, lon, lat, gain
        (households the site adds in that order), reach_households (within the budget of the site
        alone), grid_code, community_code, town_code``; points EPSG:4326."""
        def make():
            sf = self.result.sites_frame()
            names = dict(zip(self.candidates["candidate_id"], self.candidates["name"]))
            gdf = gpd.GeoDataFrame(sf.rename(columns={"candidate": "candidate_id"}),
                                   geometry=gpd.points_from_xy(sf["lon"], sf["lat"]), crs=WGS84)
            gdf.insert(2, "name", gdf["candidate_id"].map(names))
            if len(gdf) and len(self.run.inputs.grids):
                a = assign_to_grids(gdf, self.run.inputs.grids, use_column=None)
                for c in ("grid_code", "community_code", "town_code"):
                    gdf[c] = a[c].to_numpy(dtype=object)
            else:
                for c in ("grid_code", "community_code", "town_code"):
                    gdf[c] = pd.Series([None] * len(gdf), dtype=object)
            return gdf

        return self.lazy("sites", make)

    def closed(self) -> pd.DataFrame:
        """The existing stations the model closed: ``station_id, name, kind, lon, lat``."""
        ids = [str(x) for x in self.result.closed_ids]
        info = self.run.inputs.station_info()
        ll = self.matrix.site_lonlat[self.matrix.n_candidates + self.result.closed] if ids else np.zeros((0, 2))
        return pd.DataFrame({"station_id": [int(i) if i.isdigit() else i for i in ids],
                             "name": [info["name"].get(i) for i in ids], "kind": [info["kind"].get(i) for i in ids],
                             "lon": ll[:, 0], "lat": ll[:, 1]})

    def closures(self) -> pd.DataFrame:
        """Every counted station with the households only it reaches (``lost_households``: they lose
        coverage if it alone closes, the new sites open), least loss first: ``station_id, name, kind,
        lon, lat, reach_households, lost_households``."""
        def make():
            r = self.result
            open_new = r.sites if r.closed.size == 0 else np.zeros(0, dtype=np.int64)
            df = closure_losses(self.matrix, open_candidates=open_new)
            info = self.run.inputs.station_info()
            sid = df["station"].astype(str)
            df.insert(1, "name", sid.map(info["name"]).to_numpy())
            df.insert(2, "kind", sid.map(info["kind"]).to_numpy())
            df["station"] = [int(s) if s.isdigit() else s for s in sid]
            return df.rename(columns={"station": "station_id"})

        return self.lazy("closures", make)

    def curve_frame(self) -> pd.DataFrame | None:
        """The gain curve with households covered including the straight-line ones and their share."""
        if self.curve is None:
            return None
        c = self.curve.copy()
        extra = float(self.households[self.fixed].sum())
        total = float(self.households.sum()) or 1.0
        for col in ("covered", "exact_covered", "exact_bound"):
            c[col] = c[col] + extra
        c["covered_pct"] = 100.0 * c["covered"] / total
        c["exact_covered_pct"] = 100.0 * c["exact_covered"] / total
        return c.drop(columns=["covered_share"])

    def service_areas(self) -> gpd.GeoDataFrame:
        """The new sites' own service areas at the budget (one polygon per site, EPSG:4326), drawn
        from a reach of the new sites alone (:func:`geo.service_area.service_areas`)."""
        def make():
            from geo.reach import compute_reach
            from geo.service_area import service_areas

            s = self.sites()
            if not len(s):
                return gpd.GeoDataFrame({"candidate_id": []}, geometry=[], crs=WGS84)
            pts = gpd.GeoDataFrame({"source_id": s["candidate_id"].astype(str).to_numpy(), "kind": "proposed"},
                                   geometry=s.geometry.values, crs=WGS84)
            run = self.run
            b = run.params.budget_s
            reach = compute_reach(run.net, pts, run.inputs.dwellings, breaks_s=(b,),
                                  dwelling_snap=run.reach.dwelling_snap)
            sa = service_areas(run.net, reach, (b,), workers=1)
            return sa.rename(columns={"station": "candidate_id"}).drop(columns=["kind"])

        return self.lazy("service_areas", make)

    def service_areas_geojson(self) -> dict:
        """:meth:`service_areas` as a GeoJSON FeatureCollection, coordinates to 1e-6 degrees."""
        import json

        import shapely

        sa = self.service_areas()
        if not len(sa):
            return {"type": "FeatureCollection", "features": []}
        sa = sa.set_geometry(shapely.make_valid(shapely.set_precision(sa.geometry.values, 1e-6)))
        return json.loads(sa.to_json(drop_id=True))

    def what_if(self) -> dict | None:
        """The ``POST /coverage/what-if`` body asking the whole proposal at once: ``change`` with
        every new site (``sites``) and every closed station (``station_ids``), on the proposal's
        coverage question.  Its ``delta`` equals :meth:`totals` ``newly_covered`` (the what-if
        recomputes the times exactly; households of the straight-line fallback may differ, the
        proposal leaves them as they are).  None when the proposal changes nothing."""
        s = self.sites()
        if not len(s) and not len(self.closed()):
            return None
        q = {"action": "change", "sites": [{"lon": round(float(x), 8), "lat": round(float(y), 8)}
                                           for x, y in zip(s["lon"], s["lat"])],
             "station_ids": [int(i) if str(i).isdigit() else i for i in self.closed()["station_id"]],
             **{k: v for k, v in self.run.params.as_dict().items() if k in ("minutes", "mode", "kinds", "at", "region")}}
        if q.get("kinds"):  # an added station must be of a kind that counts
            q["kind"] = sorted(q["kinds"])[0]
        return q

    # -- JSON -----------------------------------------------------------------------------
    def model_summary(self) -> dict:
        r = self.result
        return {"model": r.model, "method": r.method, "status": r.status, "objective": jsonable(r.objective),
                "bound": jsonable(r.bound), "gap": jsonable(r.gap) if math.isfinite(r.gap) else None,
                "greedy_objective": jsonable(r.greedy_objective), "solve_s": round(r.solve_s, 4),
                "matrix_s": round(self.matrix_s, 4), "size": {k: jsonable(v) for k, v in r.size.items()},
                "notes": list(r.notes),
                "matrix": {"demand": self.matrix.n_demand, "candidates": self.matrix.n_candidates,
                           "existing": self.matrix.n_existing, "pairs": int(self.matrix.time_s.nnz)}}

    def as_json(self) -> dict:
        """The whole answer as JSON (what ``POST /siting``, a job's result and ``--out .json`` carry)."""
        def make():
            sites = self.sites()
            site_rows = records(sites.drop(columns="geometry"))
            for row, lon, lat in zip(site_rows, sites["lon"], sites["lat"]):  # records() keeps 3 decimals
                row["lon"], row["lat"] = round(float(lon), 8), round(float(lat), 8)
                row["what_if"] = {"action": "add", "lon": row["lon"], "lat": row["lat"],
                                  **{k: v for k, v in self.run.params.as_dict().items()
                                     if k in ("minutes", "mode", "kinds", "at", "region")}}
                if row["what_if"].get("kinds"):
                    row["what_if"]["kind"] = sorted(row["what_if"]["kinds"])[0]
            curve = self.curve_frame()
            closed, closures = records(self.closed()), records(self.closures())
            for rows, frame in ((closed, self.closed()), (closures, self.closures())):
                for row, lon, lat in zip(rows, frame["lon"], frame["lat"]):
                    row["lon"], row["lat"] = round(float(lon), 8), round(float(lat), 8)
            return {"params": self.params.as_dict(), "coverage_run_id": self.run.run_id,
                    "data_versions": self.run.versions, "totals": self.totals(), "model": self.model_summary(),
                    "sites": site_rows, "closed": closed, "what_if": self.what_if(),
                    "levels": {lv: records(self.area_table(lv)) for lv in LEVELS},
                    "gain_curve": records(curve) if curve is not None else None,
                    "closures": closures, "service_areas": self.service_areas_geojson(),
                    "seconds": round(self.seconds, 3)}

        return self.lazy("json", make)
