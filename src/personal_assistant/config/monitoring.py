"""The seed's public face for the health router (``/health...``, ``/metrics``).

``app.include_router(router)`` mounts liveness, readiness, database, pool,
performance and metrics endpoints; the routes live in
:mod:`personal_assistant.api.health` (and the rest of the HTTP layer in
:mod:`personal_assistant.api`). Nothing inside the package imports this module.
"""

from __future__ import annotations

from personal_assistant.api.deps import get_pending_check, get_runtime
from personal_assistant.api.health import router
from personal_assistant.monitoring.settings import MonitoringSettings, get_monitoring_settings

__all__ = [
    "MonitoringSettings",
    "get_monitoring_settings",
    "get_pending_check",
    "get_runtime",
    "router",
]
