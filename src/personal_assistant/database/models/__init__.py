"""SQLAlchemy models of the application schema (the migrations own the DDL)."""

from __future__ import annotations

from personal_assistant.database.models.base import Base
from personal_assistant.database.models.rbac import Permission, Role, RolePermission, User, UserRole

__all__ = ["Base", "Permission", "Role", "RolePermission", "User", "UserRole"]
