"""No statement the handler suite sends pins or breaks under transaction pooling.

In production the functions reach PostgreSQL through RDS Proxy, which multiplexes transactions over
few server connections and pins a client to one of them for good once it sees session state
(`make test-pooled` runs this tier through PgBouncer in transaction mode, which breaks instead).
The handler conftest records every statement the layer's connections send while this tier runs
(`sent_statements`); this module runs after every other test of the tier (the conftest moves it
there) and fails on any statement of tests/support/pinning.py's patterns: session-level SET,
named PREPARE, session advisory locks, temporary tables, LISTEN, WITH HOLD cursors.

It cannot pass on nothing: when other tests of the tier ran and sent nothing it fails, and when the
whole tier ran it checks that the record covers it (statements of every kind the routes send).
Alone (`pytest tests/handler/test_transaction_pooling.py`) the check has nothing to read and skips.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.handler.conftest import HERE, POOLING_TEST
from tests.handler.support import event, invoke
from tests.support.pinning import KINDS, Recorder, recording

# The fewest statements of each kind a run of the whole tier sends (a run sends several times these).
COVERAGE = {
    "begin with local statement_timeout": 600,
    "SELECT": 1000,
    "INSERT": 100,
    "UPDATE": 30,
    "DELETE": 5,
    "transaction advisory lock": 3,
    "commit": 400,
}
assert set(COVERAGE) == set(KINDS)


def _tier_modules() -> set[str]:
    return {str(p.relative_to(HERE)) for p in HERE.rglob("test_*.py") if p.name != POOLING_TEST}


def _others(recorder: Recorder) -> dict[str, int]:
    return {module: n for module, n in recorder.tests.items() if Path(module).name != POOLING_TEST}


def test_the_recorder_sees_what_the_layer_sends(db: object) -> None:
    """The recording is the layer's own traffic: a get_items request shows up as the transaction's
    first query (with its local statement timeout) and the page's SELECT."""
    with recording() as recorded:
        reply = invoke("get_items", event(body={"model_name": "Item", "requested_data": ["id"]}))
    assert reply.status == 200, reply.envelope
    kinds = recorded.kinds()
    assert kinds["begin with local statement_timeout"] >= 1, recorded.queries
    assert kinds["SELECT"] >= 1, recorded.statements
    assert recorded.problems() == {}


def test_no_statement_of_the_tier_pins_or_breaks_under_transaction_pooling(
    sent_statements: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    others = _others(sent_statements)
    if not others:
        pytest.skip("no other test of the handler tier ran in this session: nothing recorded to check")
    whole_tier = _tier_modules() <= set(others)
    if whole_tier:
        assert sent_statements.statements, "the whole tier ran but no cursor statement was recorded"
        assert sent_statements.queries, "the whole tier ran but no simple query (BEGIN, COMMIT) was recorded"
    elif not sent_statements.everything():
        pytest.skip("the handler tests that ran sent nothing to the database: nothing to check")
    kinds = sent_statements.kinds()
    with capsys.disabled():  # what is checked, in the run's output
        print(f"\ntransaction pooling check: {sum(others.values())} tests sent {len(sent_statements.statements)}"
              f" statements and {len(sent_statements.queries)} simple queries; by kind: {dict(kinds)}")  # fmt: skip

    problems = sent_statements.problems()
    assert not problems, "statements that pin RDS Proxy connections or break under transaction pooling:\n" + (
        "\n".join(f"  {', '.join(names)}: {statement[:300]}" for statement, names in problems.items())
    )
    if whole_tier:
        short = {kind: (kinds[kind], least) for kind, least in COVERAGE.items() if kinds[kind] < least}
        assert not short, f"the record does not cover the tier (kind: (seen, at least)): {short}"
