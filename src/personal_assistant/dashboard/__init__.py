"""The operators' health dashboard: the static page (``static/``) served at ``/dashboard``.

The route that serves it is :mod:`personal_assistant.api.dashboard`; the small
permission-check load that ``make run`` starts so a fresh dashboard shows moving
figures is :mod:`personal_assistant.service.demo_traffic`. See docs/health-monitoring.md.
"""
