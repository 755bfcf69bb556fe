"""The one loader every area's settings go through: errors that name the variable.

pydantic reports a bad value as ``pool_size: Input should be greater than or equal
to 1``; an operator reading a crash-looping pod needs ``DATABASE_POOL_SIZE='0' is
invalid: ... (allowed: >=1 and <=1000)``. :func:`load_settings` builds any
``BaseSettings`` class and turns its validation errors into one
:class:`~personal_assistant.errors.ConfigurationError` in that form. Values of secret
fields (``SecretStr``, URLs, tokens) are never echoed: they may hold passwords.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from annotated_types import Ge, Gt, Le, Lt
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsError

from personal_assistant.errors import ConfigurationError

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

#: Field names that may hold a secret even when typed as plain text.
_SECRET_WORDS = ("url", "token", "password", "secret")


def raw_text(value: object) -> str | None:
    """A setting's raw text for a ``mode="before"`` validator; ``None`` when unset or empty.

    Secrets arrive as ``SecretStr`` when passed in code and as ``str`` from the
    environment; validators check the text either way and never echo it.
    """
    if value is None:
        return None
    raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return raw if raw != "" else None


def env_name(cls: type[BaseSettings], field_name: str) -> str:
    """The environment variable a field is read from, e.g. ``DATABASE_POOL_SIZE``."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    return f"{prefix}{field_name}".upper()


def _is_secret(name: str, field: FieldInfo | None) -> bool:
    if field is not None and SecretStr in _annotation_types(field.annotation):
        return True
    return any(word in name for word in _SECRET_WORDS)


def _annotation_types(annotation: Any) -> tuple[Any, ...]:
    args = getattr(annotation, "__args__", ())
    return (annotation, *args, *(a for arg in args for a in getattr(arg, "__args__", ())))


def allowed_values(field: FieldInfo | None) -> str:
    """Describe what a field accepts, from its declared bounds (``>=1 and <=1000``)."""
    if field is None:
        return "see docs/configuration.md"
    if field.annotation is bool:
        return "true or false"
    low = high = None
    for meta in field.metadata:
        bound = getattr(meta, "ge", None), getattr(meta, "gt", None)
        if isinstance(meta, Ge | Gt):
            low = f">={bound[0]}" if isinstance(meta, Ge) else f">{bound[1]}"
        if isinstance(meta, Le | Lt):
            high = f"<={meta.le}" if isinstance(meta, Le) else f"<{meta.lt}"
    if low and high:
        return f"{low} and {high}"
    return low or high or str(field.description or "see docs/configuration.md")


def settings_error(
    cls: type[BaseSettings], exc: ValidationError, env: Mapping[str, str]
) -> ConfigurationError:
    """One readable error naming each invalid variable, its value (unless secret) and range."""
    lines = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "?"
        field = cls.model_fields.get(name)
        var = env_name(cls, name)
        shown = "<hidden>" if _is_secret(name, field) else repr(env.get(var, ""))
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{var}={shown} is invalid: {msg} (allowed: {allowed_values(field)})")
    return ConfigurationError("; ".join(lines))


def load_settings(cls: type[SettingsT], **overrides: Any) -> SettingsT:
    """Build ``cls`` from the environment (and ``.env``), or raise ``ConfigurationError``."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise settings_error(cls, exc, os.environ) from None
    except SettingsError as exc:  # e.g. a list variable that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = env_name(cls, field.group(1)) if field else cls.__name__
        raise ConfigurationError(f"{name} is invalid: {exc}") from None
