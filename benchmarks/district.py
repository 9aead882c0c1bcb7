"""Sample data the benchmarks share: one town cut out of the sample city."""

from __future__ import annotations


def town_of_largest(layers: dict, by: str = "households") -> tuple[str, dict]:
    """The community with the most ``households`` (or, ``by="dwellings"``, the most dwellings) and
    the layers of its town: the town, its communities and the county (areas), their grids, and the
    streets, stations and dwellings meeting the town.  Returns ``(community code, layers)``."""
    import geopandas as gpd

    areas = layers["areas"]
    comm = areas[areas.level == "community"]
    j = gpd.sjoin(layers["dwellings"][["households", "geometry"]], comm[["code", "geometry"]], predicate="within")
    sizes = j.groupby("code")["households"].sum() if by == "households" else j.groupby("code").size()
    code = sizes.idxmax()
    town = comm.set_index("code").loc[code, "parent_code"]
    keep_c = set(comm[comm.parent_code == town].code)
    town_geom = areas[areas.code == town].geometry.iloc[0]
    out = {"areas": areas[(areas.code == town) | areas.code.isin(keep_c) | (areas.level == "county")],
           "grids": layers["grids"][layers["grids"].community_code.isin(keep_c)]}
    for k in ("streets", "stations", "dwellings"):
        f = layers[k]
        out[k] = f[f.intersects(town_geom)]
    return code, out
