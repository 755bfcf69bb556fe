"""The seed's public face for database settings, the engine factory and pool figures.

Import from here in application code; the code lives in :mod:`personal_assistant.database`
(``settings``, ``engine``, ``urls``, ``session``). Nothing inside the package imports
this module, so it can never take part in an import cycle.
"""

from __future__ import annotations

from personal_assistant.database.engine import create_engine_from_config
from personal_assistant.database.pool_stats import PoolStats
from personal_assistant.database.session import get_pool_stats
from personal_assistant.database.settings import (
    DatabaseConfig,
    get_database_config,
    get_database_settings,
    load_database_config,
)
from personal_assistant.database.settings_loader import load_settings
from personal_assistant.database.urls import mask_url, normalize_database_url
from personal_assistant.errors import ConfigurationError

__all__ = [
    "ConfigurationError",
    "DatabaseConfig",
    "PoolStats",
    "create_engine_from_config",
    "get_database_config",
    "get_database_settings",
    "get_pool_stats",
    "load_database_config",
    "load_settings",
    "mask_url",
    "normalize_database_url",
]
