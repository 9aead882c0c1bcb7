"""Draw the README's before/after figure of a redrawn community (docs/img/redraw.png).

    .venv/bin/python scripts/plan_figure.py [--households 12000] [--community CODE] [--out docs/img/redraw.png]

The sample district's current grids of one community (left) and the grids ``gridmap plan create``
draws for it (right, :func:`geo.zoning.solve_county`, the engine a plan runs), with the streets and
each grid's households (red: outside 255-345).  Offline: matplotlib only, no basemap.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=12_000)
    ap.add_argument("--community")
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "redraw.png"))
    a = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import geopandas as gpd

    from geo.crs import metric_crs_for
    from geo.sample import make_district
    from geo.zoning import ZoningParams, solve_county

    d = make_district(a.households, seed=0, incidents=0)
    comm = d["areas"][d["areas"].level == "community"]
    code = a.community or comm.code.iloc[0]
    area = comm[comm.code == code]
    plan = solve_county(d["areas"], d["streets"], d["dwellings"], d["grids"], communities=[code], workers=1)
    after = plan.grids()
    crs = metric_crs_for(area)
    before = d["grids"][d["grids"].community_code == code].copy()
    inside = d["dwellings"][d["dwellings"].within(area.geometry.iloc[0])]
    j = gpd.sjoin(inside, before[["code", "geometry"]], predicate="within")
    before["households"] = before.code.map(j.groupby("code")["households"].sum()).fillna(0).astype(int)
    lo, hi = ZoningParams().bounds
    streets = d["streets"].clip(area.geometry.iloc[0])
    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    for ax, frame, label, title in ((axes[0], before, "code", "current grids"),
                                    (axes[1], after, "label", "redrawn (gridmap plan create)")):
        f = frame.to_crs(crs)
        f.plot(ax=ax, column=label, cmap="tab20", alpha=0.45, edgecolor="black", linewidth=1.2)
        streets.to_crs(crs).plot(ax=ax, color="grey", linewidth=0.5)
        for geom, h in zip(f.geometry, f["households"]):
            p = geom.representative_point()
            ax.annotate(str(int(h)), (p.x, p.y), ha="center", fontsize=9,
                        color="black" if lo <= h <= hi else "red", weight="bold")
        ax.set_title(f"{code}: {title}")
        ax.set_axis_off()
    fig.tight_layout()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=90)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
