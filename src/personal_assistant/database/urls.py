"""Database URLs: parsing, masking, and the one place that decides where each part connects.

Every URL the project accepts (``DATABASE_URL``, ``DATABASE_MIGRATION_URL``,
``DATABASE_REPLICA_URLS``, ``--database-url``) is parsed here and rewritten to the
asyncpg driver; every URL it shows (logs, errors, endpoints) is masked here.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

#: URL schemes we accept; all are rewritten to the asyncpg driver.
ACCEPTED_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")


def normalize_database_url(raw: str | URL) -> URL:
    """Parse ``raw`` and return it as a ``postgresql+asyncpg`` URL.

    Raises ``ValueError`` with a message that never contains the password.
    """
    if isinstance(raw, URL):
        raw = raw.render_as_string(hide_password=False)
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise ValueError(
            "is not a database URL; expected postgresql://user:password@host:port/dbname"
        ) from None
    if url.drivername not in ACCEPTED_SCHEMES:
        raise ValueError(
            f"has unknown scheme {url.drivername!r}; accepted: {', '.join(ACCEPTED_SCHEMES)}"
        )
    return url.set(drivername="postgresql+asyncpg")


def split_url_list(raw: str) -> list[URL]:
    """A comma-separated list of URLs (``DATABASE_REPLICA_URLS``), each normalized.

    Raises ``ValueError`` naming the entry (``entry 2 is empty``), never its password.
    """
    urls = []
    for number, part in enumerate(raw.split(","), start=1):
        if not part.strip():
            raise ValueError(f"entry {number} is empty")
        try:
            urls.append(normalize_database_url(part))
        except ValueError as exc:
            raise ValueError(f"entry {number} {exc}") from None
    return urls


def mask_url(url: URL | str) -> str:
    """Render ``url`` with its password replaced by ``***``."""
    parsed = url if isinstance(url, URL) else make_url(url)
    return parsed.render_as_string(hide_password=True)
