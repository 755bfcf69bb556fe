"""The operators' health dashboard: a static page served by the app (``GET /dashboard``).

:mod:`.api` holds the router (the page, its files, ``/health/database/migrations``);
:mod:`.demo_traffic` the small permission-check load that ``make run`` starts so a
fresh dashboard shows moving figures. See docs/health-monitoring.md.
"""
