"""The package's one root error, and the error shared by every area's settings.

The whole tree (each area documents its own branch in its ``errors`` module)::

    PersonalAssistantError              root: anything this package raises on purpose
    ├── ConfigurationError              a setting (environment variable) is invalid
    ├── DatabaseError                   personal_assistant.database.errors
    │   ├── EngineNotInitializedError
    │   ├── DatabaseUnavailableError
    │   │   └── ConnectionLostError
    │   │       └── DatabaseTimeoutError
    │   ├── QueryFailedError
    │   ├── PoolExhaustedError
    │   └── EmbeddedServerError
    ├── MigrationError                  personal_assistant.database.migrations.errors
    ├── MonitoringError                 personal_assistant.monitoring.errors
    │   └── RedisUnavailableError
    └── OptimizerError                  personal_assistant.optimizer.errors

Every area converts the errors of the libraries below it (asyncpg, SQLAlchemy, redis,
httpx) once, at one named boundary (``wrap_db_errors()``, ``wrap_redis_errors()``),
with ``raise ... from`` so the original stays in the traceback; a converted error also
keeps it in :attr:`PersonalAssistantError.original`. The command line maps
``ConfigurationError`` to exit code 2 and every other ``PersonalAssistantError`` to
exit code 1, printing the message alone. ``tests/test_errors.py`` checks that every
class is exported, documented and drawn in a tree.
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "PersonalAssistantError"]


class PersonalAssistantError(Exception):
    """Root of every error the package raises on purpose; its message is for a user."""

    __module__ = "personal_assistant.errors"

    #: The library error this one was converted from at an area's boundary (``None``
    #: when the package raised it on its own); health bodies name its class.
    original: Exception | None = None


class ConfigurationError(PersonalAssistantError):
    """Raised when a setting (usually an environment variable) has an invalid value."""

    __module__ = "personal_assistant.errors"
