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
    assert e.value.problems[0].row == 3  # Excel numbering: the header is row 1
    (tmp_path / "n.csv").write_text("id,lon,lat\n1,120.3,31.9\n2,abc,31.9\n")
    with pytest.raises(InvalidInput) as e:
        read_layer(tmp_path / "n.csv", layer_name="dwellings")
    assert (e.value.problems[0].row, e.value.problems[0].field) == (3, "lon")


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


# --- import defects of issue 12 §3 -----------------------------------------------------------

def _polygon_wkb(points) -> bytes:
    """Little-endian WKB of a one-ring polygon exactly as given (shapely refuses to build an unclosed ring)."""
    import struct

    wkb = struct.pack("<BII", 1, 3, 1) + struct.pack("<I", len(points))
    for x, y in points:
        wkb += struct.pack("<dd", x, y)
    return wkb


CLOSED = [(120.30, 31.90), (120.31, 31.90), (120.31, 31.91), (120.30, 31.91), (120.30, 31.90)]
UNCLOSED = [(120.32, 31.90), (120.33, 31.90), (120.33, 31.91), (120.32, 31.91)]  # last point is not the first


def _unclosed_file(tmp_path, suffix):
    path = tmp_path / f"grids{suffix}"
    if suffix == ".geojson":
        import json

        feats = [{"type": "Feature", "properties": {"code": code, "name": code},
                  "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}}
                 for code, ring in (("G1", CLOSED), ("G2", UNCLOSED), ("G3", CLOSED))]
        path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
        return path
    import pyogrio.raw

    geoms = np.array([_polygon_wkb(CLOSED), _polygon_wkb(UNCLOSED), _polygon_wkb(CLOSED)], dtype=object)
    pyogrio.raw.write(str(path), geoms, [np.array(["G1", "G2", "G3"], dtype=object)] * 2, ["code", "name"],
                      driver="GPKG" if suffix == ".gpkg" else "ESRI Shapefile", geometry_type="Polygon",
                      crs="EPSG:4326", encoding="UTF-8")
    return path


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".shp"])
def test_unclosed_ring_names_the_feature_and_row_without_a_raw_warning(tmp_path, suffix, recwarn):
    path = _unclosed_file(tmp_path, suffix)
    with pytest.raises(InvalidInput) as e:
        read_layer(path, layer_name="grids")
    assert "Cannot read the file" not in str(e.value)
    [p] = e.value.problems
    assert (p.row, p.feature_id, p.field) == (2, "G2", "geometry")
    assert "not closed" in p.reason
    assert not [w for w in recwarn.list if "ring" in str(w.message).lower()], [str(w.message) for w in recwarn.list]


def test_unclosed_ring_named_through_a_mapped_key_column(tmp_path, recwarn):
    path = _unclosed_file(tmp_path, ".geojson")
    text = path.read_text().replace('"code"', '"编号X"')
    path.write_text(text)
    with pytest.raises(InvalidInput) as e:
        read_layer(path, layer_name="grids", column_map={"code": "编号X"})
    assert [(p.row, p.feature_id) for p in e.value.problems] == [(2, "G2")]
    assert not recwarn.list


def _gbk_names_shapefile(tmp_path):
    """A GBK Shapefile (no .cpg) whose names use characters GB2312 lacks (堃, 喆, 镕)."""
    path = tmp_path / "names.shp"
    gpd.GeoDataFrame({"source_id": ["a", "b", "c"], "households": [1, 2, 3], "name": ["王堃家", "二号楼", "朱镕巷"]},
                     geometry=[shapely.Point(p) for p in POINTS], crs=4326).to_file(path, encoding="gbk")
    path.with_suffix(".cpg").unlink()
    return path


def test_wrong_but_decodable_shapefile_encoding_is_refused(tmp_path, recwarn):
    path = _gbk_names_shapefile(tmp_path)
    with pytest.raises(InvalidInput) as e:
        read_layer(path, layer_name="dwellings", encoding="gb2312")
    rows = [(p.row, p.field) for p in e.value.problems]
    assert rows == [(1, "name"), (3, "name")]
    assert all("--encoding gbk" in p.reason and "gb2312" in p.reason for p in e.value.problems)
    assert not [w for w in recwarn.list if "convert" in str(w.message)]
    # the independent check: the bytes do decode in GBK, and then every name is right
    assert list(read_layer(path, layer_name="dwellings", encoding="gbk")["name"]) == ["王堃家", "二号楼", "朱镕巷"]


def test_wrong_cpg_encoding_is_refused_too(tmp_path):
    path = _gbk_names_shapefile(tmp_path)
    path.with_suffix(".cpg").write_text("GB2312")
    with pytest.raises(InvalidInput) as e:
        read_layer(path, layer_name="dwellings")
    assert [(p.row, p.field) for p in e.value.problems] == [(1, "name"), (3, "name")]


@pytest.mark.parametrize("bad", ["\ufffd", "\ue000", "\U000e0080"])  # replacement, private use, unassigned
def test_replacement_private_or_unassigned_characters_are_refused(tmp_path, bad):
    import unicodedata

    assert unicodedata.category(bad) in ("So", "Co", "Cn")
    (tmp_path / "s.csv").write_text(f"source_id,name,lon,lat\ns1,好,120.3,31.9\ns2,坏{bad},120.3,31.9\n",
                                    encoding="utf-8")
    with pytest.raises(InvalidInput) as e:
        read_layer(tmp_path / "s.csv", layer_name="stations")
    # Excel numbering: the header is row 1, s2 is row 3
    assert [(p.row, p.field, p.feature_id) for p in e.value.problems] == [(3, "name", "s2")]
    assert f"U+{ord(bad):04X}" in e.value.problems[0].reason
