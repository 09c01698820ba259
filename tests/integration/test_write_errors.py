"""Write failures (docs/contract.md §2, §4.5): SQLSTATE -> typed errors through real statements, the retry of
serialization failures and deadlocks, and whole-batch atomicity with real commits.

Database errors leave the service functions as SQLAlchemy `DBAPIError`s; the HTTP edge maps them
with `dataapi.db.sqlstate.translate`, so these tests do the same and check what a client would see.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dataapi.db import engine as dbmod
from dataapi.db.engine import EXTERNAL_CALL, run_in_transaction
from dataapi.db.sqlstate import translate
from dataapi.errors import ApiError, LimitExceeded, NotFound, UnknownField
from dataapi.registry import default_registry
from dataapi.result import Result
from dataapi.settings import Settings, get_settings
from tests.support.engine import create, delete, update

pytestmark = pytest.mark.db

ACTOR = "clerk"
LEAKS = ("pg8000", "INSERT", "UPDATE", "DELETE", "SELECT", "VALUES", "%s", "Traceback", "psycopg")


def as_http(exc: DBAPIError) -> ApiError:
    """The domain error the API answers for a database failure (dataapi.http maps it so)."""
    return translate(exc, default_registry().constraints)


def _committed(operation, raw, actor):
    """The write as one real transaction (commit or rollback), with no policy: the engine alone."""
    from dataapi.db.engine import run_in_transaction
    from dataapi.registry import default_registry
    from dataapi.settings import get_settings

    return run_in_transaction(
        lambda session: operation(session, raw, actor, default_registry(), get_settings())
    )


def create_items(raw, actor):
    return _committed(create, raw, actor)


def update_items(raw, actor):
    return _committed(update, raw, actor)


def delete_items(raw, actor):
    return _committed(delete, raw, actor)


def call(service: Callable[..., Result], session: Session, raw: Any) -> Result:
    return service(session, raw, ACTOR, default_registry(), Settings())


def db_error(session: Session, service: Callable[..., Result], raw: Any) -> tuple[ApiError, DBAPIError]:
    """Run a write that the database refuses; roll the test's savepoint back like the request would."""
    with pytest.raises(DBAPIError) as info:
        call(service, session, raw)
    session.rollback()
    return as_http(info.value), info.value


def assert_no_leaks(err: ApiError, *secrets: str) -> None:
    for text_ in (err.message, err.server_message):
        assert text_
        for leak in (*LEAKS, *secrets):
            assert leak not in text_, (leak, text_)


def scalar(session: Session | Engine, sql: str, **params: Any) -> Any:
    if isinstance(session, Engine):
        with session.connect() as conn:
            return conn.execute(text(sql), params).scalar_one()
    return session.execute(text(sql), params).scalar_one()


def new_user(username: str, email: str) -> dict:
    return {
        "model_name": "User",
        "object_values": {"username": username, "email": email, "phone": "+46 70 0"},
    }


# ---- SQLSTATE -> typed errors through real statements ------------------------------------------


def test_duplicate_email_on_create_is_409_naming_field_and_value(db_session):
    err, _ = db_error(db_session, create, new_user("anna2", "anna@beyo.se"))
    assert err.status == 409
    assert err.message == "The value 'anna@beyo.se' for field 'email' already exists."
    assert "UniqueViolation" in err.server_message
    assert "field=email" in err.server_message
    assert_no_leaks(err, "anna2", "+46 70 0")
    assert scalar(db_session, 'SELECT count(*) FROM "User"') == 4


def test_duplicate_email_on_update_is_409_on_both_paths(db_session):
    plain = {
        "model_name": "User",
        "query_filters": {"username": "erik"},
        "update_type": "first_match",
        "object_values": {"email": "anna@beyo.se"},
    }
    err, _ = db_error(db_session, update, plain)  # set-based UPDATE
    assert (err.status, err.message) == (409, "The value 'anna@beyo.se' for field 'email' already exists.")

    with_action = {
        **plain,
        "object_values": {
            "email": "anna@beyo.se",
            "roles": {
                "action": "link",
                "values": {"Role": {"query_filters": {"id": 1}, "link_type": "first_link"}},
            },
        },
    }
    err, _ = db_error(db_session, update, with_action)  # ORM unit of work
    assert (err.status, err.message) == (409, "The value 'anna@beyo.se' for field 'email' already exists.")
    assert scalar(db_session, 'SELECT email FROM "User" WHERE id = 3') == "erik@example.com"


def test_duplicate_username_within_one_list_is_409(db_session):
    raw = {
        "model_name": "User",
        "object_values": [
            {"username": "david", "email": "david@example.com", "phone": "1"},
            {"username": "david", "email": "david2@example.com", "phone": "2"},
        ],
    }
    err, _ = db_error(db_session, create, raw)
    assert (err.status, err.message) == (409, "The value 'david' for field 'username' already exists.")
    assert scalar(db_session, 'SELECT count(*) FROM "User"') == 4


def refused_anywhere(session: Session, service: Callable[..., Result], raw: Any) -> ApiError:
    """The error a client gets, whether the engine refuses the value before SQL or the database does."""
    try:
        call(service, session, raw)
    except ApiError as exc:
        return exc
    except DBAPIError as exc:
        session.rollback()
        return as_http(exc)
    raise AssertionError("the write was accepted")


def test_string_longer_than_its_column_is_400(db_session):
    too_long = "In-Transit " * 8  # 88 characters; Item.state is VARCHAR(80)
    err = refused_anywhere(db_session, create, {"model_name": "Item", "object_values": {"state": too_long}})
    assert err.status == 400
    assert_no_leaks(err, too_long.strip())
    assert scalar(db_session, 'SELECT count(*) FROM "Item"') == 12


def test_string_longer_than_its_column_names_the_field(db_session):
    """docs/contract.md §2, §4.4: a value is validated against its column type; a 400 names the field."""
    err = refused_anywhere(db_session, create, {"model_name": "Item", "object_values": {"state": "x" * 81}})
    assert err.status == 400
    assert "'state'" in err.message
    assert "field=state" in err.server_message


def test_a_data_error_from_the_database_is_400(db_session):
    """22001 raised by PostgreSQL itself (a statement the engine did not check)."""
    with pytest.raises(DBAPIError) as info:
        db_session.execute(text('UPDATE "Item" SET state = :s WHERE id = 1'), {"s": "x" * 81})
    db_session.rollback()
    assert info.value.orig.args[0]["C"] == "22001"
    err = as_http(info.value)
    assert err.status == 400
    assert "DataError sqlstate=22001" in err.server_message
    assert_no_leaks(err, "x" * 81)
    with pytest.raises(DBAPIError) as info:
        db_session.execute(text('UPDATE "Item" SET valuation = valuation * 1000000 WHERE id = 8'))
    db_session.rollback()
    assert info.value.orig.args[0]["C"] == "22003"
    assert as_http(info.value).status == 400


def test_integer_out_of_range_is_400(db_session):
    raw = {
        "model_name": "Item",
        "query_filters": {"id": 1},
        "update_type": "first_match",
        "object_values": {"purchased_price": 3_000_000_000},
    }
    err = refused_anywhere(db_session, update, raw)
    assert err.status == 400
    assert_no_leaks(err)
    assert scalar(db_session, 'SELECT purchased_price FROM "Item" WHERE id = 1') == 1200


@pytest.mark.parametrize("how", ["create", "update"])
def test_foreign_key_to_a_missing_row_is_409(db_session, how):
    if how == "create":
        raw: dict = {"model_name": "Item", "object_values": {"article_number": "2601-900", "dealer_id": 999}}
        service = create
    else:
        raw = {
            "model_name": "Item",
            "query_filters": {"id": 9},
            "update_type": "first_match",
            "object_values": {"dealer_id": 999},
        }
        service = update
    err, exc = db_error(db_session, service, raw)
    assert exc.orig.args[0]["C"] == "23503"
    assert err.status == 409
    assert "'dealer_id'" in err.message
    assert "999" in err.message
    assert "ForeignKeyViolation field=dealer_id" in err.server_message
    assert_no_leaks(err)
    assert (
        scalar(
            db_session, "SELECT count(*) FROM \"Item\" WHERE dealer_id = 999 OR article_number = '2601-900'"
        )
        == 0
    )


def test_blank_required_value_on_update_is_400_before_any_statement(db_session):
    for value in ("", None):
        with pytest.raises(ApiError) as info:
            call(
                update,
                db_session,
                {
                    "model_name": "User",
                    "query_filters": {"id": 2},
                    "update_type": "first_match",
                    "object_values": {"username": value},
                },
            )
        assert info.value.status == 400
        assert info.value.message == "'username' cannot be empty."
    assert scalar(db_session, 'SELECT username FROM "User" WHERE id = 2') == "anna"


def _fabricated(code: str, invalidated: bool = False) -> DBAPIError:
    orig = Exception({"S": "ERROR", "C": code, "M": "could not serialize access", "n": ""})
    return DBAPIError(
        'UPDATE "Item" SET state=%s', ("secret-param",), orig, connection_invalidated=invalidated
    )


@pytest.mark.parametrize(
    ("code", "invalidated", "status", "detail"),
    [
        ("40001", False, 503, "sqlstate=40001"),
        ("40P01", False, 503, "sqlstate=40P01"),
        ("57014", False, 503, "StatementTimeout"),
        ("08006", False, 503, "DatabaseUnavailable"),
        ("53300", False, 503, "DatabaseUnavailable"),
        ("40001", True, 503, "DatabaseUnavailable"),
        ("XX000", False, 500, "InternalError"),
        ("42P01", False, 500, "InternalError"),
    ],
)
def test_translate_maps_sqlstate_classes(code, invalidated, status, detail):
    err = as_http(_fabricated(code, invalidated))
    assert err.status == status
    assert detail in err.server_message
    assert_no_leaks(err, "secret-param", "could not serialize")


# ---- run_in_transaction: retry once on 40001 / 40P01 --------------------------------------------


class FakeSession:
    def __init__(self) -> None:
        self.info: dict = {}


@pytest.fixture
def fake_transactions(monkeypatch: pytest.MonkeyPatch) -> list[FakeSession]:
    """Replace dataapi.db.transaction; returns the sessions handed out, one per attempt."""
    opened: list[FakeSession] = []

    @contextmanager
    def transaction() -> Iterator[FakeSession]:
        session = FakeSession()
        opened.append(session)
        yield session

    monkeypatch.setattr(dbmod, "transaction", transaction)
    return opened


@pytest.mark.parametrize("code", ["40001", "40P01"])
def test_run_in_transaction_retries_once(fake_transactions, code):
    def work(session: FakeSession) -> str:
        if len(fake_transactions) == 1:
            raise _fabricated(code)
        return "done"

    assert run_in_transaction(work) == "done"
    assert len(fake_transactions) == 2


def test_run_in_transaction_gives_up_after_the_second_failure(fake_transactions):
    def work(session: FakeSession) -> str:
        raise _fabricated("40001")

    with pytest.raises(DBAPIError) as info:
        run_in_transaction(work)
    assert len(fake_transactions) == 2
    assert as_http(info.value).status == 503


def test_run_in_transaction_does_not_retry_after_an_external_call(fake_transactions):
    def work(session: FakeSession) -> str:
        session.info[EXTERNAL_CALL] = True  # e.g. a Cognito user was created
        raise _fabricated("40001")

    with pytest.raises(DBAPIError):
        run_in_transaction(work)
    assert len(fake_transactions) == 1


@pytest.mark.parametrize("code", ["23505", "22001", "57014"])
def test_run_in_transaction_does_not_retry_other_errors(fake_transactions, code):
    def work(session: FakeSession) -> str:
        raise _fabricated(code)

    with pytest.raises(DBAPIError):
        run_in_transaction(work)
    assert len(fake_transactions) == 1


def test_run_in_transaction_does_not_retry_domain_errors(fake_transactions):
    def work(session: FakeSession) -> str:
        raise NotFound("nothing")

    with pytest.raises(NotFound):
        run_in_transaction(work)
    assert len(fake_transactions) == 1


def test_retry_rolls_the_first_attempt_back(api_env):
    """The first attempt writes, then fails with 40001: only the second attempt's row is committed."""
    attempts: list[int] = []

    def work(session: Session) -> Result:
        attempts.append(1)
        result = create(
            session,
            {"model_name": "Dealer", "object_values": {"dealer_name": "Once"}},
            ACTOR,
            default_registry(),
            get_settings(),
        )
        session.flush()
        if len(attempts) == 1:
            raise _fabricated("40001")
        return result

    assert run_in_transaction(work).status == 201
    assert len(attempts) == 2
    engine = create_engine(api_env)
    try:
        assert scalar(engine, "SELECT count(*) FROM \"Dealer\" WHERE dealer_name = 'Once'") == 1
    finally:
        engine.dispose()


def test_a_real_deadlock_is_retried_once(api_env):
    """GIVEN two dealers, and another transaction that holds dealer 2 and waits for dealer 1
    WHEN update_items' work holds dealer 1 and then updates dealer 2 (a real deadlock, 40P01)
    THEN that attempt is rolled back and retried, and both transactions commit."""
    other = create_engine(api_env)
    with other.begin() as conn:
        conn.execute(text("INSERT INTO \"Dealer\" (id, dealer_name, age) VALUES (1, 'A', 1), (2, 'B', 1)"))
    holds_two, go = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def other_transaction() -> None:
        try:
            with other.begin() as conn:
                conn.execute(text("SET LOCAL deadlock_timeout = '60s'"))  # we never detect it first
                conn.execute(text('UPDATE "Dealer" SET age = age + 10 WHERE id = 2'))
                holds_two.set()
                go.wait(60)
                conn.execute(text('UPDATE "Dealer" SET age = age + 10 WHERE id = 1'))
        except BaseException as exc:  # pragma: no cover - reported by the main thread
            failures.append(exc)

    attempts: list[int] = []
    request = {
        "model_name": "Dealer",
        "query_filters": {"id": 2},
        "update_type": "first_match",
        "object_values": {"dealer_type": "Shop"},
    }

    def work(session: Session) -> Result:
        attempts.append(1)
        if len(attempts) == 1:
            session.execute(text("SET LOCAL deadlock_timeout = '100ms'"))  # this attempt is the victim
            session.execute(text('UPDATE "Dealer" SET age = age + 100 WHERE id = 1'))
            thread.start()
            assert holds_two.wait(60)
            go.set()
            _wait_until_blocked(other)
        return update(session, request, ACTOR, default_registry(), get_settings())

    thread = threading.Thread(target=other_transaction)
    try:
        result = run_in_transaction(work)
    finally:
        go.set()
        thread.join(60)
    assert not failures
    assert result.status == 201
    assert len(attempts) == 2
    with other.connect() as conn:
        ages = conn.execute(text('SELECT id, age, dealer_type FROM "Dealer" ORDER BY id')).all()
    other.dispose()
    # The first attempt's +100 on dealer 1 was rolled back; the other transaction's +10s committed.
    assert [tuple(r) for r in ages] == [(1, 11, None), (2, 11, "Shop")]


def _wait_until_blocked(engine: Engine) -> None:
    """Until another backend waits on a row lock (a condition, polled; no fixed sleep)."""
    sql = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    with engine.connect() as conn:
        for _ in range(6000):
            if conn.execute(sql).scalar_one():
                return
            conn.execute(text("SELECT pg_sleep(0.01)"))
    raise AssertionError("the other transaction never blocked")


# ---- batch atomicity with real commits ----------------------------------------------------------


@pytest.fixture
def seeded_api(api_env: str) -> Iterator[Engine]:
    """A fresh database seeded with tests/fixtures/seed.py, with DATABASE_URL pointing at it."""
    from tests.fixtures.seed import seed

    engine = create_engine(api_env)
    with Session(engine) as session, session.begin():
        seed(session)
    yield engine
    engine.dispose()


def table_counts(engine: Engine) -> dict[str, int]:
    tables = ("User", "Dealer", "Item", "Item_History", "Item_Note", "Items_Notes", "Item_Notes_Subject")
    with engine.connect() as conn:
        return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}


def _note(content: str, subject: str, **subject_link: Any) -> dict:
    return {
        "model_name": "Item_Note",
        "object_values": {
            "note_content": content,
            "subject": {
                "action": "link",
                "values": {
                    "Item_Notes_Subject": {
                        "query_filters": {"subject": subject},
                        "link_type": "first_link",
                        **subject_link,
                    }
                },
            },
            "items": {
                "action": "link",
                "values": {
                    "Item": {
                        "query_filters": {"id": 9},
                        "link_type": "first_link",
                        "also_do": {
                            "item_history": {
                                "action": "create",
                                "values": {"column_name": "notes", "to_value": content},
                            }
                        },
                    }
                },
            },
        },
    }


def test_a_good_batch_commits_whole(seeded_api):
    before = table_counts(seeded_api)
    result = create_items(
        [
            _note(
                "One.",
                "Shipping",
                action_if_none="create_entry",
                values_for_none_action={"subject": "Shipping"},
            ),
            _note("Two.", "Shipping"),
        ],
        ACTOR,
    )
    assert result.status == 201
    assert json.loads(result.body) == [[{}], [{}]]
    after = table_counts(seeded_api)
    assert after == {
        **before,
        "Item_Note": before["Item_Note"] + 2,
        "Items_Notes": before["Items_Notes"] + 2,
        "Item_History": before["Item_History"] + 2,
        "Item_Notes_Subject": before["Item_Notes_Subject"] + 1,
    }


@pytest.mark.parametrize(
    ("bad", "error", "at"),
    [
        (
            {"model_name": "Item_Note", "object_values": {"note_content": "x", "colour": "red"}},
            UnknownField,
            "/1/object_values/colour",
        ),
        (_note("Nowhere.", "No such subject"), NotFound, "/1/object_values/subject"),
    ],
    ids=["validation", "no-link-match"],
)
def test_a_batch_with_a_bad_middle_member_writes_nothing(seeded_api, bad, error, at):
    before = table_counts(seeded_api)
    with pytest.raises(error) as info:
        create_items([_note("First.", "Condition"), bad, _note("Third.", "Pricing")], ACTOR)
    assert info.value.at == at
    assert info.value.status in (400, 404)
    assert table_counts(seeded_api) == before


def test_a_batch_whose_middle_member_breaks_a_constraint_writes_nothing(seeded_api):
    before = table_counts(seeded_api)
    with pytest.raises(DBAPIError) as info:
        create_items(
            [
                new_user("david", "david@example.com"),
                new_user("anna-2", "anna@beyo.se"),
                new_user("eva", "eva@example.com"),
            ],
            ACTOR,
        )
    err = as_http(info.value)
    assert (err.status, err.message) == (409, "The value 'anna@beyo.se' for field 'email' already exists.")
    assert table_counts(seeded_api) == before


def test_update_and_delete_batches_are_atomic(seeded_api):
    with seeded_api.connect() as conn:
        items_before = conn.execute(text('SELECT id, state, location FROM "Item" ORDER BY id')).all()
    before = table_counts(seeded_api)
    with pytest.raises(NotFound) as info:
        update_items(
            [
                {
                    "model_name": "Item",
                    "query_filters": {"id": 1},
                    "update_type": "first_match",
                    "object_values": {"state": "Sold"},
                },
                {
                    "model_name": "Item",
                    "query_filters": {"state": "Lost"},
                    "update_type": "all_matches",
                    "object_values": {"location": "X"},
                },
            ],
            ACTOR,
        )
    assert info.value.at == "/1/query_filters"
    with pytest.raises(NotFound) as info:
        delete_items(
            [
                {
                    "model_name": "Item",
                    "object_values": {"query_filters": {"id": 1}, "deletion_type": "delete_first"},
                },
                {
                    "model_name": "Item",
                    "object_values": {"query_filters": {"id": 999}, "delition_type": "delete_all"},
                },
            ],
            ACTOR,
        )
    assert info.value.at == "/1/object_values/query_filters"
    assert table_counts(seeded_api) == before
    with seeded_api.connect() as conn:
        assert conn.execute(text('SELECT id, state, location FROM "Item" ORDER BY id')).all() == items_before


def test_rows_touched_over_the_limit_commits_nothing(seeded_api, monkeypatch):
    monkeypatch.setenv("MAX_ROWS_TOUCHED", "3")
    get_settings.cache_clear()
    with seeded_api.connect() as conn:
        items_before = conn.execute(text('SELECT id, state, location FROM "Item" ORDER BY id')).all()
    with pytest.raises(LimitExceeded):
        update_items(
            {
                "model_name": "Item",
                "query_filters": {"state": "In-Transit"},
                "update_type": "all_matches",
                "object_values": {"location": "Dock"},
            },
            ACTOR,
        )
    with pytest.raises(LimitExceeded):
        delete_items(
            {
                "model_name": "Item",
                "object_values": {"query_filters": {"state": "In-Transit"}, "deletion_type": "delete_all"},
            },
            ACTOR,
        )
    with seeded_api.connect() as conn:
        assert conn.execute(text('SELECT id, state, location FROM "Item" ORDER BY id')).all() == items_before
    # Within the limit the same kind of request commits.
    update_items(
        {
            "model_name": "Item",
            "query_filters": {"state": "Sold"},
            "update_type": "all_matches",
            "object_values": {"location": "Gone"},
        },
        ACTOR,
    )
    assert scalar(seeded_api, "SELECT count(*) FROM \"Item\" WHERE location = 'Gone'") == 3
