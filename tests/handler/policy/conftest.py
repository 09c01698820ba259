"""Fixtures of the access-policy tests: no user pool, and the committed seed with its callers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from dataapi.models import Role, User
from tests.fixtures.seed import seed
from tests.handler import support
from tests.handler.policy.harness import ANNA, ERIK, NORA, OLLE, PEOPLE, VERA, World

no_cognito = pytest.fixture(autouse=True, name="no_cognito")(support.without_aws)


@pytest.fixture
def world(api_env: str) -> Iterator[World]:
    """The seed, committed, with Cognito subjects for the callers and two more users (vera, olle)."""
    engine = create_engine(api_env)
    with Session(engine) as session, session.begin():
        seed(session)
        for who in (ANNA, ERIK, NORA):
            user = session.get(User, who.id)
            assert user is not None and user.username == who.name
            user.cognito_sub = who.sub
        roles = {role.role: role for role in session.query(Role)}
        for who in (VERA, OLLE):
            session.add(
                User(
                    username=who.name,
                    email=who.email,
                    phone=f"+46 70 100 00 0{who.id}",
                    cognito_sub=who.sub,
                    roles=[roles[r] for r in who.roles],
                )
            )
    world = World(engine)
    for who in PEOPLE:
        assert world.roles_of(who.id) == list(who.roles), who
    yield world
    engine.dispose()
