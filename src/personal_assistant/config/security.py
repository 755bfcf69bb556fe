"""Bearer-token protection for the detailed health endpoints.

When ``HEALTH_TOKEN`` is set, ``/health/database/pool``, ``/health/database/performance``,
``/health/database/optimization`` and ``/metrics`` require ``Authorization: Bearer
<token>``. The comparison is constant-time (``hmac.compare_digest`` on digests of equal
length), so response timing does not reveal how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from personal_assistant.config.database import load_settings


class SecuritySettings(BaseSettings):
    """``HEALTH_TOKEN``: unset means the detailed endpoints are open (development)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    health_token: SecretStr | None = None


@lru_cache(maxsize=1)
def load_security_settings() -> SecuritySettings:
    """The process-wide settings, read once."""
    return load_settings(SecuritySettings)


async def get_security_settings() -> SecuritySettings:
    """FastAPI dependency (async: a sync one would cost a thread hop per request)."""
    return load_security_settings()


def token_matches(expected: str, given: str) -> bool:
    """Constant-time comparison, also for tokens of different lengths."""
    want = hashlib.sha256(expected.encode()).digest()
    got = hashlib.sha256(given.encode()).digest()
    return hmac.compare_digest(want, got)


_bearer = HTTPBearer(auto_error=False)


async def require_health_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    settings: Annotated[SecuritySettings, Depends(get_security_settings)],
) -> None:
    """FastAPI dependency: 401 unless the bearer token matches ``HEALTH_TOKEN``."""
    if settings.health_token is None:
        return
    expected = settings.health_token.get_secret_value()
    given = credentials.credentials if credentials is not None else ""
    if not token_matches(expected, given):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="a valid bearer token is required (HEALTH_TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )


HealthTokenDep = Depends(require_health_token)
