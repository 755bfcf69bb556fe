"""The package's public names: everything in ``__all__`` exists, every error is exported."""

from __future__ import annotations

import inspect

import personal_assistant.database.migrations as migrations
from personal_assistant.database.migrations import errors
from personal_assistant.errors import PersonalAssistantError


def test_every_exported_name_exists() -> None:
    assert all(hasattr(migrations, name) for name in migrations.__all__)


def test_every_error_is_exported_and_documented_in_the_tree() -> None:
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__
    ]
    tree = errors.__doc__ or ""
    for cls in classes:
        assert cls.__name__ in migrations.__all__
        assert cls.__name__ in tree
        assert issubclass(cls, errors.MigrationError)


def test_the_migration_root_error_hangs_under_the_package_root() -> None:
    assert issubclass(errors.MigrationError, PersonalAssistantError)
