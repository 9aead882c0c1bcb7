"""The fictional sample district (示例): six layers around Jiangyin from a seeded generator.

The public surface: ``from geo.sample import make_district`` (and :func:`make_regions`: several
districts side by side, one county code each, :mod:`geo.sample.regions`).  :mod:`geo.sample.district` assembles
the layers (EPSG:4326, the columns of :data:`geo.layers.LAYERS`) from the parts, each built in local
metres: :mod:`geo.sample.layout` (towns, communities, the river), :mod:`geo.sample.streets`,
:mod:`geo.sample.dwellings` (hamlets, dwellings, grids), :mod:`geo.sample.stations`,
:mod:`geo.sample.incidents` and :mod:`geo.sample.names`.
"""

from geo.sample.district import COMMUNITIES_PER_TOWN, HOUSEHOLDS_PER_COMMUNITY, make_district
from geo.sample.regions import make_regions

__all__ = ["make_district", "make_regions", "HOUSEHOLDS_PER_COMMUNITY", "COMMUNITIES_PER_TOWN"]
