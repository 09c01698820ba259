"""The first Admin of a new deployment (`make bootstrap-admin`): the roles the policy names, then a
Cognito user and its `User` row with the Admin role, through the same write path as the API.
Safe to repeat: existing roles are kept, and an existing user is a 409.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataapi import writes
from dataapi.identity.policy import default_policy
from dataapi.models import Role
from dataapi.ops.directory import CognitoUsers, with_directory
from dataapi.registry import default_registry
from dataapi.settings import get_settings


def bootstrap_admin(email: str, password: str, username: str, phone: str) -> dict[str, Any]:
    policy = default_policy()
    request = {
        "model_name": "User",
        "reference": "Admin",
        "object_values": {
            "username": username,
            "email": email,
            "phone": phone,
            "password": password,
            "roles": {
                "action": "link",
                "values": {"Role": {"query_filters": {"role": "Admin"}, "link_type": "first_link"}},
            },
        },
        "requested_data": ["id", "username", "email", {"roles": ["role"]}],
    }
    plan = writes.plan_create(request, default_registry(), get_settings())

    def create(session: Session, users: CognitoUsers) -> Any:
        present = set(session.scalars(select(Role.role)))
        roles = policy.roles()
        for name in policy.spec.principals:  # in the policy's order
            if name in roles and name not in present:
                session.add(Role(role=name, key=name.lower()))
        session.flush()
        return plan.run(session, actor="bootstrap", auth=None, hooks={"User": users})

    result = with_directory(create, policy.spec.default_roles)
    return {"status": result.status, "message": result.message, "body": result.body}
