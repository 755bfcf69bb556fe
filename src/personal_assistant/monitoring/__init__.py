"""Health checks, query performance figures, alerts and Prometheus metrics.

The modules here are split by job: pure evaluation (``health``, ``alerts``,
``aggregate``, ``sketch_codec``, ``fingerprint``) takes data and returns frozen
dataclasses or plain dicts; I/O lives in ``db_probe``, ``server_stats``, ``baseline``,
``redis_publish`` and ``webhook``; ``sessions`` holds the blocked and long-running
sessions (its query, its read and its pure evaluation); ``tracker`` times every
statement (an engine hook);
``runtime`` runs the background loops; ``errors`` holds the area's root error
(``MonitoringError``) and converts Redis failures. The HTTP routes are in
:mod:`personal_assistant.api.health`.
"""
