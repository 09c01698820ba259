"""Fixtures of the adversarial tier: the seed committed to a fresh database, and the handlers.

Every reproducer of a hardening finding is a test here: hostile or broken input goes through the
Lambda handlers in-process (API Gateway REST events, as tests/handler sends them) against the
real PostgreSQL the test session starts, and the next request must still be answered correctly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from dataapi.models import User
from tests.adversarial.support import ANNA, World
from tests.fixtures.seed import seed
from tests.handler import support

no_aws = pytest.fixture(autouse=True, name="no_aws")(support.without_aws)


@pytest.fixture
def world(api_env: str) -> Iterator[World]:
    """The seed (tests/fixtures/seed.py), committed; anna (a Buyer) gets a Cognito subject."""
    engine = create_engine(api_env)
    with Session(engine) as session, session.begin():
        seed(session)
        user = session.get(User, ANNA.id)
        assert user is not None
        user.cognito_sub = ANNA.sub
    yield World(engine)
    engine.dispose()
