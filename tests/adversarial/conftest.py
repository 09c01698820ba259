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

from dataapi.identity import cognito
from dataapi.models import User
from tests.adversarial.support import ANNA, World
from tests.fixtures.seed import seed


@pytest.fixture(autouse=True)
def no_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No user pool or bucket, whatever the machine's environment says; a region as Lambda has."""
    for name in ("COGNITO_USER_POOL_ID", "COGNITO_APP_CLIENT_ID", "FILES_BUCKET", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-north-1")
    cognito.client.cache_clear()
    yield
    cognito.client.cache_clear()


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
