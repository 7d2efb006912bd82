"""Hand-written SQL for the few hot paths where the ORM's per-statement cost matters.

On PostgreSQL psycopg2 adapts the Python values itself (str, int, bool, Decimal, date, aware
datetime, UUID), exactly as the ORM ends up sending them; elsewhere (SQLite for `make run`) they go
through the model fields' own `get_db_prep_save`. Column names come from the models, so a renamed
column breaks loudly in tests, not silently.
"""

import weakref
from contextlib import contextmanager
from functools import lru_cache

from django.db import DatabaseError, connection, transaction
from django.db.models.base import ModelState


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


def id_array(values) -> str:
    """Integers as the text of a PostgreSQL array ('{1,2,3}'), for a bigint[] parameter: psycopg2
    writes a Python list as an ARRAY[1, 2, 3] expression, which PostgreSQL parses and psycopg2 builds
    far more slowly (for 50 ids, a third of a one-statement read's time, and most of its Python)."""
    return "{" + ",".join([str(int(value)) for value in values]) + "}"


def parameter_type(model, field_name: str, array: bool = False) -> str:
    """The PostgreSQL type a prepared statement's parameter for this field takes: the column's
    type without its length or precision (the column itself still applies them on insert, and
    refuses a value too long, where a cast to varchar(n) would silently cut it)."""
    field = model._meta.get_field(field_name)
    kind = field.db_type(connection).split("(")[0].strip()
    return kind + "[]" if array else kind


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


_DEFAULT = object()  # stands for "call the field's default"


@lru_cache(maxsize=None)
def _field_defaults(model) -> tuple[dict, tuple]:
    """A model's defaults per column: fixed ones as values, callable ones (uuid4, now) listed."""
    fixed, called = {}, []
    for field in model._meta.concrete_fields:
        if field.has_default() and callable(field.default):
            called.append(field)
        else:
            fixed[field.attname] = field.get_default()
    return fixed, tuple(called)


def written_instance(model, values: dict):
    """The model instance of a row written (or read) by hand-written SQL, built as Model.from_db()
    builds a loaded row: the values set directly, by attname (`order_id`, not `order`), without
    Model.__init__'s per-field work and descriptors. Columns left out get their defaults, as
    Model(...) would give them. No post_init signal is sent: none of the models built this way
    has a receiver (no image or generic-relation fields)."""
    fixed, called = _field_defaults(model)
    instance = model.__new__(model)
    state = instance._state = ModelState()
    state.adding, state.db = False, connection.alias
    attributes = instance.__dict__
    attributes.update(fixed)
    for field in called:
        if field.attname not in values:
            attributes[field.attname] = field.get_default()
    attributes.update(values)
    return instance


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


_PREPARED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # raw connection -> names prepared on it


INVALID_SQL_STATEMENT_NAME = "26000"  # PostgreSQL: EXECUTE of a statement this session does not have


class PreparedStatementLost(Exception):
    """The session no longer has a statement we prepared on it (someone ran DEALLOCATE/DISCARD,
    or a pooler handed us another server session). The registry for this connection is cleared:
    run the whole unit of work again and the statement is prepared anew."""


@contextmanager
def _noticing_lost_statements():
    try:
        yield
    except DatabaseError as error:
        if getattr(error.__cause__, "pgcode", None) == INVALID_SQL_STATEMENT_NAME:
            _PREPARED.pop(connection.connection, None)
            raise PreparedStatementLost() from error
        raise


class Prepared:
    """A read PostgreSQL parses and plans once per connection (PREPARE, then EXECUTE).

    For statements run on every checkout, where planning a four-table join costs more than
    running it. `sql` uses `%s` placeholders; `types` are their PostgreSQL types, in order. On
    other databases (SQLite for `make run`) the statement simply runs as written. A prepared
    statement lives as long as its connection; PostgreSQL re-plans it by itself after a schema
    change, and a new connection prepares it again.
    """

    # Every statement by name, for tools that read what a session ran (tests of the lock order).
    registry: dict[str, "Prepared"] = {}

    def __init__(self, name: str, sql: str, types: tuple[str, ...]):
        self.name, self.sql, self.types = name, sql, types
        numbered = sql
        for index in range(1, len(types) + 1):
            numbered = numbered.replace("%s", f"${index}", 1)
        if "%s" in numbered:
            raise ValueError(f"{name}: more placeholders than types")
        self._statements(numbered, ["%s"] * len(types))

    def _statements(self, numbered: str, arguments: list[str]) -> None:
        """The PREPARE of `numbered` ($1, $2, ...) and the EXECUTE that passes `arguments`."""
        Prepared.registry[self.name] = self
        self.prepare_sql = f"PREPARE {self.name} ({', '.join(self.types)}) AS {numbered}"
        # PostgreSQL's default (plan_cache_mode = auto) may keep planning a statement afresh for
        # every EXECUTE: it does for checkout's read, whose custom plans look cheaper than the
        # generic one because they know the basket's length. Planning a ten-table join then costs
        # more than running it, which is what preparing was meant to save. SET LOCAL holds for this
        # statement's transaction only (the implicit one of the query string, in autocommit).
        self.execute_sql = (f"SET LOCAL plan_cache_mode = force_generic_plan;\n"
                            f"EXECUTE {self.name} ({', '.join(arguments)})")

    @classmethod
    def named(cls, name: str, sql: str, types: dict[str, str]) -> "Prepared":
        """A PostgreSQL-only statement whose parameters have names: `%(name)s` in `sql`, each
        may appear several times (one order id for every row a write inserts). Run it with
        `execute_sql` and `arguments({name: value})`. The arguments are cast to their declared
        types in the EXECUTE, so an array of NULLs or an empty array still has its type."""
        statement = cls.__new__(cls)
        statement.name, statement.sql, statement.types = name, None, tuple(types.values())
        statement.names = tuple(types)
        numbered = sql
        for index, key in enumerate(types, start=1):
            if f"%({key})s" not in numbered:
                raise ValueError(f"{name}: parameter {key} is not used")
            numbered = numbered.replace(f"%({key})s", f"${index}")
        if "%(" in numbered:
            raise ValueError(f"{name}: a parameter without a type")
        statement._statements(numbered, [f"%s::{t}" for t in statement.types])
        return statement

    def arguments(self, values: dict) -> list:
        """The EXECUTE's parameters, in order, from a dict with exactly the statement's names."""
        if values.keys() != set(self.names):
            raise ValueError(f"{self.name}: arguments {sorted(values.keys() ^ set(self.names))} do not match")
        return [values[key] for key in self.names]

    def ensure(self, cursor) -> None:
        """PREPARE on this connection unless done already (PostgreSQL only)."""
        raw = connection.connection
        names = _PREPARED.setdefault(raw, set())
        if self.name not in names:
            cursor.execute(self.prepare_sql)  # not transactional: it outlives a rollback
            names.add(self.name)

    def execute(self, cursor, params, *, without_waiting_for_disk: bool = False) -> None:
        """EXECUTE it (PREPARE first on a new connection). In autocommit mode a statement the
        session lost is prepared again and run once more; inside a transaction that is not
        possible, and PreparedStatementLost tells the caller to run its unit of work again.

        `without_waiting_for_disk`: see execute_without_waiting_for_disk."""
        if connection.vendor != "postgresql":
            cursor.execute(self.sql, params)
            return
        run = execute_without_waiting_for_disk if without_waiting_for_disk else _plain
        for attempt in (1, 2):
            self.ensure(cursor)
            try:
                with _noticing_lost_statements():
                    run(cursor, self.execute_sql, params)
                return
            except PreparedStatementLost:
                if attempt == 2 or connection.in_atomic_block:
                    raise


def _plain(cursor, sql: str, params) -> None:
    cursor.execute(sql, params)


def execute_without_waiting_for_disk(cursor, sql: str, params) -> None:
    """Run one write that may be lost in a crash without harm (a diagnostic, the dev WeChat Pay
    simulator's own row), committed without waiting for the WAL to reach the disk.

    Only on PostgreSQL and only in autocommit mode: inside someone's transaction the statement
    runs as usual, so it can never relax the durability of that transaction's other writes.
    `cursor.rowcount` is the statement's, as usual.
    """
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # One query string = one implicit transaction; SET LOCAL ends with it.
        cursor.execute("SET LOCAL synchronous_commit TO off;\n" + sql, params)
    else:
        cursor.execute(sql, params)


class Transaction:
    """A transaction whose BEGIN travels with its first statement and whose COMMIT travels with
    its last batch: two round trips fewer than `transaction.atomic()` on a hot path.

        with Transaction() as tx:
            tx.execute(sql, params)              # BEGIN; sql
            tx.execute_prepared(statement, params)
            tx.commit_with(batch)                # batch; COMMIT

    Leaving the block without `commit_with` (an exception, or an early return) rolls back.

    Only on PostgreSQL in autocommit mode. Inside someone's atomic block, or on another
    database, the same calls run inside `transaction.atomic()` (a savepoint when nested), so
    the outer transaction keeps the last word; the statements are the same either way.
    """

    def __init__(self):
        self.pipelined = connection.vendor == "postgresql" and not connection.in_atomic_block
        self.committed = False
        self._begin_pending = self.pipelined
        self._atomic = None
        self.cursor = None

    def __enter__(self) -> "Transaction":
        if not self.pipelined:
            self._atomic = transaction.atomic()
            self._atomic.__enter__()
        self.cursor = connection.cursor()
        return self

    def _run(self, sql: str, params) -> None:
        if self._begin_pending:
            sql = "BEGIN;\n" + sql
            self._begin_pending = False
        self.cursor.execute(sql, params)

    def execute(self, sql: str, params=()) -> None:
        self._run(sql, list(params))

    def execute_prepared(self, statement: "Prepared", params) -> None:
        if connection.vendor != "postgresql":
            self.cursor.execute(statement.sql, params)
            return
        statement.ensure(self.cursor)  # once per connection, on its own round trip
        with _noticing_lost_statements():
            self._run(statement.execute_sql, params)

    def commit_with(self, batch: "StatementBatch") -> None:
        if self.pipelined:
            statements = batch.statements + [("COMMIT", [])]
            with _noticing_lost_statements():  # the batch may EXECUTE a prepared write
                self._run(";\n".join(sql for sql, _ in statements), [v for _, values in statements for v in values])
        else:
            with _noticing_lost_statements():
                batch.run(self.cursor)
        self.committed = True

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if self.pipelined:
                if not self.committed and not self._begin_pending:
                    self._rollback()
            else:
                self._atomic.__exit__(exc_type, exc, tb)
        finally:
            self.cursor.close()
        return False

    def _rollback(self) -> None:
        try:
            self.cursor.execute("ROLLBACK")
        except Exception:
            # A connection that cannot even roll back is not handed to the next request.
            connection.close()
