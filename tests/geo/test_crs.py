import geopandas as gpd
import pytest
from shapely.geometry import Point

from geo.crs import metric_crs, metric_crs_for


@pytest.mark.parametrize(
    "lon, lat, epsg",
    [(120.28, 31.91, 4549), (121.6, 31.2, 4550), (113.3, 23.1, 4547), (25.0, 60.2, 32635), (-74.0, 40.7, 32618)],
)
def test_zone_choice(lon, lat, epsg):
    assert metric_crs(lon, lat).to_epsg() == epsg


def test_metric_distances_are_metres():
    # Two points 0.01 degree of latitude apart are ~1,110 m apart anywhere.
    f = gpd.GeoDataFrame(geometry=[Point(120.3, 31.9), Point(120.3, 31.91)], crs=4326)
    m = f.to_crs(metric_crs_for(f))
    assert m.geometry.iloc[0].distance(m.geometry.iloc[1]) == pytest.approx(1109, abs=3)


def test_rejects_swapped_coordinates():
    with pytest.raises(ValueError):
        metric_crs(31.9, 120.3)


def test_cached_transformer_equals_from_crs_both_ways():
    import numpy as np
    from pyproj import Transformer

    from geo.crs import WGS84, metric_crs, transformer

    crs = metric_crs(120.3, 31.9)
    lon = np.linspace(118.5, 121.5, 50)
    lat = np.linspace(30.5, 33.5, 50)
    ref = Transformer.from_crs(WGS84, crs, always_xy=True)
    x, y = transformer(WGS84, crs).transform(lon, lat)
    rx, ry = ref.transform(lon, lat)
    assert np.array_equal(x, rx) and np.array_equal(y, ry)
    back = transformer(crs, WGS84).transform(x, y)
    assert np.allclose(back[0], lon, atol=1e-9) and np.allclose(back[1], lat, atol=1e-9)
    assert transformer(WGS84, crs) is transformer(WGS84, crs)  # cached
