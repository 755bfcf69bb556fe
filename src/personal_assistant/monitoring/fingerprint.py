"""Statement fingerprints: one stable id and one display text per statement shape.

pglast (libpg_query) gives both: ``fingerprint`` ignores constants and parameter
numbers, so ``WHERE id = 1`` and ``WHERE id = $1`` share an id, and ``normalize``
replaces every constant with ``$n``, so no literal (a password in ``ALTER ROLE``, an
e-mail in a ``WHERE``) reaches a response body, a log line or a metric label. Results
are cached per SQL string: SQLAlchemy sends the same text again and again, and the
parse (~4 µs) must stay off the hot path of every query.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from pglast.parser import ParseError, fingerprint, normalize

#: Longest display text kept; the fingerprint identifies the full statement.
MAX_TEXT = 200
#: Distinct SQL strings whose fingerprint is remembered.
CACHE_SIZE = 4096

_LITERALS = re.compile(r"'(?:[^']|'')*'|\$\w*\$.*?\$\w*\$|\b\d+(?:\.\d+)?\b", re.DOTALL)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class StatementKey:
    fingerprint: str
    text: str


def redact(sql: str) -> str:
    """Literals replaced by ``?``: the fallback when pglast cannot parse ``sql``."""
    return _LITERALS.sub("?", sql)


def _display(sql: str) -> str:
    text = _SPACES.sub(" ", sql).strip()
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


@lru_cache(maxsize=CACHE_SIZE)
def statement_key(sql: str) -> StatementKey:
    """Fingerprint and parameter-free display text of ``sql`` (cached)."""
    try:
        return StatementKey(fingerprint(sql), _display(normalize(sql)))
    except ParseError:
        # Not PostgreSQL grammar pglast knows (or not SQL at all): hash the redacted
        # text so equal shapes still group, and never show the literals.
        safe = _display(redact(sql))
        digest = hashlib.blake2b(safe.encode(), digest_size=8).hexdigest()
        return StatementKey(digest, safe)
