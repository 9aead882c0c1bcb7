"""Validating an imported frame against its layer before anything is written.

The public surface: import every name from here (``from geo.validate import validate_frame``).

- :mod:`geo.validate.frame`: :func:`validate_frame` (columns, types, domains, duplicate keys, times;
  every fault at once with its 1-based row, field and feature id) and its tables
  :data:`MAX_LENGTH`, :data:`VOCABULARIES`, :data:`OPTIONAL_GEOMETRY`, :data:`NAIVE_TZ`, :data:`YEARS`;
- :mod:`geo.validate.geometry`: :func:`check_geometries` (presence, type, lon/lat range, swapped
  axes, validity; EPSG:4326 degrees), :class:`GeometryResult`, :data:`CHINA_LON`, :data:`CHINA_LAT`,
  :data:`MAX_VERTICES` (per feature);
- :mod:`geo.validate.text`: :func:`text_faults` (control characters, lone surrogates, length by
  column: :func:`text_limit`, :data:`MAX_TEXT_LENGTH`, :data:`DEFAULT_TEXT_LENGTH`) and :func:`shown`
  (a bad value quoted safely in a problem).
"""

from geo.validate.frame import MAX_LENGTH, NAIVE_TZ, YEARS, OPTIONAL_GEOMETRY, VOCABULARIES, validate_frame
from geo.validate.geometry import CHINA_LAT, CHINA_LON, MAX_VERTICES, GeometryResult, check_geometries
from geo.validate.text import DEFAULT_TEXT_LENGTH, MAX_TEXT_LENGTH, shown, text_faults, text_limit

__all__ = ["validate_frame", "NAIVE_TZ", "MAX_LENGTH", "VOCABULARIES", "OPTIONAL_GEOMETRY",
           "check_geometries", "GeometryResult", "CHINA_LON", "CHINA_LAT", "MAX_VERTICES", "YEARS",
           "text_faults", "text_limit", "shown", "MAX_TEXT_LENGTH", "DEFAULT_TEXT_LENGTH"]
