"""The error tree, guarded as httpx guards its exports (``tests/test_exported_members.py``).

Every module of the package is imported, every subclass of ``PersonalAssistantError``
found, and each must be exported by the module its ``__module__`` names, documented,
and drawn in a tree: the package's (``personal_assistant/errors.py``) or its area's.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from types import ModuleType

import pytest

import personal_assistant
from personal_assistant import errors as root

#: Error modules known not to have ``__all__`` yet, and who owns the fix. Strict: the
#: entry must go when the module gets one.
MISSING_ALL: dict[str, str] = {}


def _modules() -> list[ModuleType]:
    names = pkgutil.walk_packages(personal_assistant.__path__, "personal_assistant.")
    return [personal_assistant, *(importlib.import_module(info.name) for info in names)]


MODULES = _modules()
ERROR_MODULES = [m for m in MODULES if m.__name__.rsplit(".", 1)[-1] == "errors"]


def _subclasses(cls: type[BaseException]) -> set[type[BaseException]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


ERRORS = sorted(
    {root.PersonalAssistantError} | _subclasses(root.PersonalAssistantError),
    key=lambda cls: (cls.__module__, cls.__name__),
)


def _params(*, gaps: bool) -> list[object]:
    params = []
    for cls in ERRORS:
        reason = MISSING_ALL.get(cls.__module__) if gaps else None
        marks = [pytest.mark.xfail(strict=True, reason=f"no __all__ ({reason})")] if reason else []
        params.append(pytest.param(cls, id=f"{cls.__module__}.{cls.__name__}", marks=marks))
    return params


def _drawn(name: str, doc: str | None) -> bool:
    """Whether ``name`` heads a line of a tree drawn in ``doc`` (not merely mentioned)."""
    return re.search(rf"(?m)^ +(?:[│ ]*[├└]── )?{name}\b", doc or "") is not None


def _tree_docs(cls: type[BaseException]) -> list[str | None]:
    public = sys.modules[cls.__module__]
    defining = [m for m in ERROR_MODULES if vars(m).get(cls.__name__) is cls]
    return [root.__doc__, public.__doc__, *(m.__doc__ for m in defining)]


def test_every_module_of_the_package_was_imported() -> None:
    assert len(MODULES) > 50 and root in MODULES


@pytest.mark.parametrize("cls", _params(gaps=True))
def test_every_error_is_listed_in_the_all_of_its_public_module(cls: type) -> None:
    assert cls.__name__ in getattr(sys.modules[cls.__module__], "__all__", ())


@pytest.mark.parametrize("cls", _params(gaps=False))
def test_every_error_is_drawn_in_a_tree(cls: type) -> None:
    assert any(_drawn(cls.__name__, doc) for doc in _tree_docs(cls))


@pytest.mark.parametrize("cls", _params(gaps=False))
def test_every_error_has_a_docstring_and_an_importable_public_module(cls: type) -> None:
    assert (cls.__dict__.get("__doc__") or "").strip(), "a one-line docstring: when it is raised"
    public = importlib.import_module(cls.__module__)
    assert getattr(public, cls.__name__, None) is cls


def test_every_exception_an_error_module_defines_derives_from_the_root() -> None:
    for module in ERROR_MODULES:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__.startswith("personal_assistant"):
                assert issubclass(cls, root.PersonalAssistantError), cls


def test_every_area_root_drawn_in_the_package_tree_derives_from_the_root() -> None:
    areas = re.findall(r"(?m)^ +[├└]── (\w+) +(personal_assistant[\w.]+)$", root.__doc__ or "")
    assert {name for name, _ in areas} >= {"DatabaseError", "MigrationError", "MonitoringError"}
    for name, module in areas:
        cls = getattr(importlib.import_module(module), name)
        assert root.PersonalAssistantError in cls.__bases__, name
