"""The adoption at scale: a Flask-schema database with N items (and proportionate notes, links,
history, dealers), built with generate_series, then `make adopt-check` and the upgrade, timed,
with row counts before and after. Not part of `make bench` (it takes a while):

    python -m bench.adoption --items 100000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from devtools.adopt import check, row_counts
from devtools.migrate import upgrade
from devtools.pgcluster import Cluster

G = "https://beyoappv5.s3.amazonaws.com/PurchaseAppReact"
R = "https://beyoappv5.s3.eu-north-1.amazonaws.com/PurchaseAppReact"


def fill(items: int) -> list[str]:
    dealers, notes = max(10, items // 20), items + items // 2
    return [
        """INSERT INTO "Role" (id, role, key) VALUES (1, 'Admin', 'admin'), (2, 'Worker', 'worker')""",
        """INSERT INTO "User" (id, username, email, phone, password, profile_picture, metafields)
           SELECT i, 'user' || i, 'user' || i || '@example.com', '-', 'abcdefg',
                  'https://beyoappv5.s3.amazonaws.com/profiles_pictures/p' || i || '.webp', 'null'
           FROM generate_series(1, 50) i""",
        """INSERT INTO user_roles SELECT i, 1 + (i % 2) FROM generate_series(1, 50) i""",
        f"""INSERT INTO "Dealer" (id, dealer_type, dealer_name, email, coordinates, created_at)
           SELECT i, (ARRAY['Market', 'Auction', 'Private'])[1 + i % 3], 'Dealer ' || i, 'd' || i || '@x.se',
                  CASE WHEN i % 4 = 0 THEN 'null'::jsonb ELSE '{{"lat": 59.3, "lng": 18.0}}' END,
                  timestamp '2023-01-01' + i * interval '1 hour'
           FROM generate_series(1, {dealers}) i""",
        """INSERT INTO "Item_Notes_Subject" (id, subject) SELECT i, 'Subject ' || i FROM generate_series(1, 40) i""",
        f"""INSERT INTO "Item" (id, article_number, category, type, properties, issues, purchased_price, state,
                  location, images, created_at, created_by, dealer_id)
           SELECT i, 'A-' || i, 'Seating', 'Dining Chair',
                  CASE WHEN i % 3 = 0 THEN jsonb_build_object('Set Of', 1 + i % 6)
                       ELSE jsonb_build_object('set_of', 1 + i % 6) END,
                  CASE WHEN i % 10 = 0 THEN 'null'::jsonb ELSE '[]'::jsonb END, 100 + i % 900,
                  'In-Progress', 'In-Warehouse',
                  jsonb_build_array('{G}/snapshot_' || i || '.webp', '{R}/IMG_' || i || '.webp'),
                  timestamp '2024-01-01' + i * interval '1 minute', 'user' || (1 + i % 50),
                  CASE WHEN i % 50 = 0 THEN NULL ELSE 1 + i % {dealers} END
           FROM generate_series(1, {items}) i""",
        f"""INSERT INTO "Item_Note" (id, note_content, creation_time, subject_id)
           SELECT i, 'Note ' || i, timestamp '2024-02-01' + i * interval '1 minute', 1 + i % 40
           FROM generate_series(1, {notes}) i""",
        f"""INSERT INTO "Items_Notes" SELECT 1 + (i - 1) % {items}, i FROM generate_series(1, {notes}) i""",
        f"""INSERT INTO "Items_Notes" SELECT 1 + (i * 7) % {items}, i FROM generate_series(1, {notes}, 3) i
           ON CONFLICT DO NOTHING""",
        f"""INSERT INTO "Item_History" (id, column_name, from_value, to_value, recorded_time, item_id, type, user_name)
           SELECT i, 'state', '"In-Standby"', '"In-Progress"', timestamp '2024-03-01' + i * interval '1 second',
                  1 + i % {items}, 'update', 'user1'
           FROM generate_series(1, {items * 3}) i""",
        f"""INSERT INTO "Dealer_Notes" (id, subject, content, created_at, dealer_id)
           SELECT i, 'Visit', 'Call first', timestamp '2023-06-01', 1 + i % {dealers}
           FROM generate_series(1, {dealers * 2}) i""",
        f"""INSERT INTO "Dealer_History" (id, column_name, from_value, to_value, recorder_time, dealer_id)
           SELECT i, 'phone', 'null', '"1"', timestamp '2023-07-01', 1 + i % {dealers}
           FROM generate_series(1, {dealers * 2}) i""",
        """INSERT INTO "Item_Stats_Current" (id, stats_for) SELECT i, 's' || i FROM generate_series(1, 10) i""",
        "ANALYZE",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    pg = Cluster.create()
    try:
        pg.sql("CREATE DATABASE adoption")
        url = pg.url("adoption")
        upgrade(url, "24091ad94d4c")
        engine = create_engine(url, poolclass=NullPool)
        started = time.perf_counter()
        with engine.begin() as conn:
            for statement in fill(args.items):
                conn.execute(text(statement))
        print(f"built the Flask database in {time.perf_counter() - started:.1f} s")
        with engine.connect() as conn:
            before = row_counts(conn)
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            status = check(url)
        print(f"adopt-check: exit {status} in {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        upgrade(url)
        print(f"upgrade to head: {time.perf_counter() - started:.2f} s")
        with engine.connect() as conn:
            after = row_counts(conn)
        engine.dispose()
        moved = {"public.Item_Stats_Current": "legacy.Item_Stats_Current"}
        print(f"{'table':<30} {'before':>9} {'after':>9}")
        for table, n in before.items():
            print(f"{table:<30} {n:>9} {after[moved.get(table, table)]:>9}")
        print(f"{'legacy.user_password':<30} {'':>9} {after['legacy.user_password']:>9}")
    finally:
        pg.stop(remove=True)


if __name__ == "__main__":
    main()
