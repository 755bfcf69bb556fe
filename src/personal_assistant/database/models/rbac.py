"""Role-based access control: users hold roles, roles grant permissions.

Mirrors ``migrations/versions/0001_rbac_schema.sql``: bigint identity keys,
``timestamptz`` timestamps, unique role and permission names, and case-insensitive
unique emails (``users_email_lower_key`` on ``lower(email)``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from personal_assistant.database.models.base import Base

_TS = DateTime(timezone=True)


class User(Base):
    """A person who signs in."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email <> ''", name="users_email_not_blank"),
        Index("users_email_lower_key", func.lower(text("email")), unique=True),
        Index("users_created_at_idx", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    email: Mapped[str] = mapped_column(Text)
    full_name: Mapped[str] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(_TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(_TS, server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(_TS)


class Role(Base):
    """A named bundle of permissions (``admin``, ``editor``...)."""

    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    created_at: Mapped[datetime] = mapped_column(_TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(_TS, server_default=func.now())


class Permission(Base):
    """One action on one resource, named ``resource:action`` (``documents:read``)."""

    __tablename__ = "permissions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    created_at: Mapped[datetime] = mapped_column(_TS, server_default=func.now())


class UserRole(Base):
    """A role granted to a user."""

    __tablename__ = "user_roles"
    __table_args__ = (Index("user_roles_role_id_idx", "role_id"),)

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    granted_at: Mapped[datetime] = mapped_column(_TS, server_default=func.now())


class RolePermission(Base):
    """A permission granted by a role."""

    __tablename__ = "role_permissions"
    __table_args__ = (Index("role_permissions_permission_id_idx", "permission_id"),)

    role_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    permission_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True
    )
    granted_at: Mapped[datetime] = mapped_column(_TS, server_default=func.now())
