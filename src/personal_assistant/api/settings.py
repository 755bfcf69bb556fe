"""HTTP settings: ``HEALTH_TOKEN``, the bearer token of the detailed endpoints.

Unset means the detailed endpoints answer local clients only (loopback, not through a
proxy) and writes answer to no one; see :mod:`personal_assistant.api.security`. An
empty value is refused at start-up: it is what a Kubernetes secret with a missing key
gives, and an empty token must never mean "anyone may read".
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from personal_assistant.database.settings_loader import load_settings, raw_text


class SecuritySettings(BaseSettings):
    """``HEALTH_TOKEN``: unset means local clients only (development, ``make run``)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    health_token: SecretStr | None = None

    @field_validator("health_token", mode="before")
    @classmethod
    def _refuse_empty(cls, value: object) -> object:
        if value is None:
            return None
        raw = raw_text(value)
        if raw is None or not raw.strip():
            raise ValueError(
                "is empty; set a token, or unset HEALTH_TOKEN to allow local clients only"
            )
        return value


@lru_cache(maxsize=1)
def get_security_settings() -> SecuritySettings:
    """The process-wide settings, read once (tests call ``cache_clear()``)."""
    return load_settings(SecuritySettings)
