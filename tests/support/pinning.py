"""What pins or breaks a connection under transaction pooling, and a recorder of what the layer sends.

RDS Proxy multiplexes transactions over few server connections and pins a client to one server
connection for good once it sees session state; PgBouncer in transaction mode hands the next
transaction to whichever server connection is free, so session state is lost or leaks to another
client. Either way, no statement the layer sends may set session state:

- a session-level `SET` / `RESET` (`SET LOCAL` and `set_config(..., true)` end with the transaction),
  or `set_config(..., false)`;
- a named prepared statement (`PREPARE`, or a protocol Parse message with a name: pg8000 sends
  unnamed ones only);
- a session advisory lock (`pg_advisory_lock`, `pg_try_advisory_lock`, `pg_advisory_unlock`, ...;
  the `_xact_` ones end with the transaction);
- a temporary table (`CREATE TEMP[ORARY] TABLE`, `SELECT ... INTO TEMP`);
- `LISTEN` / `UNLISTEN`;
- a cursor `WITH HOLD` (it outlives its transaction).

`Recorder` records every statement the layer's connections (dataapi.db.wire) send: the statement
texts of their cursors (`wire.watched()`), and at the protocol level every simple query (the
transaction's first query `begin_sql`, COMMIT, ROLLBACK, pings) and the name of every Parse.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from dataapi.db import wire

_START = r"(?:\A|;)\s*"  # the start of a statement (multi-statement texts: `begin transaction; SELECT ...`)
_TRUE = r"(?:true|'(?:t|true|on|yes|1)')"

PATTERNS: dict[str, re.Pattern[str]] = {
    "session SET": re.compile(_START + r"(?:SET(?!\s+LOCAL\b)|RESET)\s", re.I),
    "session set_config": re.compile(
        r"\bset_config\s*\(\s*(?:'[^']*'|[^,()]+)\s*,\s*(?:'[^']*'|[^,()]+)\s*,(?!\s*" + _TRUE + r"\s*\))",
        re.I,
    ),
    "named PREPARE": re.compile(_START + r"PREPARE\s", re.I),
    "session advisory lock": re.compile(r"\bpg_(?:try_)?advisory_(?:un)?lock(?:_shared|_all)?\s*\(", re.I),
    "temporary table": re.compile(
        r"\bCREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?TEMP(?:ORARY)?\s|\bINTO\s+TEMP(?:ORARY)?\s", re.I
    ),
    "LISTEN": re.compile(_START + r"(?:UN)?LISTEN\s", re.I),
    "WITH HOLD cursor": re.compile(r"\bWITH\s+HOLD\b", re.I),
}
"""Each pattern flags a statement that pins (RDS Proxy) or breaks (PgBouncer) under transaction pooling."""

NAMED_PARSE = "named prepared statement (Parse)"


def pinning(statement: str) -> list[str]:
    """The names of the patterns `statement` matches (none: it is safe under transaction pooling)."""
    return [name for name, pattern in PATTERNS.items() if pattern.search(statement)]


def offenders(statements: Iterable[str]) -> dict[str, list[str]]:
    """Each distinct offending statement with the patterns it matches."""
    found: dict[str, list[str]] = {}
    for statement in dict.fromkeys(statements):
        names = pinning(statement)
        if names:
            found[statement] = names
    return found


KINDS: dict[str, re.Pattern[str]] = {
    "begin with local statement_timeout": re.compile(
        r"\Abegin transaction; SELECT set_config\('statement_timeout', '\d+', true\)"
    ),
    "SELECT": re.compile(r"\A\s*SELECT\b", re.I),
    "INSERT": re.compile(r"\A\s*INSERT\s+INTO\b", re.I),
    "UPDATE": re.compile(r"\A\s*UPDATE\b", re.I),
    "DELETE": re.compile(r"\A\s*DELETE\s+FROM\b", re.I),
    "transaction advisory lock": re.compile(r"\bpg_advisory_xact_lock\s*\(", re.I),
    "commit": re.compile(r"\Acommit\Z", re.I),
}
"""What the handler suite's statements are: the coverage check counts statements of each kind."""


@dataclass
class Recorder:
    statements: list[str] = field(default_factory=list)
    """Statement texts of the layer's cursors (`wire.watched()`)."""
    queries: list[str] = field(default_factory=list)
    """Simple-protocol queries on the wire: `begin_sql`, commit, rollback, pings."""
    parse_names: list[str] = field(default_factory=list)
    """The names of protocol Parse messages that had one (pg8000 sends unnamed ones only)."""
    tests: Counter[str] = field(default_factory=Counter)
    """Tests run while recording, per module (filled by the handler conftest)."""

    def everything(self) -> list[str]:
        return self.statements + self.queries

    def problems(self) -> dict[str, list[str]]:
        found = offenders(self.everything())
        for name in dict.fromkeys(self.parse_names):
            found[f"Parse {name!r}"] = [NAMED_PARSE]
        return found

    def kinds(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for text in self.everything():
            for kind, pattern in KINDS.items():
                if pattern.search(text):
                    counts[kind] += 1
        return counts


_QUERY, _PARSE = b"Q", b"P"


@contextmanager
def recording() -> Iterator[Recorder]:
    """Record what every connection of dataapi.db.wire sends inside the block."""
    recorder = Recorder()
    original = wire.Connection._send_message

    def _send_message(self: Any, code: bytes, data: bytes) -> Any:
        if code == _QUERY:
            recorder.queries.append(bytes(data).rstrip(b"\0").decode(self._client_encoding, "replace"))
        elif code == _PARSE:
            name = bytes(data).split(b"\0", 1)[0]
            if name:
                recorder.parse_names.append(name.decode(self._client_encoding, "replace"))
        return original(self, code, data)

    with ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setattr(wire.Connection, "_send_message", _send_message)
        recorder.statements = stack.enter_context(wire.watched())
        yield recorder
