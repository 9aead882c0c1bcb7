"""Helpers shared by the tests (imported as ``tests.support.<module>``; pytest's ``pythonpath = ["."]``).

- ``cli``: ``run_cli`` runs ``gridmap`` in-process against the test database
- ``sample``: ``load_sample`` imports a generated sample district
- ``browser``: the app on a real port and headless Debian Chromium (Playwright)
- ``netgen``: generated street lattices for the engine tests
- ``zoning_cases``: hand-made lattices for the zoning tests
- ``db``: the data tables and ``truncate``
"""
