"""read_layer: every format, column mapping, CRS handling, GCJ-02/BD-09, encodings, and its errors."""

import numpy as np
import geopandas as gpd
import pandas as pd
import pytest
import shapely

import coordTransform as ct
from geo.errors import InvalidInput
from geo.io import parse_column_map, read_layer

POINTS = [(120.30, 31.90), (120.31, 31.91), (120.32, 31.92)]


def _frame(crs=4326):
    return gpd.GeoDataFrame(
        {"source_id": ["a", "b", "c"], "households": [10, 20, 30], "name": ["一号楼", "二号楼", "三号楼"]},
        geometry=[shapely.Point(p) for p in POINTS], crs=crs)


@pytest.mark.parametrize("suffix, kwargs", [
    (".geojson", {}), (".gpkg", {"layer": "dwellings"}), (".shp", {"encoding": "utf-8"}),
])
def test_vector_formats_round_trip(tmp_path, suffix, kwargs):
    path = tmp_path / f"d{suffix}"
    _frame().to_file(path, **kwargs)
    out = read_layer(path, layer_name="dwellings")
    assert out.crs.to_epsg() == 4326
    assert list(out["source_id"]) == ["a", "b", "c"]
    assert list(out["name"]) == ["一号楼", "二号楼", "三号楼"]
    assert np.allclose(shapely.get_coordinates(out.geometry.to_numpy()), POINTS)
    assert out.attrs["read"]["coords"] == "wgs84"


def test_geopackage_with_several_layers_needs_layer(tmp_path):
    path = tmp_path / "two.gpkg"
    _frame().to_file(path, layer="one")
    _frame().iloc[:1].to_file(path, layer="two")
    with pytest.raises(InvalidInput, match="several layers") as e:
        read_layer(path, layer_name="dwellings")
    assert "one" in str(e.value.problems[0]) and "two" in str(e.value.problems[0])
    assert len(read_layer(path, layer_name="dwellings", file_layer="two")) == 1
    with pytest.raises(InvalidInput, match="No such layer"):
        read_layer(path, layer_name="dwellings", file_layer="three")


def test_projected_file_is_reprojected(tmp_path):
    path = tmp_path / "gk.gpkg"
    _frame().to_crs(4549).to_file(path)
    out = read_layer(path, layer_name="dwellings")
    assert np.allclose(shapely.get_coordinates(out.geometry.to_numpy()), POINTS, atol=1e-8)


def test_crs_option_for_file_without_one(tmp_path):
    path = tmp_path / "gk.geojson"
    projected = _frame().to_crs(4549)
    # a CSV with metre coordinates has no CRS: --crs says which
    pd.DataFrame({"source_id": ["a", "b", "c"], "x": projected.geometry.x, "y": projected.geometry.y}).to_csv(
        tmp_path / "gk.csv", index=False)
    with pytest.raises(InvalidInput, match="Unknown coordinate reference system") as e:
        read_layer(tmp_path / "gk.csv", layer_name="dwellings")
    assert "gk.csv" in e.value.problems[0].reason and "--crs" in e.value.problems[0].reason
    out = read_layer(tmp_path / "gk.csv", layer_name="dwellings", crs="EPSG:4549")
    assert np.allclose(shapely.get_coordinates(out.geometry.to_numpy()), POINTS, atol=1e-8)
    out = read_layer(tmp_path / "gk.csv", layer_name="dwellings", crs="4549")
    assert np.allclose(shapely.get_coordinates(out.geometry.to_numpy()), POINTS, atol=1e-8)
    del path


def test_unknown_crs_and_coords(tmp_path):
    path = tmp_path / "d.geojson"
    _frame().to_file(path)
    with pytest.raises(InvalidInput, match="Unknown CRS") as e:
        read_layer(path, layer_name="dwellings", crs="EPSG:999999")
    assert e.value.problems[0].field == "--crs"
    with pytest.raises(InvalidInput, match="Unknown coordinate system") as e:
        read_layer(path, layer_name="dwellings", coords="mars")
    assert "gcj02" in e.value.problems[0].reason


@pytest.mark.parametrize("system, forward", [("gcj02", ct.wgs84_to_gcj02), ("bd09", ct.wgs84_to_bd09)])
def test_obfuscated_coordinates_converted(tmp_path, system, forward):
    shifted = [forward(*p) for p in POINTS]
    pd.DataFrame({"source_id": list("abc"), "lng": [p[0] for p in shifted], "lat": [p[1] for p in shifted]}).to_csv(
        tmp_path / "amap.csv", index=False)
    out = read_layer(tmp_path / "amap.csv", layer_name="dwellings", coords=system)
    got = shapely.get_coordinates(out.geometry.to_numpy())
    # back to the WGS84 points within a millimetre (1e-8 degrees ~ 1 mm)
    assert np.abs(got - np.array(POINTS)).max() < 1e-8
    plain = read_layer(tmp_path / "amap.csv", layer_name="dwellings")
    assert np.abs(shapely.get_coordinates(plain.geometry.to_numpy()) - np.array(POINTS)).max() > 1e-3


def test_polygon_coordinates_converted(tmp_path):
    poly = shapely.box(120.3, 31.9, 120.31, 31.91)
    gcj = shapely.transform(poly, lambda xy: np.array([ct.wgs84_to_gcj02(*p) for p in xy]))
    gpd.GeoDataFrame({"code": ["g"]}, geometry=[gcj], crs=4326).to_file(tmp_path / "g.geojson")
    out = read_layer(tmp_path / "g.geojson", layer_name="grids", coords="gcj02")
    assert shapely.get_coordinates(out.geometry.to_numpy()) == pytest.approx(
        shapely.get_coordinates(poly), abs=1e-8)


def test_csv_chinese_headers_and_map(tmp_path):
    (tmp_path / "d.csv").write_text("编号,户数,经度,纬度,备注\nA1,12,120.3,31.9,x\nA2,7,120.4,31.8,y\n", encoding="utf-8-sig")
    out = read_layer(tmp_path / "d.csv", layer_name="dwellings", column_map={"source_id": "编号"})
    assert list(out["source_id"]) == ["A1", "A2"]
    assert list(out["households"]) == ["12", "7"]  # alias 户数 -> households; validate coerces types
    assert shapely.get_coordinates(out.geometry.to_numpy()).tolist() == [[120.3, 31.9], [120.4, 31.8]]
    with pytest.raises(InvalidInput, match="Mapped columns not found") as e:
        read_layer(tmp_path / "d.csv", layer_name="dwellings", column_map={"source_id": "id"})
    assert "编号" in e.value.problems[0].reason  # lists the columns found


def test_csv_explicit_lon_lat_and_wkt(tmp_path):
    (tmp_path / "d.csv").write_text("id,E,N\n1,120.3,31.9\n")
    out = read_layer(tmp_path / "d.csv", layer_name="dwellings", lon="E", lat="N")
    assert out.geometry.iloc[0].equals(shapely.Point(120.3, 31.9))
    with pytest.raises(InvalidInput, match="No coordinates"):
        read_layer(tmp_path / "d.csv", layer_name="dwellings")
    (tmp_path / "w.csv").write_text('code,wkt\ng1,"POLYGON((120 31,120.1 31,120.1 31.1,120 31))"\ng2,nonsense\n')
    with pytest.raises(InvalidInput, match="Bad coordinates") as e:
        read_layer(tmp_path / "w.csv", layer_name="grids")
    assert e.value.problems[0].row == 2
    (tmp_path / "n.csv").write_text("id,lon,lat\n1,120.3,31.9\n2,abc,31.9\n")
    with pytest.raises(InvalidInput) as e:
        read_layer(tmp_path / "n.csv", layer_name="dwellings")
    assert (e.value.problems[0].row, e.value.problems[0].field) == (2, "lon")


def test_csv_in_gbk_needs_encoding(tmp_path):
    (tmp_path / "g.csv").write_bytes("名称,lon,lat\n社区服务站,120.3,31.9\n".encode("gbk"))
    with pytest.raises(InvalidInput, match="not UTF-8") as e:
        read_layer(tmp_path / "g.csv", layer_name="stations")
    assert "--encoding gbk" in e.value.problems[0].reason
    out = read_layer(tmp_path / "g.csv", layer_name="stations", encoding="gbk")
    assert out["name"].tolist() == ["社区服务站"]


def test_xlsx(tmp_path):
    pd.DataFrame({"名称": ["党群服务中心"], "类型": ["service_centre"], "source_id": ["s1"], "经度": [120.3],
                  "纬度": [31.9]}).to_excel(tmp_path / "s.xlsx", index=False)
    out = read_layer(tmp_path / "s.xlsx", layer_name="stations")
    assert out[["name", "kind", "source_id"]].iloc[0].tolist() == ["党群服务中心", "service_centre", "s1"]
    assert out.geometry.iloc[0].equals(shapely.Point(120.3, 31.9))


def _gbk_shapefile(tmp_path):
    path = tmp_path / "gbk.shp"
    _frame().to_file(path, encoding="gbk")
    path.with_suffix(".cpg").unlink()
    return path


def test_gbk_shapefile_without_cpg_is_refused(tmp_path):
    path = _gbk_shapefile(tmp_path)
    with pytest.raises(InvalidInput, match="not UTF-8") as e:
        read_layer(path, layer_name="dwellings")
    assert "--encoding gbk" in e.value.problems[0].reason
    out = read_layer(path, layer_name="dwellings", encoding="gbk")
    assert list(out["name"]) == ["一号楼", "二号楼", "三号楼"]


def test_zipped_gbk_shapefile_is_refused_too(tmp_path):
    import zipfile

    path = _gbk_shapefile(tmp_path)
    with zipfile.ZipFile(tmp_path / "gbk.zip", "w") as zf:
        for f in tmp_path.glob("gbk.*"):
            if f.suffix != ".zip":
                zf.write(f, f.name)
    with pytest.raises(InvalidInput, match="not UTF-8"):
        read_layer(tmp_path / "gbk.zip", layer_name="dwellings")
    out = read_layer(tmp_path / "gbk.zip", layer_name="dwellings", encoding="gbk")
    assert list(out["name"]) == ["一号楼", "二号楼", "三号楼"]
    del path


def test_gbk_shapefile_with_cpg_reads(tmp_path):
    path = _gbk_shapefile(tmp_path)
    path.with_suffix(".cpg").write_text("GBK")
    assert list(read_layer(path, layer_name="dwellings")["name"]) == ["一号楼", "二号楼", "三号楼"]


def test_missing_file_and_bad_suffix(tmp_path):
    with pytest.raises(InvalidInput, match="File not found"):
        read_layer(tmp_path / "none.geojson", layer_name="grids")
    (tmp_path / "x.dwg").write_text("")
    with pytest.raises(InvalidInput, match="Unsupported file type"):
        read_layer(tmp_path / "x.dwg", layer_name="grids")


def test_parse_column_map():
    assert parse_column_map(["code=编码", " name = 名称 "]) == {"code": "编码", "name": "名称"}
    with pytest.raises(InvalidInput):
        parse_column_map(["code"])


def test_public_names_stay_importable_from_geo_io():
    """geo.io is a package (read, vector, tables, columns): every public name is importable from geo.io."""
    import geo.io as io
    import geo.io.columns as io_columns
    import geo.io.read as io_read
    import geo.io.tables as io_tables
    import geo.io.vector as io_vector

    for mod in (io_columns, io_read, io_tables, io_vector):
        for name in mod.__all__:
            assert getattr(io, name) is getattr(mod, name), name
    for name in ("read_layer", "parse_column_map", "FORMATS", "LON_NAMES", "LAT_NAMES", "WKT_NAMES", "HEADER_ALIASES"):
        assert name in io.__all__
    assert io.LON_NAMES[0] == "lon" and io.HEADER_ALIASES["households"] == ("户数",)
