"""Property-based fuzzing of every route's request grammar, in-process through the handlers.

Requests are drawn from each route's grammar over the real models (model names, their columns,
dotted paths through their relationships, paths into JSON columns, operators fit for the column,
`$or`/`$and`/`$not` groups, relationship actions nested through related models, paging), so most
of them get past validation, with hostile leaves mixed in at every level: lone surrogates, NUL,
huge and non-ASCII numbers, far-away timestamps, deep nesting, unknown names, wrong types.
For every request: no 500, the answer is in the envelope (checked by `invoke`), and the next
request is still correct (a read through the handler equals the table read directly).

A fixed seed (derandomize) and a bounded number of examples keep the run deterministic and short;
`--hypothesis-show-statistics` shows how the answers are distributed.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dataapi.registry import ColumnInfo, ModelInfo, default_registry
from tests.adversarial.support import ADMIN, ANNA, World, call

REGISTRY = default_registry()
MODELS = sorted(REGISTRY.models)
NASTY = st.sampled_from(
    [
        "\ud800",
        "a\udfffb",
        "\x00",
        "²",
        "١٢",
        "%",
        '\'; DROP TABLE "Item"; --',
        "$now-99999999d",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "2025-13-45",
        "9" * 30,
        "NaN",
        "é" * 300,
        "",
    ]
)
HOSTILE = st.one_of(
    NASTY,
    st.sampled_from(
        [10**4000, -(10**300), 2**31, 2**63, 1.5e308, True, [], {}, [[[[1]]]], {"a": {"b": [None]}}]
    ),
    st.none(),
    st.text(max_size=6),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8) | NASTY,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5) | NASTY, inner, max_size=3)
    ),
    max_leaves=8,
)
OPS_BY_KIND = {
    "str": [
        "==",
        "!=",
        ">",
        "<=",
        "like",
        "ilike",
        "in",
        "notin",
        "range",
        "contains",
        "is_null",
        "not_null",
    ],
    "int": ["==", "!=", ">", ">=", "<", "<=", "in", "notin", "range", "is_null", "not_null"],
    "datetime": ["==", ">", ">=", "<", "range", "is_null", "not_null"],
    "json": ["==", "contains", "contained_by", "has_key", "has_any", "has_all", "like", ">", "is_null"],
}


def rarely(strategy: st.SearchStrategy[Any], fallback: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`strategy` nine times in ten, `fallback` (something hostile) otherwise."""
    return st.integers(0, 9).flatmap(lambda n: fallback if n == 0 else strategy)


def value_for(col: ColumnInfo) -> st.SearchStrategy[Any]:
    good = {
        "int": st.integers(-(2**31), 2**31 - 1) | st.sampled_from([1, 2, 3, 12]),
        "str": st.text(max_size=15) | st.sampled_from(["In-Stock", "Sold", "2511-001", "Shop"]),
        "datetime": st.sampled_from(
            ["2025-11-05T12:00:00Z", "$now-30d", "$now", "2025-11-05", "2025-11-05T12:00:00+02:00"]
        ),
        "json": JSON,
        "bool": st.booleans(),
    }.get(col.kind, JSON)
    return rarely(good, HOSTILE)


def columns(model: ModelInfo) -> list[ColumnInfo]:
    return sorted(model.columns.values(), key=lambda c: c.key)


@st.composite
def model_name(draw: st.DrawFn) -> Any:
    return draw(rarely(st.sampled_from(MODELS), HOSTILE))


@st.composite
def key_and_column(draw: st.DrawFn, model: ModelInfo) -> tuple[str, ColumnInfo | None]:
    """A filter key: a column, a dotted path through relationships, a JSON path, or junk."""
    prefix, current = "", model
    while current.relationships and draw(st.integers(0, 3)) == 0 and prefix.count(".") < 3:
        rel = draw(st.sampled_from(sorted(current.relationships)))
        prefix, current = f"{prefix}{rel}.", current.relationships[rel].target
    col = draw(st.sampled_from(columns(current)))
    key = prefix + col.key
    if col.kind == "json" and draw(st.booleans()):
        key += "." + draw(st.sampled_from(["set_of", "color", "a.b", "lat"]) | NASTY)
    junk = st.sampled_from(
        ["nope", "dealer", "id.x", "a..b", "$xor", "or-", ".".join(["dealer", "items"] * 20)]
    )
    if draw(st.integers(0, 14)) == 0:
        return draw(junk | NASTY), None
    return key, col


@st.composite
def condition(draw: st.DrawFn, col: ColumnInfo | None) -> Any:
    value = value_for(col) if col is not None else HOSTILE
    if draw(st.integers(0, 2)) == 0:
        return draw(value | st.lists(value, max_size=4))
    kind = col.kind if col is not None else "str"
    op = draw(
        rarely(
            st.sampled_from(OPS_BY_KIND.get(kind, ["==", "is_null"])),
            HOSTILE | st.sampled_from(["or", "and", "not", "IN", "~"]),
        )
    )
    shaped = {
        "in": st.lists(value, max_size=5),
        "notin": st.lists(value, max_size=5),
        "range": st.fixed_dictionaries({}, optional={"start": value, "end": value}),
        "has_any": st.lists(st.text(max_size=4) | NASTY, max_size=3),
        "has_all": st.lists(st.text(max_size=4) | NASTY, max_size=3),
        "has_key": st.text(max_size=4) | NASTY,
        "like": st.sampled_from(["%25%", "Sold", "%"]) | NASTY,
        "ilike": st.sampled_from(["%a%", "%"]) | NASTY,
        "is_null": st.booleans() | st.none(),
        "not_null": st.booleans() | st.none(),
        "or": st.lists(value, min_size=1, max_size=3),
        "and": st.lists(value, min_size=1, max_size=3),
        "not": value,
    }.get(op if isinstance(op, str) else "", value)
    return {"operation": op, "value": draw(rarely(shaped, HOSTILE))}


@st.composite
def filters(draw: st.DrawFn, model: ModelInfo, depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _ in range(draw(st.integers(0, 3))):
        key, col = draw(key_and_column(model))
        if draw(st.integers(0, 4)) == 0:
            key = "or-" + key
        out[key] = draw(condition(col))
    if depth < 2 and draw(st.integers(0, 4)) == 0:
        group = draw(st.sampled_from(["$or", "$and", "$not"]))
        inner = [draw(filters(model, depth + 1)) for _ in range(draw(st.integers(1, 2)))]
        out[group] = inner[0] if group == "$not" else inner
    return out


@st.composite
def requested(draw: st.DrawFn, model: ModelInfo, depth: int = 0) -> list[Any]:
    out: list[Any] = draw(st.lists(st.sampled_from([c.key for c in columns(model)]), min_size=1, max_size=4))
    if depth < 3 and model.relationships and draw(st.booleans()):
        rel = draw(st.sampled_from(sorted(model.relationships)))
        target = model.relationships[rel].target
        if draw(st.booleans()):
            out.append({rel: draw(requested(target, depth + 1))})
        else:
            out.append(f"{rel}.{draw(st.sampled_from([c.key for c in columns(target)]))}")
    if draw(st.integers(0, 14)) == 0:
        out.append(draw(HOSTILE | st.sampled_from(["nope", "dealer", "a..b", {"dealer": "x"}])))
    return out


@st.composite
def object_values(draw: st.DrawFn, model: ModelInfo, depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in draw(st.lists(st.sampled_from(columns(model)), max_size=4, unique_by=lambda c: c.key)):
        out[col.key] = draw(value_for(col))
    if depth < 2 and model.relationships and draw(st.booleans()):
        rel = draw(st.sampled_from(sorted(model.relationships)))
        out[rel] = draw(action(model.relationships[rel].target, depth + 1))
    if draw(st.integers(0, 14)) == 0:
        out[draw(NASTY | st.sampled_from(["nope", "password"]))] = draw(HOSTILE)
    return out


@st.composite
def action(draw: st.DrawFn, target: ModelInfo, depth: int) -> Any:
    kind = draw(rarely(st.sampled_from(["link", "unlink", "create", "create_through_rel"]), HOSTILE))
    if kind == "link":
        spec: dict[str, Any] = {
            "query_filters": draw(filters(target)),
            "link_type": draw(rarely(st.sampled_from(["first_link", "all_link"]), HOSTILE)),
        }
        if draw(st.booleans()):
            spec["also_do"] = draw(object_values(target, depth + 1))
        if draw(st.booleans()):
            spec["action_if_none"] = "create_entry"
            spec["values_for_none_action"] = draw(object_values(target, depth + 1))
        return {"action": "link", "values": {draw(rarely(st.just(target.name), NASTY)): spec}}
    if kind == "unlink":
        values = {"unlink_type": draw(st.sampled_from(["unlink_matches", "unlink_all"]))}
        if values["unlink_type"] == "unlink_matches":
            values |= {
                "query_filters": draw(filters(target)),
                "query_matches": draw(st.sampled_from(["first_match", "all_matches"])),
            }
        return {"action": "unlink", "values": values}
    if kind == "create":
        rows = draw(st.lists(object_values(target, depth + 1), min_size=1, max_size=2))
        out = {"action": "create", "values": rows if len(rows) > 1 or draw(st.booleans()) else rows[0]}
        if draw(st.booleans()):
            out["append"] = draw(rarely(st.booleans(), HOSTILE))
        return out
    if kind == "create_through_rel":
        return {"action": kind, "values": draw(object_values(target, depth + 1))}
    return {"action": kind, "values": draw(HOSTILE)}


def _in(name: Any) -> ModelInfo:
    return (
        REGISTRY.models[name]
        if isinstance(name, str) and name in REGISTRY.models
        else REGISTRY.models["Item"]
    )


@st.composite
def get_request(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(model_name())
    model = _in(name)
    body: dict[str, Any] = {"model_name": name, "requested_data": draw(rarely(requested(model), HOSTILE))}
    if draw(st.booleans()):
        body["query_filters"] = draw(filters(model))
    if draw(st.booleans()):
        body["per_page"] = draw(rarely(st.integers(1, 20), HOSTILE))
    if draw(st.integers(0, 2)) == 0:
        body["order_by"] = draw(
            st.lists(
                st.sampled_from([c.key for c in columns(model)] + ["-id", "dealer.dealer_name"]), max_size=3
            )
        )
    if draw(st.integers(0, 3)) == 0:
        body["cursor"] = draw(
            st.integers(0, 20) | st.sampled_from(["5", "eyJvIjpbIi1pZCJdLCJ2IjpbNV19"]) | HOSTILE
        )
    if draw(st.integers(0, 3)) == 0:
        body["count"] = draw(rarely(st.booleans(), HOSTILE))
    return body


@st.composite
def create_request(draw: st.DrawFn) -> Any:
    name = draw(model_name())
    model = _in(name)
    values = draw(st.lists(object_values(model), min_size=1, max_size=3))
    body: dict[str, Any] = {"model_name": name, "object_values": values if len(values) > 1 else values[0]}
    if draw(st.booleans()):
        body["requested_data"] = draw(requested(model))
    return body


@st.composite
def update_request(draw: st.DrawFn) -> Any:
    name = draw(model_name())
    model = _in(name)
    body: dict[str, Any] = {
        "model_name": name,
        "query_filters": draw(filters(model)),
        "update_type": draw(rarely(st.sampled_from(["first_match", "all_matches"]), HOSTILE)),
        "object_values": draw(object_values(model)),
    }
    if draw(st.booleans()):
        body["requested_data"] = draw(requested(model))
    if draw(st.integers(0, 5)) == 0:
        body["allow_all"] = draw(rarely(st.booleans(), HOSTILE))
    return body


@st.composite
def delete_request(draw: st.DrawFn) -> Any:
    name = draw(model_name())
    model = _in(name)
    values: dict[str, Any] = {
        "query_filters": draw(filters(model)),
        "deletion_type": draw(rarely(st.sampled_from(["delete_first", "delete_all"]), HOSTILE)),
    }
    if draw(st.integers(0, 2)) == 0:
        values["also_do"] = draw(object_values(model))
    return {"model_name": name, "object_values": values}


def batch_of(one: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.integers(0, 5).flatmap(lambda n: st.lists(one, min_size=1, max_size=3) if n == 0 else one)


def _session_and_files() -> st.SearchStrategy[tuple[str, Any]]:
    item = st.sampled_from(MODELS).map(_in)
    return st.one_of(
        st.tuples(
            st.just("me"),
            st.one_of(
                st.just({}),
                item.flatmap(lambda m: st.fixed_dictionaries({"requested_data": requested(_in("User"))})),
                JSON,
            ),
        ),
        st.tuples(
            st.just("login"),
            st.dictionaries(st.sampled_from(["email", "password", "x"]), HOSTILE, max_size=3),
        ),
        st.tuples(st.just("logout"), JSON),
        st.tuples(
            st.just("presign"),
            st.lists(
                st.fixed_dictionaries(
                    {
                        "fileName": rarely(st.text(max_size=8), HOSTILE),
                        "filePath": rarely(
                            st.sampled_from(["PurchaseAppReact/", "profiles_pictures/x"]), HOSTILE
                        ),
                        "fileType": rarely(st.just("image/jpeg"), HOSTILE),
                    }
                ),
                max_size=3,
            ),
        ),
        st.tuples(
            st.just("delete_files"),
            st.fixed_dictionaries(
                {
                    "urls": st.lists(
                        rarely(
                            st.sampled_from(
                                ["PurchaseAppReact/a.jpg", "s3://files-bucket/PurchaseAppReact/b.png"]
                            ),
                            HOSTILE,
                        ),
                        max_size=3,
                    )
                }
            ),
        ),
    )


def _still_correct(world: World) -> None:
    """The next request: a read through the handler equals the table read directly."""
    reply = call("get_items", {"model_name": "Item", "requested_data": ["id", "state"], "per_page": 1000})
    assert reply.status == 200, reply.envelope
    expected = [list(r) for r in world.rows('SELECT id, state FROM "Item" ORDER BY id DESC')]
    assert [[row["id"], row["state"]] for row in reply.body] == expected


def _check(route: str, body: Any, world: World, who: Any = ADMIN) -> None:
    reply = call(route, body, who)
    assert reply.status != 500, (route, body, reply.envelope)
    assert reply.status in (200, 201, 400, 401, 403, 404, 409, 502, 503), reply.envelope
    event(f"{route} {reply.status}")  # --hypothesis-show-statistics shows how far requests get
    _still_correct(world)


FUZZ = settings(
    max_examples=200,
    derandomize=True,  # a fixed seed: the same examples on every run
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@FUZZ
@given(body=get_request(), as_buyer=st.booleans())
def test_fuzz_get_items(world: World, body: Any, as_buyer: bool) -> None:
    _check("get_items", body, world, ANNA if as_buyer else ADMIN)


@FUZZ
@given(body=batch_of(create_request()))
def test_fuzz_create_items(world: World, body: Any) -> None:
    _check("create_items", body, world)


@FUZZ
@given(body=batch_of(update_request()), as_buyer=st.booleans())
def test_fuzz_update_items(world: World, body: Any, as_buyer: bool) -> None:
    _check("update_items", body, world, ANNA if as_buyer else ADMIN)


@FUZZ
@given(body=batch_of(delete_request()))
def test_fuzz_delete_items(world: World, body: Any) -> None:
    _check("delete_items", body, world)


@settings(FUZZ, max_examples=80)
@given(case=_session_and_files())
def test_fuzz_session_and_file_routes(world: World, case: tuple[str, Any]) -> None:
    route, body = case
    _check(route, body, world)
