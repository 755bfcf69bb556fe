"""Everything the suite saw, kept so one test can grep it for the database password.

Served apps' logs (uvicorn, the app and SQLAlchemy at DEBUG), every HTTP response body
the load generator and the tests received, every in-process log record and every error
message the tests caught are added here; ``test_secrets`` fails if the password of the
URLs the tests configured appears anywhere in it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

#: The password put in every DATABASE_URL of this package. The test clusters use trust
#: authentication, so the server ignores it, yet it flows through every layer of the
#: app's configuration: exactly what must never reach a log, an error or a response.
PASSWORD = "pw-R3liab1lity-S3cret-7f3a"


def with_password(url: str) -> str:
    """``postgresql://user@host/db`` -> ``postgresql://user:PASSWORD@host/db``."""
    scheme, _, rest = url.partition("://")
    user, _, location = rest.partition("@")
    return f"{scheme}://{user}:{PASSWORD}@{location}"


@dataclass
class Evidence:
    """Texts produced during the run, by source."""

    texts: list[tuple[str, str]] = field(default_factory=list)

    def add(self, source: str, text: str) -> None:
        self.texts.append((source, text))

    def leaks(self, secret: str) -> list[str]:
        """Sources whose text contains ``secret`` (the text itself is not repeated)."""
        return [source for source, text in self.texts if secret in text]

    @property
    def size(self) -> int:
        return sum(len(text) for _, text in self.texts)


EVIDENCE = Evidence()


class EvidenceHandler(logging.Handler):
    """Formats every record (traceback included) into :data:`EVIDENCE`."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        EVIDENCE.add(f"log:{record.name}", self.format(record))
