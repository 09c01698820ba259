"""Scheduled batch updates (docs/contract.md §8): the update function invoked with a Schedule's Input as the event."""

import importlib.util
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from dataapi.errors import Forbidden, UnknownField
from tests.fixtures.seed import seed
from tests.support.lambda_context import FakeLambdaContext

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_INPUT = {
    "model_name": "Item",
    "reference": "Flag delayed deliveries",
    "query_filters": {"state": "In-Transit", "created_at": {"operation": "<", "value": "$now-30d"}},
    "object_values": {"state": "Delayed"},
    "update_type": "all_matches",
}


def scheduled_context() -> FakeLambdaContext:
    return FakeLambdaContext(
        function_name="update_items",
        invoked_function_arn="arn:aws:lambda:eu-north-1:000000000000:function:update_items",
        aws_request_id="scheduled-test",
    )


@pytest.fixture
def handler(api_env):
    engine = create_engine(api_env)
    with Session(engine) as session, session.begin():
        seed(session)
    spec = importlib.util.spec_from_file_location(
        "scheduled_update_items", ROOT / "functions/update_items/app.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module.lambda_handler, engine
    engine.dispose()


def states(engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text('SELECT id, state FROM "Item" ORDER BY id')).all())


def test_given_a_schedule_input_with_a_relative_time_when_invoked_then_it_runs_as_the_scheduler(handler):
    lambda_handler, engine = handler
    before = states(engine)
    summary = lambda_handler(json.loads(json.dumps(TEMPLATE_INPUT)), scheduled_context())
    assert summary == {"status": 201, "message": "Flag delayed deliveries updated!", "rows": 4}
    after = states(engine)
    assert {i for i, s in after.items() if s == "Delayed"} == {
        i for i, s in before.items() if s == "In-Transit"
    }
    # Safe to repeat: the second run finds nothing and succeeds with 0 rows.
    assert lambda_handler(TEMPLATE_INPUT, scheduled_context())["rows"] == 0
    assert states(engine) == after


def test_a_batch_schedule_is_one_transaction(handler):
    lambda_handler, engine = handler
    before = states(engine)
    bad = {**TEMPLATE_INPUT, "object_values": {"no_such_field": 1}}
    with pytest.raises(UnknownField):
        lambda_handler([TEMPLATE_INPUT, bad], scheduled_context())
    assert states(engine) == before


def test_a_run_the_scheduler_is_not_granted_raises_and_writes_nothing(handler):
    lambda_handler, engine = handler
    with engine.connect() as conn:
        names = conn.execute(text('SELECT dealer_name FROM "Dealer" ORDER BY id')).scalars().all()
    with pytest.raises(Forbidden):
        lambda_handler(
            {
                "model_name": "Dealer",
                "object_values": {"dealer_name": "x"},
                "query_filters": {"id": 1},
                "update_type": "first_match",
            },
            scheduled_context(),
        )
    with engine.connect() as conn:
        assert conn.execute(text('SELECT dealer_name FROM "Dealer" ORDER BY id')).scalars().all() == names


def test_the_schedule_in_the_template_is_this_input():
    from devtools.template import load_template

    update = load_template(ROOT / "template.yaml")["Resources"]["UpdateItemsFunction"]["Properties"]
    sent = json.loads(update["Events"]["FlagDelayedDeliveries"]["Properties"]["Input"])
    assert sent == {"run_id": "<aws.scheduler.execution-id>", **TEMPLATE_INPUT}


# ---- run_id: exactly-once runs (docs/contract.md §8) ----------------------------------------------


def test_given_a_run_id_when_the_run_is_delivered_twice_then_it_applies_once_and_replays(handler):
    lambda_handler, engine = handler
    sent = {"run_id": "d32c5kddcf5bb8c3", **TEMPLATE_INPUT}
    first = lambda_handler(json.loads(json.dumps(sent)), scheduled_context())
    assert first == {
        "status": 201,
        "message": "Flag delayed deliveries updated!",
        "rows": 4,
        "run_id": "d32c5kddcf5bb8c3",
    }
    after = states(engine)
    with engine.begin() as conn:  # back in transit: a second run would flag them again
        conn.execute(text("""UPDATE "Item" SET state = 'In-Transit' WHERE state = 'Delayed'"""))
    again = lambda_handler(json.loads(json.dumps(sent)), scheduled_context())
    assert again == {**first, "replayed": True}  # the first run's summary, not a run of its own
    assert {i for i, s in states(engine).items() if s == "Delayed"} == set()
    assert after != states(engine)
    # Another run id is another run.
    other = lambda_handler({**sent, "run_id": "e11f0aa9"}, scheduled_context())
    assert other["rows"] == 4 and "replayed" not in other


def test_given_a_run_id_whose_run_failed_when_retried_then_it_runs(handler, monkeypatch):
    from sqlalchemy.exc import DBAPIError

    from dataapi.db.sqlstate import sqlstate
    from dataapi.settings import get_settings

    lambda_handler, engine = handler
    sent = {"run_id": "retry-me", **TEMPLATE_INPUT}
    monkeypatch.setenv("STATEMENT_TIMEOUT_MS", "300")
    get_settings.cache_clear()
    with engine.connect() as holder:  # a row the run must change is locked: the run times out
        holder.begin()
        holder.execute(text("""SELECT id FROM "Item" WHERE state = 'In-Transit' FOR UPDATE"""))
        with pytest.raises(DBAPIError) as failed:
            lambda_handler(json.loads(json.dumps(sent)), scheduled_context())
        holder.rollback()
    assert sqlstate(failed.value) == "57014"  # the statement timeout: rolled back, raised for a retry
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM dataapi.idempotency")).scalar_one() == 0
    retried = lambda_handler(json.loads(json.dumps(sent)), scheduled_context())
    assert retried["rows"] == 4 and "replayed" not in retried
    get_settings.cache_clear()


@pytest.mark.parametrize("run_id", [7, "", "has space", "x" * 256])
def test_given_a_malformed_run_id_then_the_run_is_refused_before_any_write(handler, run_id):
    from dataapi.errors import MalformedRequest

    lambda_handler, engine = handler
    before = states(engine)
    with pytest.raises(MalformedRequest) as refused:
        lambda_handler({"run_id": run_id, **TEMPLATE_INPUT}, scheduled_context())
    assert refused.value.at == "/run_id"
    assert states(engine) == before


def test_given_a_housekeeping_event_of_another_shape_then_it_is_refused(handler):
    from dataapi.errors import MalformedRequest

    lambda_handler, _ = handler
    for sent in ({"housekeeping": "everything"}, {"housekeeping": "idempotency", "model_name": "Item"}):
        with pytest.raises(MalformedRequest):
            lambda_handler(sent, scheduled_context())
