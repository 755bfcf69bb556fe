"""Who may read the detailed endpoints and who may write: secure by default.

Spring Boot Actuator's stance: the details of a running service are not public.

- ``HEALTH_TOKEN`` set: ``/health/database/pool``, ``/performance``, ``/optimization``,
  ``/migrations`` and ``/metrics`` need ``Authorization: Bearer <token>``, and so do the
  database name and server version in ``/health/database``.
- ``HEALTH_TOKEN`` unset: the same answer **local clients only** (a loopback peer whose
  request carries no ``Forwarded``/``X-Forwarded-For``/``X-Real-IP`` header: a request
  relayed by a proxy on the same host is not local), so ``make run`` stays friendly;
  others get 401, and start-up logs a warning saying so.
- Writes (``POST .../performance/baseline``) always need the token: with none
  configured they answer 403.

The comparison is constant-time (``hmac.compare_digest`` on digests of equal length),
so response timing does not reveal how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from personal_assistant.api.settings import SecuritySettings, get_security_settings

logger = logging.getLogger(__name__)

#: Headers a proxy adds; a request carrying one is never treated as local.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


async def security_settings() -> SecuritySettings:
    """FastAPI dependency (async: a sync one would cost a thread hop per request)."""
    return get_security_settings()


SecuritySettingsDep = Annotated[SecuritySettings, Depends(security_settings)]
_bearer = HTTPBearer(auto_error=False)
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def token_matches(expected: str, given: str) -> bool:
    """Constant-time comparison, also for tokens of different lengths."""
    want = hashlib.sha256(expected.encode()).digest()
    got = hashlib.sha256(given.encode()).digest()
    return hmac.compare_digest(want, got)


def is_local(request: Request) -> bool:
    """A loopback peer that no proxy relayed (forwarded headers are never trusted here)."""
    if request.client is None or any(h in request.headers for h in FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def may_read_details(
    request: Request, settings: SecuritySettings, credentials: HTTPAuthorizationCredentials | None
) -> bool:
    """Whether this request may see the detailed figures (see the module docstring)."""
    if settings.health_token is None:
        return is_local(request)
    given = credentials.credentials if credentials is not None else ""
    return token_matches(settings.health_token.get_secret_value(), given)


async def read_access(request: Request, settings: SecuritySettingsDep) -> bool:
    """FastAPI dependency: ``True`` when the request may see details (never raises).

    ``HTTPBearer`` is called here rather than declared as a dependency: an endpoint
    that answers without a token must not declare the bearer scheme in OpenAPI.
    """
    return may_read_details(request, settings, await _bearer(request))


async def require_health_token(
    request: Request, settings: SecuritySettingsDep, credentials: CredentialsDep
) -> None:
    """FastAPI dependency: 401 unless the request may read the detailed endpoints."""
    if may_read_details(request, settings, credentials):
        return
    detail = (
        "a valid bearer token is required (HEALTH_TOKEN)"
        if settings.health_token is not None
        else "HEALTH_TOKEN is not set, so this endpoint answers local clients only; "
        "set HEALTH_TOKEN and send 'Authorization: Bearer <token>'"
    )
    raise HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def require_write_token(
    request: Request, settings: SecuritySettingsDep, credentials: CredentialsDep
) -> None:
    """FastAPI dependency for writes: the token, always (403 when none is configured)."""
    if settings.health_token is None:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="writes need a token: set HEALTH_TOKEN and send 'Authorization: Bearer <token>'",
        )
    await require_health_token(request, settings, credentials)


def warn_when_open(settings: SecuritySettings) -> None:
    """Say at start-up what an unset ``HEALTH_TOKEN`` means."""
    if settings.health_token is None:
        logger.warning(
            "HEALTH_TOKEN is not set: the detailed health endpoints and /metrics answer "
            "local clients only (loopback, not through a proxy) and writes are refused; "
            "set HEALTH_TOKEN to reach them from elsewhere"
        )


HealthTokenDep = Depends(require_health_token)
WriteTokenDep = Depends(require_write_token)
ReadAccessDep = Annotated[bool, Depends(read_access)]
