"""Realistic demo data for the local stack: a Swedish antique-furniture purchase app in use.

About 400 items bought from about 60 dealers over the last 120 days, with notes, change history and
images keys, plus the demo users (admin@example.com with Admin, clerk@example.com with Buyer, and a
few more). Values come from `random.Random(seed)`, so a given seed always gives the same data set
(times are relative to `now`, which defaults to the moment of loading).

Loading is idempotent: if the Item table has rows, nothing is written. Roles and users that already
exist (for example made by `make bootstrap-admin`) are kept. Rows go in with bulk INSERTs, so a
load takes a second or two. The caller's session commits.

    python -m devtools.demo_data      # migrate DATABASE_URL to head, then load (seed 7)
"""

from __future__ import annotations

import random
import struct
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from dataapi.models import (
    Base,
    Dealer,
    Dealer_History,
    Dealer_Notes,
    Item,
    Item_History,
    Item_Note,
    Item_Notes_Subject,
    Role,
    User,
)
from dataapi.models.purchase import Items_Notes, user_roles
from dataapi.registry import default_registry

N_ITEMS = 400
N_DEALERS = 60
N_NOTES = 600
DAYS = 120

ROLES = [("Admin", "admin"), ("Buyer", "buyer"), ("Viewer", "viewer")]

# username, email, phone, roles
USERS = [
    ("admin", "admin@example.com", "+46 70 000 00 01", ["Admin"]),
    ("clerk", "clerk@example.com", "+46 70 000 00 02", ["Buyer"]),
    ("anna", "anna@example.com", "+46 70 000 00 03", ["Buyer"]),
    ("johan", "johan@example.com", "+46 70 000 00 04", ["Buyer", "Viewer"]),
    ("viewer", "viewer@example.com", "+46 70 000 00 05", ["Viewer"]),
    ("newcomer", "newcomer@example.com", "+46 70 000 00 06", []),
]
BUYERS = ["clerk", "anna", "johan", "admin"]

CITIES = [  # name, postcode prefix, landline area code, lat, lng, weight
    ("Stockholm", "11", "8", 59.3293, 18.0686, 14),
    ("Göteborg", "41", "31", 57.7089, 11.9746, 7),
    ("Malmö", "21", "40", 55.6050, 13.0038, 5),
    ("Uppsala", "75", "18", 59.8586, 17.6389, 5),
    ("Västerås", "72", "21", 59.6099, 16.5448, 3),
    ("Örebro", "70", "19", 59.2753, 15.2134, 3),
    ("Linköping", "58", "13", 58.4108, 15.6214, 3),
    ("Norrköping", "60", "11", 58.5877, 16.1924, 2),
    ("Helsingborg", "25", "42", 56.0465, 12.6945, 2),
    ("Jönköping", "55", "36", 57.7826, 14.1618, 2),
    ("Lund", "22", "46", 55.7047, 13.1910, 2),
    ("Gävle", "80", "26", 60.6749, 17.1413, 2),
    ("Falun", "79", "23", 60.6065, 15.6355, 2),
    ("Mariefred", "64", "159", 59.2597, 17.2233, 2),
    ("Sigtuna", "19", "8", 59.6174, 17.7236, 2),
    ("Visby", "62", "498", 57.6348, 18.2948, 1),
    ("Kalmar", "39", "480", 56.6634, 16.3568, 1),
    ("Karlstad", "65", "54", 59.4022, 13.5115, 1),
]
STREETS = [
    "Storgatan",
    "Drottninggatan",
    "Kungsgatan",
    "Kyrkogatan",
    "Järnvägsgatan",
    "Skolgatan",
    "Parkvägen",
    "Ringvägen",
    "Åsgatan",
    "Prästgårdsvägen",
    "Björkvägen",
    "Hantverkargatan",
]
FIRST_NAMES = {
    "Female": [
        "Karin",
        "Margareta",
        "Birgitta",
        "Eva",
        "Ingrid",
        "Kerstin",
        "Maria",
        "Elsa",
        "Astrid",
        "Sofia",
    ],
    "Male": ["Lars", "Anders", "Per", "Johan", "Karl", "Nils", "Erik", "Olof", "Gunnar", "Sven"],
}
LAST_NAMES = [
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Lindqvist",
    "Bergström",
    "Lundgren",
    "Holm",
    "Sjöberg",
    "Wallin",
    "Engström",
    "Ek",
]
SHOP_NAMES = [
    "{city} Antik",
    "Antikhandeln i {city}",
    "{city} Kuriosa",
    "Gamla Ting {city}",
    "Allmoge & Antik {city}",
    "{last}s Antikhandel",
]
# The kinds of seller the names are made for, and the front end's dealer type of each.
DEALER_KINDS = [("Private", 26), ("Shop", 14), ("Estate", 10), ("Auction", 5), ("Flea market", 5)]
DEALER_TYPE = {
    "Private": "Private",
    "Estate": "Private",
    "Shop": "Market",
    "Flea market": "Market",
    "Auction": "Auction",
}

# The front end's vocabulary (a value outside these lists can blank a screen).
ITEM_STATES = ("In-Standby", "In-Progress", "In-Transit", "Completed")
ITEM_LOCATIONS = ("In-Dealer", "In-Transport", "In-Warehouse", "In-Shop", "In-Client")
DEALER_TYPES = ("Market", "Auction", "Private")

# category: (weight, types (the front end's), parts, (w, d, h) ranges in cm, purchase price range in SEK)
CATEGORIES: dict[str, tuple[int, list[str], list[str], tuple[tuple[int, int], ...], tuple[int, int]]] = {
    "Seating": (
        36,
        ["Dining Chair", "Easy Chair", "Armchair", "Sofa", "Stool", "Other Seating"],
        ["seat", "backrest", "legs", "stretchers", "cushions"],
        ((40, 220), (42, 95), (45, 110)),
        (150, 12000),
    ),
    "Tables": (
        20,
        ["Writing Desk", "Dining Table", "Nest of Tables", "Bedside Table", "Coffee Table", "Hall Table",
         "Side Table", "Other Table"],
        ["top", "legs", "leaves", "apron", "drawers"],
        ((40, 240), (35, 110), (40, 78)),
        (300, 9000),
    ),
    "Storages": (
        24,
        ["Sideboard", "Highboard", "Bookshelf", "Chest of Drawers", "Bar Cabinet", "Wardrobe", "Other Storage"],
        ["doors", "shelves", "drawers", "key", "hinges"],
        ((60, 220), (25, 65), (70, 220)),
        (300, 25000),
    ),
    "Lamps": (
        10,
        ["Floor Lamp", "Table Lamp", "Ceiling Lamp", "Wall Lamp", "Other Lamp"],
        ["shade", "base", "wiring"],
        ((15, 60), (15, 60), (30, 180)),
        (100, 6000),
    ),
    "Decorations": (
        10,
        ["Poster", "Porcelain", "Picture", "Other Decoration"],
        ["frame", "glass", "base"],
        ((10, 120), (2, 40), (10, 150)),
        (50, 8000),
    ),
}  # fmt: skip
WOODS = ["oak", "birch", "pine", "teak", "mahogany", "walnut", "elm", "rosewood", "beech", "ash"]
FINISHES = ["painted grey", "painted white", "painted blue", "original paint", "lacquered", "waxed"]
STYLES = [
    "Gustavian",
    "Rococo",
    "Karl Johan",
    "Allmoge",
    "Art Nouveau",
    "Art Deco",
    "Funkis",
    "Swedish Modern",
    "Mid-century",
]
MAKERS = [
    "Carl Malmsten",
    "Bruno Mathsson",
    "Josef Frank",
    "Svenskt Tenn",
    "Bodafors",
    "Nordiska Kompaniet",
    "Gemla",
    "Yngve Ekström",
]
# Item.issues as the front end writes and filters it: a list of {"location", "issue"}.
ISSUES = [
    ("leg", "loose joint"),
    ("leg", "repaired"),
    ("top", "scratches"),
    ("top", "water marks"),
    ("veneer", "lifting"),
    ("veneer", "missing piece"),
    ("paint", "worn"),
    ("upholstery", "worn"),
    ("upholstery", "stain"),
    ("drawer", "sticks"),
    ("door", "warped"),
    ("glass", "cracked"),
    ("wood", "old woodworm holes"),
    ("hinge", "loose"),
]
SHELVES = ["In-Warehouse", "In-Shop"]  # where an item stands between purchase and sale
# In-Transit: on its way from the dealer; In-Standby: in stock; In-Progress: reserved or being
# restored; Completed: sold.
STATES_OLD = [("In-Standby", 45), ("Completed", 38), ("In-Progress", 9), ("In-Transit", 8)]
STATES_NEW = [("In-Transit", 55), ("In-Standby", 35), ("In-Progress", 5), ("Completed", 5)]
SOURCES = ["estate", "auction", "private", "shop", "flea market"]

SUBJECTS = [
    "Condition",
    "Restoration",
    "Provenance",
    "Pricing",
    "Transport",
    "Upholstery",
    "Veneer",
    "Woodworm check",
    "Photography",
    "Customer request",
    "Valuation",
    "Paint analysis",
    "Maker's stamp",
    "Missing parts",
    "Cleaning",
    "Polishing",
    "Hardware",
    "Glass",
    "Marble top",
    "Storage",
    "Listing text",
    "Auction",
    "Export licence",
    "Insurance",
    "Delivery",
    "Reservation",
    "Consignment",
    "Pest treatment",
    "Rewiring",
    "Clock service",
    "Mirror glass",
    "Textiles",
    "Leather",
    "Cane seat",
    "Gilding",
    "Lock and key",
    "Drawer runners",
    "Feet",
    "Labels",
    "Documentation",
]
NOTE_TEXTS = [
    "Checked {part}: {issue}. Needs attention before sale.",
    "Customer asked about the {part}; sent extra photos.",
    "Bought together with the rest of the {style} set from {dealer}.",
    "Valued at {value} kr by the workshop.",
    "Delivery booked for week {week}.",
    "Stamp under the {part}, probably {maker}.",
    "Restoration quote from Verkstaden: {quote} kr.",
    "Photographed for the web shop, {n} pictures.",
    "Keep away from direct sunlight, {wood} is sensitive.",
    "Matching pieces may come from the same estate later.",
    "Reserved for a customer until Friday.",
    "Price lowered after two weeks in the shop.",
]
DEALER_NOTES = [  # subject, content
    ("Contact", "Prefers to be called after 18:00."),
    ("Contact", "Son handles the sale, call him first."),
    ("Payment", "Pays by invoice, 30 days."),
    ("Payment", "Swish on pick-up."),
    ("Opening hours", "Open Tue-Sat 11-17."),
    ("Pick-up", "Pick-up from the back entrance, narrow stairs."),
    ("Pick-up", "Needs two people and the big van."),
    ("Follow-up", "Has more furniture in the attic, call again in the spring."),
    ("Follow-up", "Wants a valuation of a Mora clock before selling."),
    ("Collection", "Estate to be emptied before the end of the month."),
]


def _prefix(model: str, field: str) -> str:
    """The first declared prefix of a file field (the front end's folder unless FILE_PREFIXES moves it)."""
    spec = default_registry().model(model).columns[field].file
    assert spec is not None
    return spec.prefixes[0]


def png(width: int, height: int, seed: str) -> bytes:
    """A real PNG (8-bit RGB, zlib-compressed): two colours from `seed` in diagonal bands."""
    rng = random.Random(seed)
    back = bytes(rng.randrange(60, 230) for _ in range(3))
    fore = bytes(rng.randrange(20, 120) for _ in range(3))
    rows = b"".join(
        b"\x00" + b"".join(fore if (x + y) // 8 % 2 else back for x in range(width)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def demo_images(session: Session) -> dict[str, bytes]:
    """Every object key the demo rows reference (item photos, profile pictures), with its image."""
    keys = session.scalars(
        text(
            """SELECT key FROM "Item", jsonb_array_elements_text(images) AS key
               UNION SELECT profile_picture FROM "User" WHERE profile_picture IS NOT NULL"""
        )
    ).all()
    return {key: png(48, 48, key) for key in sorted(keys) if "://" not in key}


def upload_demo_images(session: Session, s3: Any, bucket: str) -> int:
    """PUT the demo images into the bucket (image/png); returns how many."""
    images = demo_images(session)
    for key, data in images.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/png")
    return len(images)


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights)[0]


def _phone(rng: random.Random, area: str | None = None) -> str:
    """A mobile number, or a landline in `area` (a Swedish area code without the 0)."""
    if area is None:
        return (
            f"+46 7{rng.choice('0236')} {rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
        )
    return f"+46 {area} {rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}"


def _slug(name: str) -> str:
    """'Allmoge & Antik Malmö' -> 'allmoge-antik-malmo' (for example e-mail addresses)."""
    ascii_name = name.lower().translate(str.maketrans("åäöé", "aaoe"))
    return "-".join("".join(c if c.isalnum() else " " for c in ascii_name).split())


def _bulk(session: Session, model: Any, rows: list[dict[str, Any]]) -> list[Any]:
    """INSERT rows in multi-row statements; returns the new primary keys in the order of `rows`.

    pg8000 runs a plain executemany one row per round trip; with RETURNING, SQLAlchemy sends
    "insertmanyvalues" batches instead. Rows are padded to the same keys (missing = NULL); columns
    no row mentions keep their server default.
    """
    if not rows:
        return []
    table = model if isinstance(model, Table) else model.__table__
    keys = list(dict.fromkeys(key for row in rows for key in row))
    uniform = [{key: row.get(key) for key in keys} for row in rows]
    statement = insert(table).returning(table.primary_key.columns[0], sort_by_parameter_order=True)
    return list(session.scalars(statement, uniform))


def _counts(session: Session) -> dict[str, int]:
    return {
        table.name: session.scalar(select(func.count()).select_from(table)) or 0
        for table in Base.metadata.sorted_tables
    }


def _ensure_roles_and_users(session: Session) -> None:
    session.execute(
        pg_insert(Role).on_conflict_do_nothing(index_elements=["role"]),
        [{"role": role, "key": key} for role, key in ROLES],
    )
    for username, email, phone, roles in USERS:
        exists = session.scalar(
            select(User.id).where((func.lower(User.email) == email) | (User.username == username))
        )
        if exists is None:
            picture = f"{_prefix('User', 'profile_picture')}{username}.png" if roles else None
            session.execute(
                insert(User),
                [{"username": username, "email": email, "phone": phone, "profile_picture": picture}],
            )
    role_ids = dict(session.execute(select(Role.role, Role.id)).all())
    user_ids = dict(session.execute(select(User.email, User.id)).all())
    links = [
        {"user_id": user_ids[email], "role_id": role_ids[role]}
        for _, email, _, roles in USERS
        if email in user_ids
        for role in roles
    ]
    session.execute(pg_insert(user_roles).on_conflict_do_nothing(), links)


def _dealers(rng: random.Random, start: datetime) -> list[dict[str, Any]]:
    cities = [c[:5] for c in CITIES]
    weights = [c[5] for c in CITIES]
    rows = []
    for _ in range(N_DEALERS):
        city, post, area, lat, lng = rng.choices(cities, weights)[0]
        kind = _pick(rng, DEALER_KINDS)
        gender = rng.choice(["Female", "Male"])
        first, last = rng.choice(FIRST_NAMES[gender]), rng.choice(LAST_NAMES)
        row: dict[str, Any] = {
            "dealer_type": DEALER_TYPE[kind],
            "raw_address": f"{rng.choice(STREETS)} {rng.randint(1, 80)}, "
            f"{post}{rng.randint(1, 9)} {rng.randint(10, 99)} {city}",
            "coordinates": {
                "lat": round(lat + rng.uniform(-0.06, 0.06), 5),
                "lng": round(lng + rng.uniform(-0.1, 0.1), 5),
            },
            "created_at": start - timedelta(days=rng.randint(0, 400), minutes=rng.randint(0, 600)),
        }
        if kind == "Private":
            row |= {
                "dealer_name": f"{first} {last}",
                "phone": _phone(rng),
                "email": f"{_slug(first)}.{_slug(last)}@example.com" if rng.random() < 0.7 else None,
                "age": rng.randint(24, 88),
                "gender": gender,
            }
        elif kind == "Estate":
            row |= {
                "dealer_name": f"Dödsbo {last}",
                "phone": _phone(rng),
                "email": f"dodsbo.{_slug(last)}@example.com" if rng.random() < 0.4 else None,
                "age": rng.randint(70, 99),
            }
        elif kind == "Auction":
            name = f"Auktionshuset {city}" if rng.random() < 0.6 else f"{city} Auktionsverk"
            row |= {
                "dealer_name": name,
                "phone": _phone(rng, area),
                "email": f"info@{_slug(name)}.example.com",
            }
        elif kind == "Flea market":
            name = f"Loppis {city}" if rng.random() < 0.5 else f"{rng.choice(STREETS)}s Loppis"
            row |= {"dealer_name": name, "phone": _phone(rng)}
        else:
            name = rng.choice(SHOP_NAMES).format(city=city, last=last)
            row |= {
                "dealer_name": name,
                "phone": _phone(rng, area),
                "email": f"info@{_slug(name)}.example.com",
            }
        rows.append(row)
    return rows


def _item(rng: random.Random, created: datetime, article: str, now: datetime) -> dict[str, Any]:
    category = rng.choices(list(CATEGORIES), [c[0] for c in CATEGORIES.values()])[0]
    _, types, parts, sizes, (low, high) = CATEGORIES[category]
    age_days = (now - created).days
    state = _pick(rng, STATES_NEW if age_days < 14 else STATES_OLD)

    properties: dict[str, Any] = {}
    if rng.random() < 0.8:
        properties["color"] = rng.choice(WOODS) if rng.random() < 0.75 else rng.choice(FINISHES)
    if rng.random() < 0.6:
        properties["style"] = rng.choice(STYLES)
    if category == "Seating" and rng.random() < 0.6:
        properties["set_of"] = rng.choice([2, 2, 4, 4, 6, 6, 8, 10, 12])
    if rng.random() < 0.12:
        properties["maker"] = rng.choice(MAKERS)
    if rng.random() < 0.3:
        properties["period"] = f"{rng.choice(range(1760, 1970, 10))}s"

    price = None if rng.random() < 0.04 else round(rng.triangular(low, high, low + (high - low) * 0.15), -1)
    valuation = None
    if price is not None and (state != "In-Transit" or rng.random() < 0.4):
        valuation = int(round(price * rng.uniform(1.4, 3.2), -2))
    sold = None
    if state == "Completed":
        sold = int(round((valuation or (price or low) * 2) * rng.uniform(0.8, 1.1), -1))

    issues = [
        {"location": location, "issue": issue}
        for location, issue in rng.sample(ISSUES, rng.choice([0, 0, 0, 1, 1, 2, 3]))
    ]
    item_parts = sorted(rng.sample(parts, rng.randint(2, len(parts))))
    missing = rng.sample(item_parts, 1) if rng.random() < 0.1 else None

    row: dict[str, Any] = {
        "article_number": article,
        "reference_number": (
            f"INV-{created:%y%m}-{rng.randint(10, 999)}"
            if rng.random() < 0.35
            else (f"LOT-{rng.randint(100, 2999)}" if rng.random() < 0.15 else None)
        ),
        "category": category,
        "type": rng.choice(types),
        "properties": properties,
        "dimensions": {
            "width": rng.randint(*sizes[0]),
            "depth": rng.randint(*sizes[1]),
            "height": rng.randint(*sizes[2]),
        },
        "issues": issues,
        "parts": item_parts,
        "missing_parts": missing,
        "purchased_price": int(price) if price is not None else None,
        "valuation": valuation,
        "sold_price": sold,
        "metafields": {"source": rng.choice(SOURCES), **({"featured": True} if rng.random() < 0.05 else {})}
        if rng.random() < 0.5
        else None,
        "state": state,
        "location": (
            rng.choice(["In-Dealer", "In-Transport"])
            if state == "In-Transit"
            else ("In-Client" if state == "Completed" and rng.random() < 0.7 else rng.choice(SHELVES))
        ),
        "images": [
            f"{_prefix('Item', 'images')}{article}/{n}.png"
            for n in range(1, rng.choice([0, 1, 2, 3, 3, 4, 5, 6]) + 1)
        ],
        "created_at": created,
        "created_by": rng.choice(BUYERS),
    }
    return row


def _history(rng: random.Random, item_id: int, item: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """A plausible trail of edits leading to the item's current values, in time order."""
    created: datetime = item["created_at"]
    span = max(int((now - created).total_seconds()), 3600)
    user = item["created_by"]
    trail: list[tuple[str, Any, Any]] = [("state", None, "In-Transit")]
    state_path = {
        "In-Transit": [],
        "In-Standby": ["In-Standby"],
        "In-Progress": ["In-Standby", "In-Progress"],
        "Completed": (
            ["In-Standby", "In-Progress", "Completed"] if rng.random() < 0.3 else ["In-Standby", "Completed"]
        ),
    }[item["state"]]
    previous, shelf = "In-Transit", item["location"]
    if shelf == "In-Client":  # sold and delivered: it stood somewhere before
        shelf = rng.choice(SHELVES)
    for state in state_path:
        if state == "In-Standby" and shelf in SHELVES and rng.random() < 0.4:
            trail.append(("location", "In-Transport", shelf))
        trail.append(("state", previous, state))
        previous = state
    if item["location"] == "In-Client":
        trail.append(("location", shelf, "In-Client"))
    if item["purchased_price"] and rng.random() < 0.15:
        trail.append(
            ("purchased_price", int(item["purchased_price"] * rng.uniform(0.8, 1.2)), item["purchased_price"])
        )
    if item["valuation"] and rng.random() < 0.2:
        trail.append(("valuation", None, item["valuation"]))
    if item["sold_price"]:
        trail.append(("sold_price", None, item["sold_price"]))
    if item["properties"] and rng.random() < 0.1:
        before = dict(item["properties"])
        before.pop(rng.choice(list(before)))
        trail.append(("properties", before, item["properties"]))
    if item["images"] and rng.random() < 0.15:
        trail.append(("images", item["images"][:-1], item["images"]))
    rows = []
    # The creation entry comes right after the item; later edits spread until now.
    offsets = [rng.randint(5, 300), *sorted(rng.randint(300, span) for _ in trail[1:])]
    for n, ((column, old, new), offset) in enumerate(zip(trail, offsets, strict=True)):
        rows.append(
            {
                "item_id": item_id,
                "type": "create" if n == 0 else "update",
                "column_name": column,
                "from_value": old,
                "to_value": new,
                "recorded_time": min(created + timedelta(seconds=offset), now),
                "user_name": user if n == 0 else rng.choice(BUYERS),
            }
        )
    return rows


def _notes(
    rng: random.Random,
    items: list[dict[str, Any]],
    item_ids: list[int],
    dealers: list[dict[str, Any]],
    dealer_ids: list[int],
    now: datetime,
) -> tuple[list[dict[str, Any]], list[int], list[list[int]]]:
    """Notes on items (about one in eight covers several pieces bought together from one dealer).

    Returns the note rows, each note's subject index (into SUBJECTS) and its linked item ids.
    """
    dealer_names = dict(zip(dealer_ids, (d["dealer_name"] for d in dealers), strict=True))
    subject_weights = [1 / (n + 1) for n in range(len(SUBJECTS))]  # Condition, Restoration... most used
    rows, subjects, linked_items = [], [], []
    for _ in range(N_NOTES):
        index = rng.randrange(len(items))
        item = items[index]
        linked = {item_ids[index]}
        if item["dealer_id"] is not None and rng.random() < 0.12:
            for other in range(max(0, index - 6), min(len(items), index + 7)):
                if items[other]["dealer_id"] == item["dealer_id"] and rng.random() < 0.6:
                    linked.add(item_ids[other])
        issue = (
            item["issues"][0] if item["issues"] else {"location": rng.choice(item["parts"]), "issue": "wear"}
        )
        content = rng.choice(NOTE_TEXTS).format(
            part=issue["location"],
            issue=issue["issue"],
            style=item["properties"].get("style", "matching"),
            dealer=dealer_names.get(item["dealer_id"], "the seller"),
            value=item["valuation"] or 1000,
            week=(item["created_at"] + timedelta(days=rng.randint(3, 20))).isocalendar().week,
            maker=item["properties"].get("maker", rng.choice(MAKERS)),
            quote=rng.randrange(500, 8000, 100),
            n=len(item["images"]) or 3,
            wood=item["properties"].get("color") if item["properties"].get("color") in WOODS else "the wood",
        )
        age = max(int((now - item["created_at"]).total_seconds()), 120)
        rows.append(
            {
                "note_content": content,
                "creation_time": item["created_at"] + timedelta(seconds=rng.randint(60, age)),
            }
        )
        subjects.append(rng.choices(range(len(SUBJECTS)), subject_weights)[0])  # every note has one
        linked_items.append(sorted(linked))
    return rows, subjects, linked_items


def _dealer_records(
    rng: random.Random, dealers: list[dict[str, Any]], dealer_ids: list[int], now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Dealer_Notes and Dealer_History rows (history in time order)."""
    notes, history = [], []
    for dealer_id, dealer in zip(dealer_ids, dealers, strict=True):
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            subject, content = rng.choice(DEALER_NOTES)
            notes.append(
                {
                    "dealer_id": dealer_id,
                    "subject": subject,
                    "content": content,
                    "created_at": dealer["created_at"]
                    + timedelta(days=rng.randint(0, 30), hours=rng.randint(0, 8)),
                }
            )
        changes = [
            ("phone", _phone(rng), dealer["phone"]),
            ("raw_address", None, dealer["raw_address"]),
            ("item_count", max(dealer["bought"] - 1, 0), dealer["bought"]),
        ]
        if dealer.get("email"):
            changes.append(("email", None, dealer["email"]))
        if dealer["dealer_type"] != "Private":
            changes.append(("dealer_type", "Private", dealer["dealer_type"]))
        for column, old, new in rng.sample(changes, rng.choice([0, 1, 1, 2, 3])):
            history.append(
                {
                    "dealer_id": dealer_id,
                    "column_name": column,
                    "from_value": old,
                    "to_value": new,
                    "recorder_time": min(dealer["created_at"] + timedelta(days=rng.randint(1, 200)), now),
                }
            )
    history.sort(key=lambda row: row["recorder_time"])
    return notes, history


def load_demo_data(session: Session, *, seed: int = 7, now: datetime | None = None) -> dict[str, int]:
    """Load the demo data set unless items exist; returns the row count of every table."""
    session.execute(text("SELECT pg_advisory_xact_lock(7314)"))  # two loaders at once: one loads
    if session.scalar(select(func.count()).select_from(Item)):
        return _counts(session)
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    start = now - timedelta(days=DAYS)

    _ensure_roles_and_users(session)

    # Everything is generated first (dealers and subjects referenced by list index), so the
    # counters are known up front and each table is one bulk INSERT.
    dealers = _dealers(rng, start)
    dealer_weights = [rng.paretovariate(1.2) for _ in dealers]  # a few dealers sell a lot
    for idle in rng.sample(range(len(dealers)), 4):  # and some have sold nothing yet
        dealer_weights[idle] = 0.0

    # Items in creation order, so ids grow with created_at; article numbers count within a month.
    times = sorted(start + timedelta(seconds=rng.randint(0, DAYS * 86400)) for _ in range(N_ITEMS))
    per_month: Counter[str] = Counter()
    items, item_dealer = [], []
    for created in times:
        month = f"{created:%y%m}"
        per_month[month] += 1
        items.append(_item(rng, created, f"{month}-{per_month[month]:04d}", now))
        item_dealer.append(
            rng.choices(range(len(dealers)), dealer_weights)[0] if rng.random() < 0.93 else None
        )

    # Dealer.item_count, purchased_count and Item_Notes_Subject.notes_counter are kept by the
    # database's triggers (migration 0002); `bought` only feeds the dealers' history.
    dealer_ids = _bulk(session, Dealer, dealers)
    bought = Counter(d for d in item_dealer if d is not None)
    for index, dealer in enumerate(dealers):
        dealer["bought"] = bought[index]
    for item, dealer_index in zip(items, item_dealer, strict=True):
        item["dealer_id"] = None if dealer_index is None else dealer_ids[dealer_index]
    item_ids = _bulk(session, Item, items)

    notes, note_subject, note_items = _notes(rng, items, item_ids, dealers, dealer_ids, now)
    subject_ids = _bulk(session, Item_Notes_Subject, [{"subject": name} for name in SUBJECTS])
    for note, subject_index in zip(notes, note_subject, strict=True):
        note["subject_id"] = subject_ids[subject_index]
    note_ids = _bulk(session, Item_Note, notes)
    _bulk(
        session,
        Items_Notes,
        [
            {"item_id": i, "note_id": n}
            for n, linked in zip(note_ids, note_items, strict=True)
            for i in linked
        ],
    )

    history = [
        row
        for item_id, item in zip(item_ids, items, strict=True)
        for row in _history(rng, item_id, item, now)
    ]
    history.sort(key=lambda row: row["recorded_time"])
    _bulk(session, Item_History, history)

    dealer_notes, dealer_history = _dealer_records(rng, dealers, dealer_ids, now)
    _bulk(session, Dealer_Notes, dealer_notes)
    _bulk(session, Dealer_History, dealer_history)
    return _counts(session)


def main() -> None:
    """Migrate DATABASE_URL to head and load the demo data into it (once)."""
    from sqlalchemy import create_engine

    from dataapi.settings import get_settings
    from devtools.migrate import upgrade

    url = get_settings().database_url
    upgrade(url)
    engine = create_engine(url)
    try:
        with Session(engine) as session, session.begin():
            counts = load_demo_data(session)
    finally:
        engine.dispose()
    width = max(map(len, counts))
    for table, count in counts.items():
        print(f"{table:<{width}}  {count}")


if __name__ == "__main__":
    main()
