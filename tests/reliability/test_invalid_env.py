"""Every invalid environment variable stops start-up with an error naming it.

The cases are generated from the settings classes themselves, so a field added later
is covered without touching this file: a value of the wrong type for every typed field,
and one just outside each declared bound. Fields that accept any string (free text,
secrets) have no invalid value and are listed in :data:`FREE_TEXT`.
"""

from __future__ import annotations

import importlib
import pkgutil
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from annotated_types import Ge, Gt, Le
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

import personal_assistant
from personal_assistant.api.settings import SecuritySettings
from personal_assistant.database.settings import DatabaseConfig
from personal_assistant.database.settings_loader import load_settings
from personal_assistant.monitoring.settings import MonitoringSettings
from personal_assistant.optimizer.settings import OptimizerSettings
from personal_assistant.service.settings import ServiceSettings
from tests.reliability.evidence import EVIDENCE, PASSWORD
from tests.reliability.served import app_env, serve

#: Every settings class; the app builds each through the one loader, ``load_settings``.
LOADERS: dict[type[BaseSettings], Callable[[], Any]] = {
    cls: (lambda cls=cls: load_settings(cls))
    for cls in (DatabaseConfig, MonitoringSettings, OptimizerSettings, ServiceSettings)
}
#: Any string is a valid value of these (``HEALTH_TOKEN``: any string is a valid token).
FREE_TEXT = {"redis_key_prefix", "data_dir", "health_token"}
#: URLs taken as plain strings: a wrong one would fail later, without naming the
#: variable. Strict xfail, so fixing one makes this list shrink (now empty).
UNVALIDATED_URLS: set[str] = set()


def env_name(cls: type[BaseSettings], field: str) -> str:
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def _types(annotation: Any) -> set[Any]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return set().union(*(_types(a) for a in args))
    return {typing.get_origin(annotation) or annotation}


def invalid_values(name: str, field: FieldInfo) -> Iterator[str]:
    """Values of ``field`` that must be refused."""
    kinds = _types(field.annotation)
    if name.endswith("url") or name == "replica_urls":
        yield f"mysql://app:{PASSWORD}@db/app"
    if bool in kinds:
        yield "perhaps"
    elif int in kinds or float in kinds:
        yield "soon"
    if typing.Literal in kinds:
        yield "nonsense"
    if list in kinds:
        yield "not-a-json-list"
    for meta in [*field.metadata]:
        if isinstance(meta, Ge | Gt):
            bound = meta.ge if isinstance(meta, Ge) else meta.gt
            yield str(bound - 1)
        if isinstance(meta, Le):
            yield str(meta.le + 1)
        if getattr(meta, "max_length", None):
            yield "x" * (meta.max_length + 1)
        if getattr(meta, "min_length", None) == 1:
            yield ""


def cases() -> Iterator[Any]:
    for cls in LOADERS:
        for name, field in cls.model_fields.items():
            values = list(dict.fromkeys(invalid_values(name, field)))
            if not values and name not in FREE_TEXT:
                values = ["<no invalid value known>"]
            marks = []
            if name in UNVALIDATED_URLS:
                reason = "URL not validated at start-up"
                marks = [pytest.mark.xfail(strict=True, reason=reason)]
            for value in values:
                case_id = f"{env_name(cls, name)}={value[:20]}"
                yield pytest.param(cls, name, value, id=case_id, marks=marks)


@pytest.mark.parametrize(("cls", "field", "value"), list(cases()))
def test_an_invalid_variable_is_named_in_the_start_up_error(
    monkeypatch: pytest.MonkeyPatch, cls: type[BaseSettings], field: str, value: str
) -> None:
    assert value != "<no invalid value known>", f"add {field} to FREE_TEXT or teach invalid_values"
    variable = env_name(cls, field)
    monkeypatch.chdir("/")  # no .env file of the checkout
    monkeypatch.setenv(variable, value)
    with pytest.raises(Exception) as info:
        LOADERS[cls]()
    message = str(info.value)
    EVIDENCE.add(f"error:{variable}", message)
    assert variable in message, message
    assert PASSWORD not in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_POOL_SIZE", "0"),
        ("HEALTH_DB_TIMEOUT", "-1"),
        ("PA_AUTO_MIGRATE", "perhaps"),
        ("HEALTH_TOKEN", ""),  # a Kubernetes secret with a missing key
    ],
)
def test_the_served_app_refuses_to_start_naming_the_variable(
    database_url: str, workdir: Any, variable: str, value: str
) -> None:
    with pytest.raises(RuntimeError) as info:
        serve(workdir, app_env(database_url, **{variable: value}), ready_timeout_s=20)
    message = str(info.value)
    EVIDENCE.add(f"startup:{variable}", message)
    assert "the app exited" in message and variable in message


def _all_settings_classes() -> set[type[BaseSettings]]:
    for module in pkgutil.walk_packages(personal_assistant.__path__, "personal_assistant."):
        importlib.import_module(module.name)
    found: set[type[BaseSettings]] = set()
    todo = list(BaseSettings.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("personal_assistant."):
            found.add(cls)
    return found


def test_every_settings_class_is_covered() -> None:
    assert _all_settings_classes() == {*LOADERS, SecuritySettings}
    # SecuritySettings has one field, HEALTH_TOKEN: any string is a valid token.
    assert list(SecuritySettings.model_fields) == ["health_token"]
