"""Permission checks: each one statement, so one round trip on a held connection.

``user_has_permission`` is on every request's hot path: it is an ``EXISTS`` that the
planner answers with three index lookups (``permissions_name_key``, the
``user_roles`` primary key, the ``role_permissions`` primary key) and stops at the
first match. Inactive users have no permissions.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from personal_assistant.database.models.rbac import Permission, RolePermission, User, UserRole

#: Built once: constructing and cache-keying the statement on every call cost more
#: Python time than running it (profiled in bench/rbac_bench.py).
HAS_PERMISSION = select(
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


async def user_has_permission(session: AsyncSession, user_id: int, permission_name: str) -> bool:
    """``True`` when an active user holds ``permission_name`` through any role."""
    params = {"user_id": user_id, "permission_name": permission_name}
    return bool(await session.scalar(HAS_PERMISSION, params))


async def list_user_permissions(session: AsyncSession, user_id: int) -> list[str]:
    """Every permission an active user holds, sorted by name, without duplicates."""
    query = (
        select(Permission.name)
        .distinct()
        .join(RolePermission, RolePermission.permission_id == Permission.id)
        .join(UserRole, UserRole.role_id == RolePermission.role_id)
        .join(User, and_(User.id == UserRole.user_id, User.is_active))
        .where(UserRole.user_id == user_id)
        .order_by(Permission.name)
    )
    return list((await session.scalars(query)).all())
