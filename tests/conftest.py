"""Test configuration: fixtures live in plugin modules under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.app",
    "tests.fixtures.redis",
    "tests.fixtures.pgbouncer",
    "tests.fixtures.replica",
]
