"""Permission checks: each one statement, so one round trip on a held connection.

``user_has_permission`` is on every request's hot path: it is an ``EXISTS`` that the
planner answers with three index lookups (``permissions_name_key``, the
``user_roles`` primary key, the ``role_permissions`` primary key) and stops at the
first match. Inactive users have no permissions.

Both queries are :class:`~personal_assistant.database.compiled.CompiledStatement` objects:
built once, and on a read session (``read_session()``, ``ReadSessionDep``) run on the
fast path, one round trip on a warm pool; on any other session they run through it as
ordinary statements, with the same answers.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from personal_assistant.database.compiled import CompiledStatement
from personal_assistant.database.models.rbac import Permission, RolePermission, User, UserRole

HAS_PERMISSION = CompiledStatement(
    select(
        exists(
            select(UserRole.user_id)
            .join(User, and_(User.id == UserRole.user_id, User.is_active))
            .join(RolePermission, RolePermission.role_id == UserRole.role_id)
            .join(Permission, Permission.id == RolePermission.permission_id)
            .where(
                UserRole.user_id == bindparam("user_id"),
                Permission.name == bindparam("permission_name"),
            )
        )
    )
)

USER_PERMISSIONS = CompiledStatement(
    select(Permission.name)
    .distinct()
    .join(RolePermission, RolePermission.permission_id == Permission.id)
    .join(UserRole, UserRole.role_id == RolePermission.role_id)
    .join(User, and_(User.id == UserRole.user_id, User.is_active))
    .where(UserRole.user_id == bindparam("user_id"))
    .order_by(Permission.name)
)


async def user_has_permission(session: AsyncSession, user_id: int, permission_name: str) -> bool:
    """``True`` when an active user holds ``permission_name`` through any role."""
    params = {"user_id": user_id, "permission_name": permission_name}
    return bool(await HAS_PERMISSION.scalar(session, params))


async def list_user_permissions(session: AsyncSession, user_id: int) -> list[str]:
    """Every permission an active user holds, sorted by name, without duplicates."""
    return list(await USER_PERMISSIONS.scalars(session, {"user_id": user_id}))
