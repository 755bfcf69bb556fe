"""Health checks, query performance figures, alerts and Prometheus metrics.

The modules here are split by job: pure evaluation (``health``, ``alerts``,
``aggregate``, ``sketch_codec``, ``fingerprint``) takes data and returns frozen
dataclasses or plain dicts; I/O lives in ``db_probe``, ``server_stats``, ``baseline``,
``redis_publish`` and ``webhook``; ``sessions`` holds the blocked and long-running
sessions (its query, its read and its pure evaluation); ``tracker`` times every
statement (an engine hook) on the client, ``server_time`` reads the server's time for
the same statements from ``pg_stat_statements``, ``loop_lag`` measures the event loop's
lag, ``attribution`` (pure) tells a slow query from a slow client with them and
``slow_judge`` runs it each round; ``runtime`` runs the background loops; ``errors``
holds the area's root error (``MonitoringError``) and converts Redis failures. The
HTTP routes are in :mod:`personal_assistant.api.health`.
"""
