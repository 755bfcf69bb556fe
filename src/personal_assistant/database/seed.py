"""Fill the RBAC schema with realistic synthetic data, fast.

Everything is set-based: the server generates users with ``generate_series`` in
batches (one statement each, so a progress bar can follow) and, in the same statement,
grants roles to exactly the ids that INSERT returned. Nothing travels row by row
between Python and PostgreSQL, which is what makes a million users take seconds
rather than minutes. Names come from small bound arrays, so the data looks real
enough for query plans (skewed role sizes, 5 % inactive users, 15 % never signed in)
without any real person's data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ana", "Ben", "Carla", "Chen", "Dana", "David", "Elena", "Emma",
    "Farid", "Grace", "Hana", "Ivan", "Jamal", "Julia", "Kai", "Lena", "Liam", "Maria",
    "Mateo", "Mei", "Nadia", "Noah", "Olga", "Omar", "Priya", "Quinn", "Rosa", "Sam",
    "Sofia", "Tariq", "Uma", "Victor", "Wei", "Yara", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Banerjee", "Castro", "Dubois", "Eriksen", "Fischer", "Garcia", "Hughes",
    "Ibrahim", "Jensen", "Kowalski", "Lopez", "Martin", "Nakamura", "Okafor", "Petrov",
    "Quispe", "Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Wang", "Xu", "Yilmaz",
    "Zhang",
)  # fmt: skip
DOMAINS = ("example.com", "example.org", "example.net", "mail.example")

RESOURCES = (
    "documents", "calendar", "contacts", "tasks", "notes",
    "reminders", "settings", "billing", "reports", "users",
)  # fmt: skip
ACTIONS = ("read", "write", "delete", "share", "admin")

#: Role -> the actions it gets on every resource it covers (``None``: all resources).
ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "admin": (ACTIONS, None),
    "manager": (("read", "write", "delete", "share"), None),
    "editor": (("read", "write", "share"), ("documents", "calendar", "notes", "tasks")),
    "member": (("read", "write"), ("documents", "calendar", "contacts", "tasks", "notes")),
    "viewer": (("read",), ("documents", "calendar", "notes", "reports")),
    "billing": (("read", "write"), ("billing", "reports")),
    "support": (("read",), ("users", "contacts", "settings")),
}

#: Primary role by bucket of 100: 70 member, 15 viewer, 10 editor, 4 manager, 1 admin.
_PRIMARY_ROLE = """
    CASE WHEN b < 70 THEN 'member' WHEN b < 85 THEN 'viewer' WHEN b < 95 THEN 'editor'
         WHEN b < 99 THEN 'manager' ELSE 'admin' END
"""

INSERT_ROLES = text(
    "INSERT INTO roles (name, description) "
    "SELECT n, 'synthetic role ' || n FROM unnest(CAST(:names AS text[])) AS n "
    "ON CONFLICT (name) DO NOTHING"
)
INSERT_PERMISSIONS = text(
    "INSERT INTO permissions (name, description) "
    "SELECT n, 'may ' || split_part(n, ':', 2) || ' ' || split_part(n, ':', 1) "
    "FROM unnest(CAST(:names AS text[])) AS n ON CONFLICT (name) DO NOTHING"
)
INSERT_GRANTS = text(
    "INSERT INTO role_permissions (role_id, permission_id) "
    "SELECT r.id, p.id "
    "FROM unnest(CAST(:roles AS text[]), CAST(:perms AS text[])) AS g(role, perm) "
    "JOIN roles r ON r.name = g.role JOIN permissions p ON p.name = g.perm "
    "ON CONFLICT DO NOTHING"
)
MAX_USER_ID = text("SELECT coalesce(max(id), 0) FROM users")
#: One statement per batch: the users, then roles for exactly the ids their INSERT
#: returned (identity values need not be contiguous: a failed or concurrent insert
#: leaves gaps, and a range ``low < id <= high`` would then miss or hit other users).
#: Who is inactive is fixed (every 20th user by number, 5 %), so the data set answers
#: the same way on every run; the dates are random.
INSERT_USERS_WITH_ROLES = text(
    f"""
    WITH new_users AS (
        INSERT INTO users (email, full_name, is_active, created_at, updated_at, last_login_at)
        SELECT lower(f) || '.' || lower(l) || '.' || n || '@' || d,
               f || ' ' || l, n % 20 <> 0, ts, ts,
               CASE WHEN r2 < 0.85 THEN ts + (now() - ts) * r2 END
        FROM (
            SELECT :offset + g AS n,
                   (CAST(:first AS text[]))[1 + (g * 7) % cardinality(CAST(:first AS text[]))] AS f,
                   (CAST(:last AS text[]))[1 + (g * 13) % cardinality(CAST(:last AS text[]))] AS l,
                   (CAST(:domains AS text[]))[1 + g % cardinality(CAST(:domains AS text[]))] AS d,
                   random() AS r2,
                   now() - random() * interval '3 years' AS ts
            FROM generate_series(1, :count) AS g
        ) s
        RETURNING id
    ),
    granted AS (
        INSERT INTO user_roles (user_id, role_id)
        SELECT u.id, r.id
        FROM (SELECT id, (id * 2654435761) % 100 AS b FROM new_users) u
        JOIN roles r ON r.name = {_PRIMARY_ROLE}
        UNION ALL
        SELECT u.id, r.id
        FROM new_users u
        JOIN roles r ON r.name = CASE WHEN u.id % 20 = 3 THEN 'support' ELSE 'billing' END
        WHERE u.id % 10 = 3
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM new_users) AS users, (SELECT count(*) FROM granted) AS user_roles
    """
)

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class SeedResult:
    """What a seed run added and how long it took."""

    users: int
    user_roles: int
    seconds: float


def permission_names() -> list[str]:
    return [f"{resource}:{action}" for resource in RESOURCES for action in ACTIONS]


def grants() -> tuple[list[str], list[str]]:
    """Parallel lists (role, permission) of every grant in :data:`ROLES`."""
    roles, perms = [], []
    for role, (actions, resources) in ROLES.items():
        for resource in resources or RESOURCES:
            for action in actions:
                roles.append(role)
                perms.append(f"{resource}:{action}")
    return roles, perms


async def seed_catalog(conn: AsyncConnection) -> None:
    """Roles, permissions and grants; idempotent (``ON CONFLICT DO NOTHING``)."""
    await conn.execute(INSERT_ROLES, {"names": list(ROLES)})
    await conn.execute(INSERT_PERMISSIONS, {"names": permission_names()})
    roles, perms = grants()
    await conn.execute(INSERT_GRANTS, {"roles": roles, "perms": perms})


async def seed_user_batch(conn: AsyncConnection, count: int) -> int:
    """Add ``count`` users and their roles; returns the user_roles rows added.

    Roles go to the ids the users' INSERT returned, in the same statement. The highest
    id so far only numbers the new e-mail addresses, which keeps them unique.
    """
    offset = int(await conn.scalar(MAX_USER_ID) or 0)
    params = {
        "offset": offset,
        "count": count,
        "first": list(FIRST_NAMES),
        "last": list(LAST_NAMES),
        "domains": list(DOMAINS),
    }
    row = (await conn.execute(INSERT_USERS_WITH_ROLES, params)).one()
    return int(row.user_roles)


async def seed(
    engine: AsyncEngine,
    users: int,
    *,
    batch_size: int = 100_000,
    on_progress: ProgressCallback | None = None,
) -> SeedResult:
    """Add ``users`` synthetic users (plus the role catalog), one batch per transaction.

    Statistics are refreshed at the end so the planner sees the new sizes at once.
    """
    start = time.monotonic()
    async with engine.begin() as conn:
        await seed_catalog(conn)
    added = granted = 0
    while added < users:
        count = min(batch_size, users - added)
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL synchronous_commit = off"))
            granted += await seed_user_batch(conn, count)
        added += count
        if on_progress is not None:
            on_progress(count)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE users, user_roles, roles, permissions, role_permissions"))
    return SeedResult(added, granted, time.monotonic() - start)
