"""The Personal Assistant FastAPI service."""
