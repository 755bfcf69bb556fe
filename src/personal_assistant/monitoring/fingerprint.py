"""Statement fingerprints: one stable id and one display text per statement shape.

pglast (libpg_query) gives both: ``fingerprint`` ignores constants and parameter
numbers, so ``WHERE id = 1`` and ``WHERE id = $1`` share an id, and ``normalize``
replaces every constant with ``$n``, so no literal (a password in ``ALTER ROLE``, an
e-mail in a ``WHERE``) reaches a response body, a log line or a metric label. Results
are cached per SQL string: SQLAlchemy sends the same text again and again, and the
parse (~4 µs) must stay off the hot path of every query.

pglast's fingerprint ignores comments while ``normalize`` keeps them, so a statement
tagged as the project's own (``/* pa:monitoring */ SELECT …``, see
:mod:`.own_statements`) would share its id with the same statement untagged; its id is
derived apart, so the monitoring's reads never mix with the application's figures.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from pglast.parser import ParseError, fingerprint, normalize

from personal_assistant.monitoring.own_statements import is_own

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
        key = StatementKey(fingerprint(sql), _display(normalize(sql)))
    except ParseError:
        # Not PostgreSQL grammar pglast knows (or not SQL at all): hash the redacted
        # text so equal shapes still group, and never show the literals.
        safe = _display(redact(sql))
        return StatementKey(_digest(safe), safe)
    if is_own(key.text):
        return StatementKey(_digest(f"own:{key.fingerprint}"), key.text)
    return key


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
