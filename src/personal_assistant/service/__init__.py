"""What the running service does around its HTTP routes: its ``PA_*`` settings, the
start-up work (migrations, demo data) and the demo traffic that makes a fresh
dashboard move. The app (:mod:`apps.fastapi_app.main`) and the HTTP layer
(:mod:`personal_assistant.api`) call it; it calls the database and migrations areas.
"""
