"""Bearer-token protection for the detailed health endpoints.

When ``HEALTH_TOKEN`` is set, ``/health/database/pool``, ``/health/database/performance``,
``/health/database/optimization``, ``/health/database/migrations`` and ``/metrics``
require ``Authorization: Bearer <token>``. The comparison is constant-time
(``hmac.compare_digest`` on digests of equal length), so response timing does not
reveal how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from personal_assistant.api.settings import SecuritySettings, get_security_settings


async def security_settings() -> SecuritySettings:
    """FastAPI dependency (async: a sync one would cost a thread hop per request)."""
    return get_security_settings()


SecuritySettingsDep = Annotated[SecuritySettings, Depends(security_settings)]


def token_matches(expected: str, given: str) -> bool:
    """Constant-time comparison, also for tokens of different lengths."""
    want = hashlib.sha256(expected.encode()).digest()
    got = hashlib.sha256(given.encode()).digest()
    return hmac.compare_digest(want, got)


_bearer = HTTPBearer(auto_error=False)


async def require_health_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    settings: SecuritySettingsDep,
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
