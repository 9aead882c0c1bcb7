"""The coverage service: who is within the service circle, fed from PostGIS, cached, and the answers
that HTTP and the CLI both return.

Modules, one concept each:

* :mod:`~api.coverage.params`: the question (:class:`CoverageParams`), reading kinds and breaks,
  the data versions and parameter hash a run is keyed by;
* :mod:`~api.coverage.inputs`: the stored layers a run reads (:class:`Inputs`);
* :mod:`~api.coverage.cache`: values computed once per key (:class:`Keyed`);
* :mod:`~api.coverage.store`: networks and snaps kept across restarts in the data directory
  (:class:`DiskStore`);
* :mod:`~api.coverage.runs`: one computed run (:class:`Run`) and its summary;
* :mod:`~api.coverage.frames`: a run's results as frames (areas, gaps, station areas);
* :mod:`~api.coverage.whatif`: the what-if planner and its per-run parts, a new site;
* :mod:`~api.coverage.service`: :class:`CoverageService`, held on ``app.state.coverage``;
* :mod:`~api.coverage.counted`: the counted stations by kind, in SQL (pages);
* :mod:`~api.coverage.answers`: the answers of the routes and of ``gridmap coverage``.
"""

from api.coverage import answers
from api.coverage.cache import Keyed
from api.coverage.store import DiskStore
from api.coverage.counted import counted_kinds
from api.coverage.frames import (BAND_FLOORS, area_frame, break_columns, break_totals, covered_mask, dwelling_index,
                                 gaps_frame, service_area_frame, station_areas, stations_in)
from api.coverage.inputs import Inputs, load_inputs
from api.coverage.params import LAYERS, CoverageParams, data_versions, params_hash, parse_breaks, parse_kinds
from api.coverage.runs import FALLBACK_NOTE, Run, area_totals, jsonable, records
from api.coverage.service import CoverageService
from api.coverage.whatif import WhatIfBase, planner, run_gaps, site, whatif_base

__all__ = [
    "answers", "Keyed", "DiskStore", "counted_kinds",
    "BAND_FLOORS", "area_frame", "break_columns", "break_totals", "covered_mask", "dwelling_index", "gaps_frame",
    "service_area_frame", "station_areas", "stations_in",
    "Inputs", "load_inputs",
    "LAYERS", "CoverageParams", "data_versions", "params_hash", "parse_breaks", "parse_kinds",
    "FALLBACK_NOTE", "Run", "area_totals", "jsonable", "records",
    "CoverageService",
    "WhatIfBase", "planner", "run_gaps", "site", "whatif_base",
]
