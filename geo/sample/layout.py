"""The sample district's territory: outline, river, towns and communities (metric, local metres).

All coordinates here are metres in a local frame centred on the district (x east, y north); the
caller shifts them into the CGCS2000 Gauss-Kruger zone (:func:`geo.crs.metric_crs`) and then to
EPSG:4326.  Towns are Voronoi cells of well-spread town centres clipped to a convex outline;
communities are Voronoi cells of seeds inside their town, dense near the town centre (urban
communities, 社区) and sparse outside it (villages, 村).  Every cell is convex, so communities tile
their town, towns tile the district, and a rectangle cut from a community stays one piece.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

#: Gross area per household (m2): 500,000 households make a ~750 km2 county-level city.
AREA_PER_HOUSEHOLD = 1_500.0
ASPECT = 1.5  # width / height of the district
URBAN_COMMUNITY_M2 = 500_000.0  # an urban community: ~1,500 households on ~0.5 km2
RIVER_HALF_WIDTH = 25.0


@dataclass
class Layout:
    """Territory of the district in local metres.

    Attributes
    ----------
    outline : shapely.Polygon
        The district (convex).
    towns : numpy.ndarray of Polygon
        One polygon per town, tiling ``outline``; ``towns[0]`` is the seat (more urban).
    town_centre : numpy.ndarray, shape (n_towns, 2)
    communities : numpy.ndarray of Polygon
        One polygon per community, tiling its town.
    community_town : numpy.ndarray of int
        Town index of each community.
    urban : numpy.ndarray of bool
        Urban community (apartment blocks) or village (houses in hamlets).
    river : tuple of float
        Parameters ``(y0, a1, l1, p1, a2, l2, p2)`` of the river centreline, see :func:`river_y`.
    """

    outline: shapely.Polygon
    towns: np.ndarray
    town_centre: np.ndarray
    communities: np.ndarray
    community_town: np.ndarray
    urban: np.ndarray
    river: tuple


def river_y(river: tuple, x: np.ndarray) -> np.ndarray:
    """Northing (m) of the river centreline at easting ``x`` (m): two superposed meanders."""
    y0, a1, l1, p1, a2, l2, p2 = river
    return y0 + a1 * np.sin(2 * np.pi * x / l1 + p1) + a2 * np.sin(2 * np.pi * x / l2 + p2)


def _points_in(rng, poly, n, ok=None) -> np.ndarray:
    """``n`` uniform random points inside ``poly`` (and where ``ok(x, y)`` holds), by rejection."""
    minx, miny, maxx, maxy = poly.bounds
    out = np.empty((0, 2))
    for _ in range(200):
        p = rng.uniform((minx, miny), (maxx, maxy), size=(max(4 * n, 64), 2))
        keep = shapely.contains_xy(poly, p[:, 0], p[:, 1])
        if ok is not None:
            keep &= ok(p[:, 0], p[:, 1])
        out = np.vstack([out, p[keep]])
        if len(out) >= n:
            return out[:n]
    raise ValueError("could not place points inside the polygon")


def spread_points(rng, poly, n, fixed=None, ok=None, candidates=24) -> np.ndarray:
    """``n`` well-spread points inside ``poly`` by best-candidate sampling (Mitchell).

    Each new point is the one of ``candidates`` random candidates farthest from the points placed so
    far (and from ``fixed``, shape (m, 2), if given).
    """
    placed = np.empty((0, 2)) if fixed is None else np.asarray(fixed, float).reshape(-1, 2)
    chosen = []
    for _ in range(n):
        cand = _points_in(rng, poly, candidates, ok)
        if len(placed) == 0:
            best = cand[0]
        else:
            d = np.hypot(cand[:, None, 0] - placed[None, :, 0], cand[:, None, 1] - placed[None, :, 1]).min(axis=1)
            best = cand[int(np.argmax(d))]
        chosen.append(best)
        placed = np.vstack([placed, best])
    return np.array(chosen).reshape(-1, 2)


def voronoi_cells(seeds: np.ndarray, clip: shapely.Polygon) -> np.ndarray:
    """Voronoi cell of each seed (in seed order) clipped to ``clip``; one seed gives ``clip`` itself."""
    if len(seeds) == 1:
        return np.array([clip], dtype=object)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=clip, ordered=True))
    return shapely.intersection(cells, clip)


def _largest_remainder(weights: np.ndarray, total: int, minimum: int = 0) -> np.ndarray:
    w = np.asarray(weights, float)
    base = np.full(len(w), minimum)
    rest = total - base.sum()
    share = w / w.sum() * rest
    n = np.floor(share).astype(int)
    n[np.argsort(-(share - n), kind="stable")[: rest - n.sum()]] += 1
    return base + n


def make_layout(rng: np.random.Generator, households: int, n_communities: int, n_towns: int) -> Layout:
    """Outline, river, towns and communities for ``households`` households.

    Parameters
    ----------
    rng : numpy.random.Generator
    households : int
        Sets the district's area (:data:`AREA_PER_HOUSEHOLD` m2 each).
    n_communities, n_towns : int
        Counts of communities and towns (towns >= 1, communities >= towns).
    """
    area = households * AREA_PER_HOUSEHOLD
    b = np.sqrt(area / (np.pi * ASPECT))
    a = ASPECT * b
    ang = np.sort(rng.uniform(0, 2 * np.pi, 48))
    rad = rng.uniform(0.94, 1.08, 48)
    outline = shapely.convex_hull(shapely.multipoints(np.column_stack([a * rad * np.cos(ang), b * rad * np.sin(ang)])))

    # Town centres: spread, then two Lloyd steps so each sits in the middle of its town.
    centres = spread_points(rng, outline, n_towns) if n_towns > 1 else np.array([[0.0, 0.0]])
    for _ in range(2 if n_towns > 1 else 0):
        cells = voronoi_cells(centres, outline)
        centres = shapely.get_coordinates(shapely.centroid(cells))
    # The seat (town 0) is the town nearest the middle of the district.
    order = np.argsort(np.hypot(centres[:, 0], centres[:, 1]), kind="stable")
    centres = centres[order]
    towns = voronoi_cells(centres, outline)

    per_town = _largest_remainder(shapely.area(towns), n_communities, minimum=1)
    comm, comm_town, urban = [], [], []
    for t in range(n_towns):
        n = int(per_town[t])
        share = 0.5 if t == 0 else 0.3
        n_urban = min(n, max(1 if n >= 2 or t == 0 else 0, int(round(share * n))))
        r_u = np.sqrt(max(n_urban, 1) * URBAN_COMMUNITY_M2 / np.pi)
        cx, cy = centres[t]
        in_core = lambda x, y: np.hypot(x - cx, y - cy) <= r_u  # noqa: E731
        # villages ring the urban core (their cells reach out to the town's edge), so the urban
        # communities stay compact instead of stretching to the nearest far-off village seed
        r_v = max(2.5 * r_u, 0.8 * np.sqrt(towns[t].area / np.pi))
        outside = lambda x, y: (np.hypot(x - cx, y - cy) >= 1.5 * r_u) & (np.hypot(x - cx, y - cy) <= r_v)  # noqa: E731
        try:
            seeds_u = spread_points(rng, towns[t], n_urban, ok=in_core)
            seeds_v = spread_points(rng, towns[t], n - n_urban, fixed=seeds_u, ok=outside)
        except ValueError:  # a town too small for a core and a ring: spread everything
            seeds_u = spread_points(rng, towns[t], n_urban)
            seeds_v = spread_points(rng, towns[t], n - n_urban, fixed=seeds_u)
        seeds = np.vstack([seeds_u, seeds_v])
        comm.extend(voronoi_cells(seeds, towns[t]))
        comm_town.extend([t] * n)
        urban.extend([True] * n_urban + [False] * (n - n_urban))

    height = outline.bounds[3] - outline.bounds[1]
    river = (outline.bounds[1] + rng.uniform(0.3, 0.45) * height,
             rng.uniform(0.05, 0.08) * height, rng.uniform(3_000, 5_000), rng.uniform(0, 2 * np.pi),
             rng.uniform(40, 90), rng.uniform(900, 1_400), rng.uniform(0, 2 * np.pi))
    return Layout(outline, towns, centres, np.array(comm, dtype=object), np.array(comm_town),
                  np.array(urban), river)
