"""Named queries the application runs, one module per area."""

from __future__ import annotations

from personal_assistant.database.queries.rbac import list_user_permissions, user_has_permission

__all__ = ["list_user_permissions", "user_has_permission"]
