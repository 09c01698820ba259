"""dataapi.db.sqlstate translates driver errors by their SQLSTATE (docs/contract.md §2): no handler,
no database; the errors are built as the driver raises them, wrapped by SQLAlchemy."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from dataapi.db.sqlstate import translate
from dataapi.errors import Conflict, Unavailable
from dataapi.registry import Constraint, default_registry


def _db_error(fields: dict[str, str]) -> OperationalError:
    class DriverError(Exception):
        pass

    return OperationalError("SELECT 1", {}, DriverError(fields))


def test_translate_maps_sqlstate_57014_to_503() -> None:
    """GIVEN a driver error carrying SQLSTATE 57014 (query_canceled by statement_timeout)
    WHEN it is translated THEN 503 StatementTimeout, without the driver's text."""
    exc = _db_error({"S": "ERROR", "C": "57014", "M": "canceling statement due to statement timeout"})

    mapped = translate(exc, {})

    assert isinstance(mapped, Unavailable)
    assert mapped.status == 503
    assert "StatementTimeout" in mapped.server_message
    assert "canceling" not in mapped.message + mapped.server_message


@pytest.mark.parametrize("code", ["08006", "53300", "57P01"])
def test_translate_maps_unavailability_sqlstates_to_503(code: str) -> None:
    """GIVEN connection failure, too many connections or admin shutdown WHEN translated THEN 503."""
    mapped = translate(_db_error({"S": "FATAL", "C": code, "M": "detail from the server"}), {})

    assert mapped.status == 503
    assert "detail from the server" not in mapped.message + mapped.server_message


UNIQUE = {
    "S": "ERROR",
    "C": "23505",
    "n": "ix_User_lower_email",
    "D": "Key (lower(email::text))=(a@b.se) already exists.",
}


def test_a_key_violation_names_the_fields_of_the_constraint_the_registry_knows() -> None:
    """GIVEN a unique violation of the expression index on lower(email) WHEN translated with the
    registry's constraints THEN 409 naming the field `email`, not the index expression."""
    mapped = translate(_db_error(UNIQUE), default_registry().constraints)

    assert isinstance(mapped, Conflict)
    assert mapped.message == "The value 'a@b.se' for field 'email' already exists."
    assert "constraint=ix_User_lower_email" in mapped.server_message


def test_a_key_violation_of_an_unknown_constraint_names_what_postgresql_says() -> None:
    mapped = translate(_db_error({**UNIQUE, "n": "elsewhere"}), {"other": Constraint("t", ("c",), None)})

    assert mapped.message == "The value 'a@b.se' for field 'lower(email::text)' already exists."


@pytest.mark.parametrize(
    ("code", "detail"),
    [("25006", "DatabaseReadOnly"), ("55P03", "LockTimeout")],
    ids=["read-only", "lock timeout"],
)
def test_a_read_only_database_and_a_lock_timeout_are_503(code: str, detail: str) -> None:
    """GIVEN a write refused by a read-only database (a failover) or a lock_timeout WHEN translated
    THEN 503 naming it: a retry later may succeed."""
    mapped = translate(_db_error({"S": "ERROR", "C": code, "M": "cannot execute UPDATE"}), {})

    assert isinstance(mapped, Unavailable)
    assert mapped.server_message == f"Unavailable {detail}"
