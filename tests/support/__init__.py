"""Helpers shared by the tests, imported as ``tests.support.<module>`` (pytest's ``pythonpath = ["."]``).

Test modules never import each other (pytest runs with ``--import-mode=importlib``): a builder two
test files need lives here, a fixture two directories need lives in a ``conftest.py``.

- ``cli``: ``run_cli`` runs ``gridmap`` in-process against the test database; ``flat`` undoes rich's wrapping
- ``sample``: ``load_sample`` imports a generated sample district
- ``browser``: the app on a real port and headless Debian Chromium (Playwright)
- ``netgen``: generated street lattices for the engine tests
- ``zoning_cases``: hand-made lattices for the zoning tests
- ``db``: the data tables, ``truncate`` and ``sql_rows`` (one statement's rows)
- ``plans``: the plan tests' world (``plan_world``: the sample and a plan of its first community)
- ``imports``: the import tests' town, communities and grids as files (areas, grids, dwellings CSV,
  a sample GeoPackage), ``load_base``, ``counts``
- ``districts``: the coverage API tests' lattice district (``district``, ``load``)
- ``features``: the read/write API tests' world (``seed``)
- ``incidents``: the tiny incident world (``make_world``, ``incident_frame``)
- ``city``: the incident city of the heatmap and hotspot tests (``make_city``, ``WINDOW``)
"""
