"""The declarative base every model shares.

The schema itself is owned by the SQL migrations (``migrations/versions/``), not by
``metadata.create_all``: models describe it for queries and must match it, which
``tests/database/test_rbac.py`` checks against the migrated database.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

#: Constraint names as the migrations spell them, so models and SQL agree.
NAMING_CONVENTION = {
    "ix": "%(table_name)s_%(column_0_N_name)s_idx",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    """Root of the application's models."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
