"""Fast inserts of generated rows: COPY on PostgreSQL, executemany elsewhere.

Why not `bulk_create`: it builds a model instance per row and, more to the point, applies
`auto_now_add`/`auto_now`, overwriting the past timestamps that history is made of. Rows here are
plain tuples in the writer's column order, written with COPY's text format on PostgreSQL (several
times faster than multi-row INSERTs for millions of rows) and with executemany elsewhere (SQLite gets
the same values Django's field conversion would give it; other backends go through that conversion).
Constraints, foreign keys and unique indexes apply as for any insert.
"""

import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    if isinstance(value, (datetime, date)):
        return value.isoformat()  # aware datetimes keep their offset; PostgreSQL stores UTC
    return str(value)  # Decimal, int, UUID


def _sqlite_converter(field, conn):
    """What `field.get_db_prep_save(value, conn)` returns on SQLite, for the types seeded rows hold,
    without its per-value cost (~20 µs through the connection proxy; these run millions of times)."""
    kind = (field.target_field if field.is_relation else field).get_internal_type()
    if kind == "UUIDField":
        return lambda v: None if v is None else v.hex
    if kind == "DateTimeField":
        tz = conn.timezone
        return lambda v: None if v is None else str(v.astimezone(tz).replace(tzinfo=None))
    if kind == "DateField":
        return lambda v: None if v is None else v.isoformat()
    return None  # str, int, bool and Decimal go to sqlite3 as they are (Django registers Decimal -> str)


class RowWriter:
    """Inserts tuples into one model's table; `fields` names the tuple's positions (model field names)."""

    def __init__(self, model: type[Model], fields: Sequence[str]):
        self.model = model
        self.fields = [model._meta.get_field(name) for name in fields]
        self.table = model._meta.db_table
        columns = [field.column for field in self.fields]
        quote = connection.ops.quote_name
        self._column_sql = ", ".join(quote(c) for c in columns)
        self._insert_sql = (
            f"INSERT INTO {quote(self.table)} ({self._column_sql}) VALUES ({', '.join(['%s'] * len(columns))})"
        )

    def _converters(self, conn) -> list:
        if conn.vendor == "sqlite":
            return [_sqlite_converter(field, conn) for field in self.fields]
        return [lambda v, field=field: field.get_db_prep_save(v, conn) for field in self.fields]

    def write(self, rows: Iterable[tuple]) -> int:
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows:
            return 0
        conn = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the proxy costs a lookup per use
        with conn.cursor() as cursor:
            if conn.vendor == "postgresql" and hasattr(cursor.cursor, "copy_expert"):
                buffer = io.StringIO()
                buffer.writelines("\t".join(map(_copy_text, row)) + "\n" for row in rows)
                buffer.seek(0)
                cursor.cursor.copy_expert(f"COPY {conn.ops.quote_name(self.table)} ({self._column_sql}) FROM STDIN",
                                          buffer)
            else:
                converters = list(enumerate(self._converters(conn)))
                active = [(k, f) for k, f in converters if f is not None]
                params = []
                for row in rows:
                    values = list(row)
                    for k, convert in active:
                        values[k] = convert(values[k])
                    params.append(values)
                cursor.executemany(self._insert_sql, params)
        return len(rows)


class RowUpdater:
    """`UPDATE table SET fields WHERE pk = ?` for many rows; tuples are (*values, pk).

    Cheaper than `bulk_update`, whose CASE WHEN expressions cost more to build than the update itself.
    Bypasses auto_now, which is the point for backdated rows.
    """

    def __init__(self, model: type[Model], fields: Sequence[str]):
        self._writer = RowWriter(model, [*fields, model._meta.pk.name])
        quote = connection.ops.quote_name
        sets = ", ".join(f"{quote(field.column)} = %s" for field in self._writer.fields[:-1])
        self._sql = f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {quote(model._meta.pk.column)} = %s"

    def write(self, rows: list[tuple]) -> int:
        if not rows:
            return 0
        conn = connections[DEFAULT_DB_ALIAS]
        converters = [(k, f) for k, f in enumerate(self._writer._converters(conn)) if f is not None]
        params = []
        for row in rows:
            values = list(row)
            for k, convert in converters:
                values[k] = convert(values[k])
            params.append(values)
        with conn.cursor() as cursor:
            cursor.executemany(self._sql, params)
        return len(rows)
