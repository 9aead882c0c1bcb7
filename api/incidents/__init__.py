"""Incidents: the case workflow (a pure state machine), bulk intake with grid attribution, and
statistics.  Routes live in ``api/routes/incidents.py``, the CLI in ``api/cli/incidents.py`` and the
heatmap/hotspot pages in ``api/pages/incidents.py``.
"""
