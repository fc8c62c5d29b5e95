"""The one set of shared test setup. Pytest fixtures built on it are registered in tests/conftest.py.

- database.py: one way to make a test database (a SQLite file in tmp_path, or the emptied
  PostgreSQL server PAYSYNC_TEST_POSTGRES_URL names), with or without the schedule cutoff.
- procore_world.py: one Procore world, the sandbox Procore company (state, project, vendors,
  commitments, invoices) and the client/settings that reach it on loopback.
- quickbooks_world.py: one QuickBooks world, the sandbox company file, the Web Connector emulator
  and PaySync's /qbwc app on loopback (plus QuickBooks rows written straight into the database).
- bridge.py: both worlds wired together end to end (QuickBooks -> /qbwc -> database -> engine ->
  Procore), for the end-to-end, CLI, runtime and property tests.
- console.py: the console over a fixed data set (make_fixed_app, settle).
- runtime.py: a stepped scheduler clock and a listener for the runtime's events.
"""
