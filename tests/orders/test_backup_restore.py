"""README "Backups": a `pg_dump -Fc` of the database restored with `pg_restore` into a fresh
database holds the same orders, payments and stock ledger — every stock's on-hand and reserved
still equal the sums of its moves, and equal what they were before the dump."""

import shutil
import subprocess
import uuid

import psycopg2
import pytest
from django.db import connection

from logistics.models import Stock, StockMove
from logistics.selectors import stock_ledger_drift
from orders.models import Order, OrderLine, Payment

from .test_checkout_lines import checkout, line

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]  # committed rows, for pg_dump


def _ledger_sql() -> str:
    stock, move = Stock._meta.db_table, StockMove._meta.db_table
    return (f"SELECT s.id, s.on_hand, s.reserved, COALESCE(SUM(m.on_hand_delta), 0), COALESCE(SUM(m.reserved_delta), 0)"
            f" FROM {stock} s LEFT JOIN {move} m ON m.stock_id = s.id GROUP BY s.id ORDER BY s.id")


def _counts_sql() -> str:
    return " UNION ALL ".join(f"SELECT '{model.__name__}', COUNT(*) FROM {model._meta.db_table}"
                              for model in (Order, OrderLine, Payment, StockMove))


def _snapshot(cursor) -> tuple[list, list]:
    cursor.execute(_ledger_sql())
    ledger = cursor.fetchall()
    cursor.execute(_counts_sql())
    return ledger, sorted(cursor.fetchall())


def _client_args(db: dict) -> tuple[list[str], dict]:
    args = ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"] or "postgres"]
    env = {"PGPASSWORD": db["PASSWORD"]} if db["PASSWORD"] else {}
    return args, env


def _run(program: str, *args: str, env: dict) -> None:
    import os

    result = subprocess.run([shutil.which(program) or f"/usr/bin/{program}", *args], env={**os.environ, **env},
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, f"{program}: {result.stderr}"


def test_a_dump_restored_into_a_fresh_database_has_the_same_ledger_and_orders(buyer, rules, shrimp, squid, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump is PostgreSQL's")
    for lines in ([line(shrimp, "3"), line(squid, "2")], [line(squid, "6")], [line(shrimp, "3")]):
        response = checkout(buyer, lines)
        assert response.status_code == 201, response.content
    assert stock_ledger_drift() == []
    with connection.cursor() as cursor:
        before = _snapshot(cursor)
    ledger, counts = before
    assert dict(counts) == {"Order": 3, "OrderLine": 4, "Payment": 3, "StockMove": 2 + 4}
    assert all(on_hand == moved_on_hand and reserved == moved_reserved
               for _, on_hand, reserved, moved_on_hand, moved_reserved in ledger)

    db = connection.settings_dict
    args, env = _client_args(db)
    dump = tmp_path / "seafood.dump"
    scratch = f"{db['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    _run("pg_dump", "-Fc", *args, "-d", db["NAME"], "-f", str(dump), env=env)
    _run("createdb", *args, scratch, env=env)
    try:
        _run("pg_restore", "--no-owner", "--exit-on-error", *args, "-d", scratch, str(dump), env=env)
        restored = psycopg2.connect(host=args[1], port=args[3], user=args[5], password=db["PASSWORD"] or None,
                                    dbname=scratch)
        try:
            with restored.cursor() as cursor:
                after = _snapshot(cursor)
        finally:
            restored.close()
    finally:
        _run("dropdb", *args, "--if-exists", scratch, env=env)

    assert after == before
