"""Reading import files (GeoJSON, GeoPackage, Shapefile, CSV, XLSX) into frames in EPSG:4326.

The public surface: import every name from here (``from geo.io import read_layer``).

- :mod:`geo.io.read`: :func:`read_layer`, the one entry point (format by suffix, CRS and GCJ-02/BD-09
  to WGS84 lon/lat), and :data:`FORMATS`;
- :mod:`geo.io.vector`: :func:`read_vector` (pyogrio; geometries that cannot be built are named by
  row and id), :func:`shapefile_encoding` (never guessed) and :func:`check_dbf_text` (a wrong but
  decodable encoding is refused, naming field and row; the check itself is :mod:`geo.io.text`);
- :mod:`geo.io.tables`: :func:`read_table` and :func:`table_to_frame` (longitude/latitude or WKT
  columns, :data:`LON_NAMES`, :data:`LAT_NAMES`, :data:`WKT_NAMES`);
- :mod:`geo.io.columns`: :func:`parse_column_map`, :func:`apply_column_map` and the Chinese
  :data:`HEADER_ALIASES`.

Nothing here checks a layer's columns or values: :func:`geo.validate.validate_frame` does.
"""

from geo.io.columns import HEADER_ALIASES, apply_column_map, parse_column_map
from geo.io.read import FORMATS, read_layer
from geo.io.tables import LAT_NAMES, LON_NAMES, WKT_NAMES, read_table, table_to_frame
from geo.io.vector import check_dbf_text, read_vector, shapefile_encoding

__all__ = [
    "read_layer", "parse_column_map", "FORMATS", "LON_NAMES", "LAT_NAMES", "WKT_NAMES", "HEADER_ALIASES",
    "apply_column_map", "read_table", "table_to_frame", "read_vector", "shapefile_encoding", "check_dbf_text",
]
