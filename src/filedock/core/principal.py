"""Who is calling: built by an authenticator, consumed by every core service."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN_ROLE = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: str
    email: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE

    def may_access(self, owner_id: str) -> bool:
        """Owners and admins, nobody else."""
        return self.is_admin or self.user_id == owner_id
