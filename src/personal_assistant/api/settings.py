"""HTTP settings: ``HEALTH_TOKEN``, the bearer token of the detailed endpoints.

Unset means the detailed endpoints are open (development only; see
docs/health-monitoring.md).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from personal_assistant.database.settings_loader import load_settings


class SecuritySettings(BaseSettings):
    """``HEALTH_TOKEN``: unset means the detailed endpoints are open (development)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    health_token: SecretStr | None = None


@lru_cache(maxsize=1)
def get_security_settings() -> SecuritySettings:
    """The process-wide settings, read once (tests call ``cache_clear()``)."""
    return load_settings(SecuritySettings)
