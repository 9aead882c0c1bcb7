"""Layer downloads: ``GET /export/{layer}?format=xlsx|csv|geojson|gpkg`` (the home page's downloads).

The same frame and writers as ``gridmap export`` (:func:`api.db.export.layer_frame`,
:func:`api.db.export.export_bytes`): CSV with a BOM and times in ``GRIDMAP_TIMEZONE``, .xlsx with
headers in the request's language.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api import i18n
from api.deps import EngineDep, ScopeDep, SettingsDep
from geo.layers import LAYERS

router = APIRouter(tags=["exports"])

MEDIA = {"csv": "text/csv; charset=utf-8", "geojson": "application/geo+json",
         "gpkg": "application/geopackage+sqlite3",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@router.get("/export/{layer}", summary="Download a stored layer (Excel, CSV, GeoJSON or GeoPackage)",
            description=f"`layer`: one of {', '.join(LAYERS)}.  CSV: UTF-8 with a BOM, lon/lat for points and WKT "
                        "otherwise, times with the offset of GRIDMAP_TIMEZONE; xlsx: headers in the request's "
                        "language, codes as text, times in GRIDMAP_TIMEZONE, a point inside each line or polygon "
                        "as lon/lat; GeoJSON RFC 7946; GeoPackage EPSG:4326.")
def export_layer(request: Request, layer: str, scope: ScopeDep, settings: SettingsDep, engine: EngineDep,
                 format: Literal["xlsx", "csv", "geojson", "gpkg"] = "xlsx",
                 area: str | None = Query(None, description="Only this 6-digit region, town or community code."),
                 history: bool = Query(False, description="Grids: every boundary version.")) -> Response:
    from api.db.export import export_bytes, layer_frame

    with engine.connect() as conn:
        frame = layer_frame(conn, layer, scope, area=area, history=history)
    body = export_bytes(frame, format, layer, tz=settings.timezone,
                        lang=i18n.request_lang(request, settings.language))
    name = f"{layer}.{format}"
    return Response(body, media_type=MEDIA[format],
                    headers={"Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"})
