"""Generated street networks for the coverage-engine tests (and the benchmark's fallback).

A jittered lattice near Jiangyin built in CGCS2000 / GK CM 120E (EPSG:4549) and returned in
EPSG:4326 with the columns of ``geo.layers``: some edges removed, bent edges (3 vertices), mixed road
classes, a few one-way drive streets; dwellings beside random edges 5-60 m off the street; stations
near random edges.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

METRIC = "EPSG:4549"
ORIGIN = (40_507_000.0 - 40_000_000.0, 3_530_000.0)  # x (no zone prefix), y: ~120.07E 31.9N


def to_wgs(geoms) -> gpd.GeoSeries:
    return gpd.GeoSeries(geoms, crs=METRIC).to_crs(4326)


def lattice(nx: int = 30, ny: int = 30, spacing: float = 80.0, seed: int = 0, drop: float = 0.12,
            households: int = 3000, stations: int = 12, bend: float = 0.3,
            offset_m: float = 30.0) -> dict[str, gpd.GeoDataFrame]:
    """Streets, stations and dwellings frames (EPSG:4326) of a random jittered lattice."""
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    xy = np.c_[gx.ravel(), gy.ravel()] * spacing + np.asarray(ORIGIN)
    xy = xy + rng.uniform(-0.2, 0.2, xy.shape) * spacing
    node = np.arange(nx * ny).reshape(nx, ny)
    a = np.r_[node[:-1, :].ravel(), node[:, :-1].ravel()]
    b = np.r_[node[1:, :].ravel(), node[:, 1:].ravel()]
    keep = rng.random(a.size) >= drop
    a, b = a[keep], b[keep]
    mid = (xy[a] + xy[b]) / 2 + rng.normal(0, spacing * 0.08, (a.size, 2)) * (rng.random(a.size) < bend)[:, None]
    coords = np.stack([xy[a], mid, xy[b]], axis=1)
    lines = shapely.linestrings(coords)
    m = a.size
    classes = rng.choice(["residential", "tertiary", "secondary", "service", "footway", "path"], m,
                         p=[0.45, 0.2, 0.1, 0.1, 0.1, 0.05])
    oneway = np.where((rng.random(m) < 0.1) & np.isin(classes, ["residential", "tertiary"]),
                      rng.choice([1, -1], m), 0)
    streets = gpd.GeoDataFrame({
        "region_code": "320281", "source_id": [f"s{i}" for i in range(m)], "name": None,
        "road_class": classes, "walk": None, "bike": None, "drive": None, "oneway": oneway,
        "speed_kmh": np.where(rng.random(m) < 0.2, rng.uniform(10, 60, m), np.nan),
    }, geometry=to_wgs(lines), crs=4326)
    # dwellings beside random edges
    e = rng.integers(0, m, households)
    pos = shapely.line_interpolate_point(lines[e], rng.random(households), normalized=True)
    p = shapely.get_coordinates(pos)
    ang = rng.uniform(0, 2 * np.pi, households)
    r = rng.uniform(5, offset_m, households)
    p = p + np.c_[np.cos(ang), np.sin(ang)] * r[:, None]
    dwell = gpd.GeoDataFrame({
        "region_code": "320281", "source_id": [f"d{i}" for i in range(households)],
        "households": rng.integers(1, 40, households),
    }, geometry=to_wgs(shapely.points(p)), crs=4326)
    e = rng.integers(0, m, stations)
    sp = shapely.get_coordinates(shapely.line_interpolate_point(lines[e], rng.random(stations), normalized=True))
    sp = sp + rng.uniform(-15, 15, sp.shape)
    kinds = np.array(["service_centre", "grid_station", "neighbourhood_point"])[rng.integers(0, 3, stations)]
    st = gpd.GeoDataFrame({
        "region_code": "320281", "source_id": [f"st{i}" for i in range(stations)],
        "name": [f"站点{i}" for i in range(stations)], "kind": kinds,
        "opened_on": None, "closed_on": None,
    }, geometry=to_wgs(shapely.points(sp)), crs=4326)
    return {"streets": streets, "dwellings": dwell, "stations": st}


def frame(geoms_metric, **cols) -> gpd.GeoDataFrame:
    """A GeoDataFrame in EPSG:4326 from metric (EPSG:4549, no zone prefix) geometries."""
    return gpd.GeoDataFrame(cols, geometry=to_wgs(list(geoms_metric)), crs=4326)


def nx_graph(net):
    """networkx MultiDiGraph of a Network's arcs, built from its edge arrays (not from its CSR)."""
    import networkx as nx

    g = nx.MultiDiGraph()
    g.add_nodes_from(range(net.n_nodes))
    for e in range(net.n_edges):
        u, v = int(net.edge_u[e]), int(net.edge_v[e])
        if np.isfinite(net.edge_fw[e]):
            g.add_edge(u, v, weight=float(net.edge_fw[e]))
        if np.isfinite(net.edge_bw[e]):
            g.add_edge(v, u, weight=float(net.edge_bw[e]))
    return g


def split_reference(net, st, pts, stations=None):
    """Brute-force times: every snapped station and point inserted as a node splitting its edge,
    access legs as arcs, then networkx multi-source Dijkstra.  Returns (point times, node times)."""
    import networkx as nx

    stations = np.flatnonzero(st.ok) if stations is None else np.asarray(stations)
    stations = stations[st.ok[stations]]
    g = nx.MultiDiGraph()
    g.add_nodes_from(range(net.n_nodes))
    on_edge: dict[int, list] = {}
    for j in stations:
        on_edge.setdefault(int(st.edge[j]), []).append((float(st.frac[j]), ("s", int(j)), float(st.access_s[j])))
    for i in np.flatnonzero(pts.ok):
        on_edge.setdefault(int(pts.edge[i]), []).append((float(pts.frac[i]), ("p", int(i)), float(pts.access_s[i])))
    for e in range(net.n_edges):
        u, v = int(net.edge_u[e]), int(net.edge_v[e])
        fw, bw = float(net.edge_fw[e]), float(net.edge_bw[e])
        chain = [(0.0, u)]
        for f, name, acc in sorted(on_edge.get(e, []), key=lambda x: x[0]):
            pos = ("pos",) + name
            chain.append((f, pos))
            if name[0] == "s":
                g.add_edge(name, pos, weight=acc)
            else:
                g.add_edge(pos, name, weight=acc)
        chain.append((1.0, v))
        for (fa, a), (fb, b) in zip(chain[:-1], chain[1:]):
            df = fb - fa
            if df == 0:
                g.add_edge(a, b, weight=0.0)
                g.add_edge(b, a, weight=0.0)
                continue
            if np.isfinite(fw):
                g.add_edge(a, b, weight=df * fw)
            if np.isfinite(bw):
                g.add_edge(b, a, weight=df * bw)
    sources = [("s", int(j)) for j in stations]
    dist = nx.multi_source_dijkstra_path_length(g, sources) if sources else {}
    pt = np.array([dist.get(("p", int(i)), np.inf) for i in range(len(pts))])
    node = np.array([dist.get(i, np.inf) for i in range(net.n_nodes)])
    return pt, node
