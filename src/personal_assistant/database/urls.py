"""Database URLs: parsing, masking, and the one place that decides where each part connects.

Every URL the project accepts (``DATABASE_URL``, ``DATABASE_MIGRATION_URL``,
``DATABASE_REPLICA_URLS``, ``--database-url``) is parsed here and rewritten to the
asyncpg driver; every URL it shows (logs, errors, endpoints) is masked here.

**Several hosts.** A URL may name several hosts, in libpq's form
(``postgresql://app@db1:5432,db2:5432/app?target_session_attrs=read-write``) or in
SQLAlchemy's (``postgresql://app@/app?host=db1:5432&host=db2:5432``). Both parse to
SQLAlchemy's form (its ``make_url`` cannot read the first); :func:`url_hosts` lists
them, and :func:`libpq_url` renders the first form again for asyncpg, which tries the
hosts in order and keeps the first that matches ``target_session_attrs``.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

#: URL schemes we accept; all are rewritten to the asyncpg driver.
ACCEPTED_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")

#: What the primary's URL asks of a host when it names several and says nothing:
#: the one that accepts writes (libpq's default, ``any``, would take the first that answers).
PRIMARY_SESSION_ATTRS = "read-write"
#: The same for a replica entry naming several hosts: a standby if one answers.
REPLICA_SESSION_ATTRS = "prefer-standby"

#: scheme://[user[:password]@]hosts[/database][?query], split the way SQLAlchemy's own
#: pattern splits it (the password may hold anything but ``@``).
_AUTHORITY = re.compile(
    r"(?P<head>[\w+]+://(?:[^:/@]*(?::[^@]*)?@)?)(?P<hosts>[^/?]*)(?P<tail>.*)", re.DOTALL
)
_HOST_ENTRY = re.compile(r"(?:\[[^\]/?]+\]|[^\[\]:/?,]+)(?::\d{1,5})?")
_NEW_URL = re.compile(r"\s*[\w+]+://")
_PLACEHOLDER = "pa-hosts.invalid"


def _split_hosts(raw: str) -> tuple[str, list[str]]:
    """``raw`` without the hosts of its authority, and those hosts, when it has several."""
    match = _AUTHORITY.fullmatch(raw)
    if match is None or "," not in match["hosts"]:
        return raw, []
    hosts = match["hosts"].split(",")
    for number, host in enumerate(hosts, start=1):
        if not _HOST_ENTRY.fullmatch(host):
            raise ValueError(f"has an invalid host list: host {number} is {host or 'empty'!r}")
    return match["head"] + match["tail"], hosts


def _parse(raw: str) -> URL:
    """``make_url`` that also reads libpq's host list (as ``?host=`` pairs)."""
    text, hosts = _split_hosts(raw.strip())
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ValueError(
            "is not a database URL; expected postgresql://user:password@host:port/dbname"
        ) from None
    if hosts:
        if "host" in url.query:
            raise ValueError("names its hosts twice (in the address and as ?host=)")
        url = url.update_query_pairs([("host", host) for host in hosts], append=True)
    return url


def normalize_database_url(raw: str | URL) -> URL:
    """Parse ``raw`` and return it as a ``postgresql+asyncpg`` URL.

    Raises ``ValueError`` with a message that never contains the password.
    """
    url = raw if isinstance(raw, URL) else _parse(raw)
    if url.drivername not in ACCEPTED_SCHEMES:
        raise ValueError(
            f"has unknown scheme {url.drivername!r}; accepted: {', '.join(ACCEPTED_SCHEMES)}"
        )
    return url.set(drivername="postgresql+asyncpg")


def url_hosts(url: URL) -> tuple[str, ...]:
    """The hosts ``url`` names, as ``host:port`` (or a socket directory), in order."""
    listed = url.query.get("host")
    if isinstance(listed, tuple):
        return listed
    if listed:
        return (listed,)
    if url.host is None:
        return ()
    host = f"[{url.host}]" if ":" in url.host else url.host
    return (f"{host}:{url.port}" if url.port else host,)


def is_multi_host(url: URL) -> bool:
    return len(url_hosts(url)) > 1


def with_session_attrs(url: URL, attrs: str) -> URL:
    """``url`` asking for ``target_session_attrs=attrs`` when it names several hosts
    and does not say which one it wants."""
    if not is_multi_host(url) or "target_session_attrs" in url.query:
        return url
    return url.update_query_dict({"target_session_attrs": attrs})


def libpq_url(url: URL, *, hide_password: bool) -> str:
    """``url`` rendered with its hosts in the authority (``h1:5432,h2:5432``).

    That is the form asyncpg (and libpq) read; SQLAlchemy's ``?host=`` pairs would be
    cut to the last one by asyncpg's parser.
    """
    hosts = url_hosts(url)
    if len(hosts) < 2:
        return url.render_as_string(hide_password=hide_password)
    single = url.difference_update_query(["host"]).set(host=_PLACEHOLDER, port=None)
    return single.render_as_string(hide_password=hide_password).replace(
        _PLACEHOLDER, ",".join(hosts), 1
    )


def split_url_list(raw: str) -> list[URL]:
    """A comma-separated list of URLs (``DATABASE_REPLICA_URLS``), each normalized.

    A comma followed by something other than a new ``scheme://`` continues the host
    list of the URL before it (``postgresql://u@r1:5432,r2:5432/app``). Raises
    ``ValueError`` naming the entry (``entry 2 is empty``), never its password.
    """
    entries: list[str] = []
    for part in raw.split(","):
        if entries and entries[-1].strip() and part.strip() and not _NEW_URL.match(part):
            entries[-1] += "," + part
        else:
            entries.append(part)
    urls = []
    for number, entry in enumerate(entries, start=1):
        if not entry.strip():
            raise ValueError(f"entry {number} is empty")
        try:
            urls.append(normalize_database_url(entry))
        except ValueError as exc:
            raise ValueError(f"entry {number} {exc}") from None
    return urls


def mask_url(url: URL | str) -> str:
    """Render ``url`` with its password replaced by ``***``."""
    return libpq_url(url if isinstance(url, URL) else _parse(url), hide_password=True)
