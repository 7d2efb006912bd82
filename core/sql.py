"""Hand-written SQL for the few hot paths where the ORM's per-statement cost matters.

On PostgreSQL psycopg2 adapts the Python values itself (str, int, bool, Decimal, date, aware
datetime, UUID), exactly as the ORM ends up sending them; elsewhere (SQLite for `make run`) they go
through the model fields' own `get_db_prep_save`. Column names come from the models, so a renamed
column breaks loudly in tests, not silently.
"""

from functools import lru_cache

from django.db import connection


@lru_cache(maxsize=256)
def _insert_head(model, field_names: tuple[str, ...]) -> tuple[str, str, tuple]:
    fields = tuple(model._meta.get_field(name) for name in field_names)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    head = f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) VALUES "
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return head, row, fields


def insert_statement(model, field_names: tuple[str, ...], rows) -> tuple[str, list]:
    """One INSERT of many rows: (sql, params). `rows` are tuples in `field_names` order."""
    head, row_sql, fields = _insert_head(model, field_names)
    params = []
    count = 0
    native = connection.vendor == "postgresql"
    for row in rows:
        count += 1
        if native:  # psycopg2 adapts str, int, bool, Decimal, date, aware datetime and UUID itself
            params.extend(row)
        else:
            params.extend(field.get_db_prep_save(value, connection) for field, value in zip(fields, row))
    if not count:
        raise ValueError("insert_statement needs at least one row")
    return head + ", ".join([row_sql] * count), params


def column(model, field_name: str) -> str:
    """The quoted column of a model field, for hand-written SQL."""
    return connection.ops.quote_name(model._meta.get_field(field_name).column)


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def prep(model, field_name: str, value):
    """A value as the model field would write it (UUIDs on SQLite, aware datetimes, decimals)."""
    if connection.vendor == "postgresql":
        return value
    return model._meta.get_field(field_name).get_db_prep_save(value, connection)


class StatementBatch:
    """Statements sent together: one round trip on PostgreSQL, one by one elsewhere.

    For writes whose outcome is already decided (rows locked and checked beforehand): any failure
    still raises and aborts the surrounding transaction. psycopg2 binds parameters on the client,
    so several `;`-separated statements travel as one query string.
    """

    def __init__(self):
        self.statements: list[tuple[str, list]] = []

    def add(self, sql: str, params=()) -> None:
        self.statements.append((sql, list(params)))

    def run(self, cursor) -> None:
        if not self.statements:
            return
        if connection.vendor == "postgresql":
            sql = ";\n".join(statement for statement, _ in self.statements)
            params = [value for _, values in self.statements for value in values]
            cursor.execute(sql, params)
        else:
            for statement, params in self.statements:
                cursor.execute(statement, params)
