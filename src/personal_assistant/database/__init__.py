"""Engine lifecycle, sessions, pool statistics, migrations and queries."""
