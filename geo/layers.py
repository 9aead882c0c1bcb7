"""The data layers gridmap stores, described once.

Every importer, the sample generator, the exporter and the database schema agree on these
names.  A layer is a table of features with one geometry column named ``geometry`` held in
EPSG:4326 (longitude, latitude; RFC 7946 axis order).

Nothing here touches a database or the web: it is a plain description used by ``geo`` (to
validate frames) and by ``api`` (to build the schema and the loaders).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Station kinds of the domain (1 centre + 3 grid stations + 10 neighbourhood points per
#: community).  Users may add their own kinds: ``kind`` is free text, these are the defaults.
STATION_KINDS: tuple[str, ...] = ("service_centre", "grid_station", "neighbourhood_point")

#: Area levels, top to bottom.  ``county`` is optional: the county is the ``region_code``.
AREA_LEVELS: tuple[str, ...] = ("county", "town", "community")

#: Incident workflow states and close reasons (see ``api.incidents.workflow``).
INCIDENT_STATUSES: tuple[str, ...] = (
    "reported",
    "dispatched",
    "accepted",
    "in_progress",
    "resolved",
    "closed_other",
)
CLOSE_REASONS: tuple[str, ...] = ("duplicate", "not_responsible", "no_action_possible")
ESCALATION_LEVELS: tuple[str, ...] = ("grid", "community", "town", "department")
REPORTER_KINDS: tuple[str, ...] = (
    "grid_worker",
    "volunteer",
    "resident",
    "mobile_sentinel",
    "hotline_12345",
    "other",
)

#: Incident categories: code -> (Chinese name, English name, SLA hours).  The migration seeds
#: the ``incident_categories`` table from this; users may add more rows there.
INCIDENT_CATEGORIES: dict[str, tuple[str, str, int]] = {
    "safety_hazard": ("安全隐患", "Safety hazard", 24),
    "dispute": ("矛盾纠纷", "Dispute", 72),
    "environment": ("环境卫生", "Environment and sanitation", 48),
    "illegal_construction": ("违法建设", "Illegal construction", 168),
    "property": ("物业管理", "Property management", 72),
    "parking": ("停车管理", "Parking", 24),
    "street_light": ("路灯照明", "Street lights", 48),
    "elderly_care": ("养老服务", "Elderly care", 72),
    "other": ("其他", "Other", 72),
}

#: Road classes for streets, with default walk/bike/drive access and drive speed (km/h).
ROAD_CLASSES: dict[str, tuple[bool, bool, bool, float]] = {
    "primary": (True, True, True, 50.0),
    "secondary": (True, True, True, 40.0),
    "tertiary": (True, True, True, 30.0),
    "residential": (True, True, True, 25.0),
    "service": (True, True, True, 15.0),
    "path": (True, True, False, 0.0),
    "footway": (True, False, False, 0.0),
    "motorway": (False, False, True, 80.0),
}


@dataclass(frozen=True)
class Column:
    """One attribute column of a layer.

    Parameters
    ----------
    name : str
        Column name as stored and as expected in an import file (after ``--map``).
    dtype : str
        One of ``str``, ``int``, ``float``, ``bool``, ``datetime`` (timezone-aware, UTC
        stored), ``date``.
    required : bool
        Whether an import must provide it.
    """

    name: str
    dtype: str
    required: bool = False


@dataclass(frozen=True)
class Layer:
    """A stored layer: its table name, geometry type and columns.

    ``key`` names the column that identifies a feature within one ``region_code``; importing
    a feature whose key already exists updates it instead of adding a duplicate.
    """

    name: str
    geometry: str  # "MultiPolygon", "Point", "LineString"
    key: str
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        Layer(
            "areas",
            "MultiPolygon",
            key="code",
            columns=(
                Column("region_code", "str", True),
                Column("code", "str", True),
                Column("name", "str", True),
                Column("level", "str", True),
                Column("parent_code", "str"),
            ),
        ),
        Layer(
            "grids",
            "MultiPolygon",
            key="code",
            columns=(
                Column("region_code", "str", True),
                Column("code", "str", True),
                Column("name", "str", True),
                Column("community_code", "str", True),
                Column("town_code", "str"),
                Column("chief", "str"),
                Column("worker", "str"),
                Column("phone", "str"),
                Column("valid_from", "datetime"),
                Column("valid_to", "datetime"),
            ),
        ),
        Layer(
            "dwellings",
            "Point",
            key="source_id",
            columns=(
                Column("region_code", "str", True),
                Column("source_id", "str", True),
                Column("households", "int", True),
                Column("name", "str"),
                Column("address", "str"),
                Column("population", "int"),
                Column("levels", "int"),
                Column("building_type", "str"),
                Column("community_code", "str"),
                Column("grid_code", "str"),
            ),
        ),
        Layer(
            "stations",
            "Point",
            key="source_id",
            columns=(
                Column("region_code", "str", True),
                Column("source_id", "str", True),
                Column("name", "str", True),
                Column("kind", "str", True),
                Column("community_code", "str"),
                Column("capacity", "int"),
                Column("opening_hours", "str"),
                Column("opened_on", "date"),
                Column("closed_on", "date"),
                Column("address", "str"),
            ),
        ),
        Layer(
            "streets",
            "LineString",
            key="source_id",
            columns=(
                Column("region_code", "str", True),
                Column("source_id", "str", True),
                Column("name", "str"),
                Column("road_class", "str", True),
                Column("walk", "bool"),
                Column("bike", "bool"),
                Column("drive", "bool"),
                Column("oneway", "int"),  # 0 both ways, 1 along the line, -1 against it (drive)
                Column("speed_kmh", "float"),
            ),
        ),
        Layer(
            "incidents",
            "Point",
            key="external_id",
            columns=(
                Column("region_code", "str"),
                Column("external_id", "str", True),
                Column("category", "str", True),
                Column("reported_at", "datetime", True),
                Column("description", "str"),
                Column("reporter_kind", "str"),
                Column("status", "str"),
                Column("escalation_level", "str"),
                Column("closed_at", "datetime"),
                Column("close_reason", "str"),
            ),
        ),
    )
}
