"""A deterministic, fictional sample district (示例镇) that scales to a county-level city.

Structure follows ``shared/domain.md``: about 1,500 households per community, communities cut into
grids of about 300 households by weighted bisection (grids tile their community and never cross
it), 1 service centre + 3 grid stations + 10 neighbourhood points per community, a jittered street
lattice (45 m spacing) with missing links, dead ends and a river crossed by a few bridges, and about
0.19 incidents per household per year.  It sits near Jiangyin (120.2E, 31.8N) but is invented.

Everything is EPSG:4326 with the columns of :data:`geo.layers.LAYERS`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.layers import INCIDENT_CATEGORIES

LON0, LAT0 = 120.20, 31.80
DEG_LON, DEG_LAT = 1 / 94_700, 1 / 110_900  # degrees per metre near 31.8N
COMMUNITY_M = 1_600.0  # side of a community, metres (stations sit in its middle: fringes stay gaps)
HOUSEHOLDS_PER_COMMUNITY = 1_500
STREET_M = 45.0
END = pd.Timestamp("2026-10-31T23:59:59", tz="Asia/Shanghai")
CATEGORY_WEIGHTS = {"environment": 0.22, "dispute": 0.14, "safety_hazard": 0.13, "property": 0.12,
                    "parking": 0.12, "street_light": 0.08, "illegal_construction": 0.07,
                    "elderly_care": 0.06, "other": 0.06}
SURNAMES = np.array(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"))
GIVEN = np.array(["伟", "芳", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "霞"])


def _lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return LON0 + x * DEG_LON, LAT0 + y * DEG_LAT


def _box(x0, y0, x1, y1):
    a, b = _lonlat(np.asarray(x0), np.asarray(y0))
    c, d = _lonlat(np.asarray(x1), np.asarray(y1))
    return shapely.multipolygons(shapely.box(a, b, c, d).reshape(-1, 1))


def _names(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.char.add(rng.choice(SURNAMES, n), rng.choice(GIVEN, n))


def _streets(rng, width_m, height_m, region):
    nx, ny = int(width_m // STREET_M) + 1, int(height_m // STREET_M) + 1
    gx, gy = np.meshgrid(np.arange(nx) * STREET_M, np.arange(ny) * STREET_M)
    jitter = rng.uniform(-8, 8, size=(2, ny, nx))
    inner = np.zeros((ny, nx), bool)
    inner[1:-1, 1:-1] = True
    X, Y = gx + np.where(inner, jitter[0], 0), gy + np.where(inner, jitter[1], 0)
    idx = np.arange(nx * ny).reshape(ny, nx)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    horiz = np.concatenate([np.ones(ny * (nx - 1), bool), np.zeros((ny - 1) * nx, bool)])
    row = np.concatenate([np.repeat(np.arange(ny), nx - 1), np.repeat(np.arange(ny - 1), nx)])
    col = np.concatenate([np.tile(np.arange(nx - 1), ny), np.tile(np.arange(nx), ny - 1)])
    keep = rng.random(len(a)) > 0.12  # missing links and dead ends
    river = nx // 2 + 3  # horizontal edges crossing between columns river-1 and river: bridges only
    crossing = horiz & (col == river - 1)
    keep &= ~crossing | (row % 11 == 5)
    main = np.where(horiz, row, col) % 8 == 0
    keep |= main & ~crossing
    a, b, horiz, row, col, main = a[keep], b[keep], horiz[keep], row[keep], col[keep], main[keep]
    xs, ys = X.ravel(), Y.ravel()
    lon, lat = _lonlat(xs, ys)
    coords = np.stack([np.column_stack([lon[a], lat[a]]), np.column_stack([lon[b], lat[b]])], axis=1)
    cls = np.where(main, np.where(np.where(horiz, row, col) % 24 == 0, "primary", "secondary"),
                   np.where(rng.random(len(a)) < 0.08, "footway", "residential"))
    drive = cls != "footway"
    oneway = np.where(drive & (cls == "residential") & (rng.random(len(a)) < 0.05), 1, 0)
    speed = pd.Series(cls).map({"primary": 50.0, "secondary": 40.0, "residential": 25.0}).to_numpy()
    n = len(a)
    return gpd.GeoDataFrame({
        "region_code": region, "source_id": np.char.add("street-", np.arange(n).astype(str)),
        "name": None, "road_class": cls, "walk": True, "bike": cls != "footway", "drive": drive,
        "oneway": oneway, "speed_kmh": speed,
    }, geometry=shapely.linestrings(coords), crs=4326), (xs[a], ys[a], xs[b], ys[b])


def _bisect(x, y, w, box, k, out):
    """Split points (weights w) inside box into k groups of equal weight; append (box, mask idx)."""
    if k <= 1 or len(x) < 2:
        out.append((box, None))
        return
    x0, y0, x1, y1 = box
    horizontal = (x1 - x0) >= (y1 - y0)
    v = x if horizontal else y
    order = np.argsort(v, kind="stable")
    k1 = k // 2
    cum = np.cumsum(w[order])
    i = int(np.searchsorted(cum, cum[-1] * k1 / k))
    i = min(max(i, 0), len(order) - 2)
    cut = (v[order[i]] + v[order[i + 1]]) / 2
    left = v <= cut
    b1 = (x0, y0, cut, y1) if horizontal else (x0, y0, x1, cut)
    b2 = (cut, y0, x1, y1) if horizontal else (x0, cut, x1, y1)
    _bisect(x[left], y[left], w[left], b1, k1, out)
    _bisect(x[~left], y[~left], w[~left], b2, k - k1, out)


def make_district(households: int = 12_000, seed: int = 0, incident_years: float = 1.0,
                  incidents: int | None = None, region_code: str = "320281") -> dict[str, gpd.GeoDataFrame]:
    """Generate the sample district.

    Parameters
    ----------
    households : int
        Total households (12,000: one town of 8 communities and ~40 grids; 500,000: a county-level
        city of ~333 communities, ~1,700 grids, >150,000 street nodes, >4,600 stations).
    seed : int
        Random seed; the same arguments give identical frames.
    incident_years : float
        Years of incidents ending 2026-10-31, at 0.19 per household per year.
    incidents : int, optional
        Exact number of incidents instead.
    region_code : str
        6-digit county code.

    Returns
    -------
    dict of str to GeoDataFrame
        ``areas``, ``grids``, ``dwellings``, ``stations``, ``streets``, ``incidents`` in EPSG:4326.
    """
    rng = np.random.default_rng(seed)
    n_comm = max(1, round(households / HOUSEHOLDS_PER_COMMUNITY))
    cols = int(np.ceil(np.sqrt(n_comm)))
    rows = int(np.ceil(n_comm / cols))
    per_town = 24
    ci = np.arange(n_comm)
    cx, cy = ci % cols, ci // cols
    town = cx // max(1, int(np.ceil(per_town / rows)))
    n_town = int(town.max()) + 1
    town_codes = np.array([f"{region_code}{t + 1:03d}" for t in range(n_town)])
    comm_codes = np.array([f"{town_codes[town[c]]}{c + 1:03d}" for c in ci])
    urban = (cx + cy) % 3 != 2

    streets, (sx0, sy0, sx1, sy1) = _streets(rng, cols * COMMUNITY_M, rows * COMMUNITY_M, region_code)

    # Dwellings: along random streets, 12-40 m off the kerb; apartments in urban communities.
    est = int(households / 1.5) + 2000
    e = rng.integers(0, len(sx0), est)
    t = rng.uniform(0.15, 0.85, est)
    dx, dy = sx1[e] - sx0[e], sy1[e] - sy0[e]
    ln = np.hypot(dx, dy)
    off = rng.uniform(12, 40, est) * rng.choice([-1, 1], est)
    px = np.clip(sx0[e] + t * dx - dy / ln * off, 1, cols * COMMUNITY_M - 1)
    py = np.clip(sy0[e] + t * dy + dx / ln * off, 1, rows * COMMUNITY_M - 1)
    comm = (px // COMMUNITY_M).astype(int) + cols * (py // COMMUNITY_M).astype(int)
    ok = comm < n_comm
    px, py, comm = px[ok], py[ok], comm[ok]
    hh = np.where(urban[comm], rng.integers(2, 13, len(px)) * 6, rng.integers(1, 4, len(px)))
    # Cap every community at its share so communities hold ~1,500 households each.
    share = np.full(n_comm, households // n_comm)
    share[: households % n_comm] += 1
    order = np.lexsort((np.arange(len(px)), comm))
    cum = np.cumsum(hh[order])
    start = np.searchsorted(comm[order], np.arange(n_comm))
    base = np.concatenate([[0], cum])[start]
    within = cum - base[comm[order]]
    keep_o = within <= share[comm[order]]
    sel = np.sort(order[keep_o])
    px, py, comm, hh = px[sel], py[sel], comm[sel], hh[sel]
    nd = len(px)
    levels = np.where(hh >= 12, np.maximum(3, hh // 6), rng.integers(1, 4, nd))

    # Grids: weighted bisection of each community's dwellings into ~300-household cells.
    grid_geoms, grid_codes, grid_comm = [], [], []
    grid_of = np.empty(nd, dtype=object)
    for c in range(n_comm):
        m = np.flatnonzero(comm == c)
        k = max(1, int(round(hh[m].sum() / 300)))
        x0, y0 = (c % cols) * COMMUNITY_M, (c // cols) * COMMUNITY_M
        cells: list = []
        _bisect(px[m], py[m], hh[m], (x0, y0, x0 + COMMUNITY_M, y0 + COMMUNITY_M), k, cells)
        for g, (bx, _) in enumerate(cells):
            code = f"{comm_codes[c]}-{g + 1:02d}"
            inside = (px[m] >= bx[0]) & (px[m] <= bx[2]) & (py[m] >= bx[1]) & (py[m] <= bx[3])
            free = m[inside]
            free = free[grid_of[free] == None]  # noqa: E711 (object array)
            grid_of[free] = code
            grid_geoms.append(bx)
            grid_codes.append(code)
            grid_comm.append(c)
    gb = np.array(grid_geoms)
    ng = len(gb)
    gcomm = np.array(grid_comm)
    grids = gpd.GeoDataFrame({
        "region_code": region_code, "code": grid_codes, "name": [f"第{int(c[-2:])}网格" for c in grid_codes],
        "community_code": comm_codes[gcomm], "town_code": town_codes[town[gcomm]],
        "chief": _names(rng, ng), "worker": _names(rng, ng),
        "phone": [f"1{rng.integers(30, 90)}{rng.integers(0, 10**8):08d}" for _ in range(ng)],
        "valid_from": pd.Timestamp("2024-01-01", tz="Asia/Shanghai"), "valid_to": pd.NaT,
    }, geometry=_box(gb[:, 0], gb[:, 1], gb[:, 2], gb[:, 3]), crs=4326)

    lon, lat = _lonlat(px, py)
    dwellings = gpd.GeoDataFrame({
        "region_code": region_code, "source_id": np.char.add("bldg-", np.arange(nd).astype(str)),
        "households": hh, "name": None, "address": None,
        "population": np.round(hh * rng.uniform(2.2, 3.0, nd)).astype(int), "levels": levels,
        "building_type": np.where(hh >= 12, "apartments", "house"),
        "community_code": comm_codes[comm], "grid_code": grid_of,
    }, geometry=shapely.points(lon, lat), crs=4326)

    # Stations: 1 + 3 + 10 per community at dwellings in the community's inner part (fringes stay gaps).
    st_rows = []
    kinds = ["service_centre"] + ["grid_station"] * 3 + ["neighbourhood_point"] * 10
    labels = {"service_centre": "党群服务中心", "grid_station": "网格先锋站", "neighbourhood_point": "邻里服务点"}
    for c in range(n_comm):
        m = np.flatnonzero(comm == c)
        x0, y0 = (c % cols) * COMMUNITY_M, (c // cols) * COMMUNITY_M
        half = COMMUNITY_M / 2
        inner = m[(np.abs(px[m] - x0 - half) < 0.3 * COMMUNITY_M) & (np.abs(py[m] - y0 - half) < 0.3 * COMMUNITY_M)]
        pool = inner if len(inner) >= 14 else m
        centre = pool[np.argmin(np.hypot(px[pool] - x0 - half, py[pool] - y0 - half))]
        others = rng.choice(pool[pool != centre], size=min(13, len(pool) - 1), replace=False)
        for j, d in enumerate(np.concatenate([[centre], others])):
            st_rows.append((c, kinds[j], px[d] + 6, py[d] + 6, j))
    sc, sk, sxx, syy, sj = map(np.array, zip(*st_rows))
    ns = len(sc)
    slon, slat = _lonlat(sxx, syy)
    stations = gpd.GeoDataFrame({
        "region_code": region_code, "source_id": np.char.add("station-", np.arange(ns).astype(str)),
        "name": [f"社区{c + 1}{labels[k]}{'' if k == 'service_centre' else j}" for c, k, j in zip(sc, sk, sj)],
        "kind": sk, "community_code": comm_codes[sc],
        "capacity": np.where(sk == "service_centre", 200, np.where(sk == "grid_station", 40, None)),
        "opening_hours": np.where(sk == "neighbourhood_point", "Mo-Fr 09:00-17:00", "Mo-Su 08:30-17:30"),
        "opened_on": pd.Timestamp("2023-06-01").date(), "closed_on": None, "address": None,
    }, geometry=shapely.points(slon, slat), crs=4326)

    # Areas: communities tile their town, towns tile the district.
    cxs, cys = (ci % cols) * COMMUNITY_M, (ci // cols) * COMMUNITY_M
    comm_geom = _box(cxs, cys, cxs + COMMUNITY_M, cys + COMMUNITY_M)
    town_geom = [shapely.multipolygons(shapely.get_parts(shapely.union_all(comm_geom[town == tt])))
                 for tt in range(n_town)]
    areas = gpd.GeoDataFrame({
        "region_code": region_code,
        "code": np.concatenate([town_codes, comm_codes]),
        "name": [f"示例{'一二三四五六七八九十'[tt % 10]}{'' if tt < 10 else tt}镇" for tt in range(n_town)]
        + [f"示例社区{c + 1}" for c in ci],
        "level": ["town"] * n_town + ["community"] * n_comm,
        "parent_code": [None] * n_town + list(town_codes[town]),
    }, geometry=np.concatenate([np.array(town_geom, dtype=object), comm_geom]), crs=4326)

    inc = _incidents(rng, px, py, hh, cols, rows, region_code,
                     incidents if incidents is not None else int(round(0.19 * households * incident_years)),
                     incident_years)
    return {"areas": areas, "grids": grids, "dwellings": dwellings, "stations": stations,
            "streets": streets, "incidents": inc}


def _incidents(rng, px, py, hh, cols, rows, region, n, years):
    """Incidents at households (weighted), in hotspots, and ~0.2% just outside every grid."""
    p = hh / hh.sum()
    at = rng.choice(len(px), n, p=p)
    x, y = px[at] + rng.normal(0, 25, n), py[at] + rng.normal(0, 25, n)
    hot = rng.random(n) < 0.25
    centres = rng.uniform(0, [cols * COMMUNITY_M, rows * COMMUNITY_M], size=(max(3, cols * rows // 4), 2))
    h = rng.integers(0, len(centres), n)
    x = np.where(hot, centres[h, 0] + rng.normal(0, 120, n), x)
    y = np.where(hot, centres[h, 1] + rng.normal(0, 120, n), y)
    x = np.clip(x, 1, cols * COMMUNITY_M - 1)
    y = np.clip(y, 1, rows * COMMUNITY_M - 1)
    out = rng.random(n) < 0.002
    x = np.where(out, -rng.uniform(20, 200, n), x)
    lon, lat = _lonlat(x, y)
    span_h = years * 365 * 24
    hours = rng.uniform(0, span_h, n)
    hour_of_day = rng.choice(24, n, p=_day_profile())
    reported = (END - pd.to_timedelta(np.floor(hours / 24) * 24 + 24, unit="h")).floor("D")
    reported = reported + pd.to_timedelta(hour_of_day * 60 + rng.integers(0, 60, n), unit="min")
    cats = rng.choice(list(CATEGORY_WEIGHTS), n, p=np.array(list(CATEGORY_WEIGHTS.values())))
    age_d = (END - reported).days.to_numpy()
    u = rng.random(n)
    closed = np.where(age_d > 30, u < 0.9891, u < np.clip(age_d / 35, 0.1, 0.95))
    other = closed & (rng.random(n) < 0.06)
    open_states = rng.choice(["reported", "dispatched", "accepted", "in_progress"], n, p=[.2, .2, .2, .4])
    status = np.where(closed, np.where(other, "closed_other", "resolved"), open_states)
    sla = np.array([INCIDENT_CATEGORIES[c][2] for c in cats], float)
    dur_h = np.minimum(rng.lognormal(np.log(sla * 0.5), 0.9), age_d * 24.0)
    closed_at = pd.Series(reported + pd.to_timedelta(np.maximum(dur_h, 0.2), unit="h")).where(closed)
    level = rng.choice(["grid", "community", "town", "department"], n, p=[.82, .12, .04, .02])
    year = reported.year.to_numpy()
    return gpd.GeoDataFrame({
        "region_code": region,
        "external_id": [f"INC-{yy}-{i:07d}" for i, yy in enumerate(year)],
        "category": cats, "reported_at": reported,
        "description": None,
        "reporter_kind": rng.choice(["grid_worker", "hotline_12345", "resident", "volunteer", "mobile_sentinel"],
                                    n, p=[.45, .2, .15, .12, .08]),
        "status": status, "escalation_level": level, "closed_at": closed_at.to_numpy(),
        "close_reason": np.where(other, rng.choice(["duplicate", "not_responsible", "no_action_possible"], n), None),
    }, geometry=shapely.points(lon, lat), crs=4326)


def _day_profile() -> np.ndarray:
    w = np.array([1, .6, .4, .4, .5, 1, 2, 4, 6, 7, 7, 6, 5, 6, 7, 7, 6, 6, 5, 4, 3, 2, 1.5, 1.2])
    return w / w.sum()
