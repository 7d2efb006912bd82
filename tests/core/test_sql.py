"""core.sql: the hand-written SQL helpers of the checkout's hot path."""

import pytest
from django.db import IntegrityError, connection, transaction

from catalog.models import Category
from core.sql import Prepared, StatementBatch, execute_without_waiting_for_disk, id_array, insert_statement, table
from tests.factories import CategoryFactory

pytestmark = pytest.mark.django_db


def test_insert_statement_writes_what_the_orm_reads_back():
    sql, params = insert_statement(Category, ("name", "parent_id", "sort_order", "is_active", "created_at",
                                              "updated_at"),
                                   [("冻品", None, 3, True, "2026-11-23T08:00:00+08:00", "2026-11-23T08:00:00+08:00"),
                                    ("干货", None, 4, False, "2026-11-23T08:00:00+08:00", "2026-11-23T08:00:00+08:00")])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    assert sorted(Category.objects.values_list("name", "sort_order", "is_active")) == [
        ("冻品", 3, True), ("干货", 4, False)]


def test_insert_statement_needs_rows():
    with pytest.raises(ValueError):
        insert_statement(Category, ("name",), [])


def test_a_batch_runs_every_statement_and_a_failure_aborts_the_transaction():
    parent = CategoryFactory(name="水产")
    batch = StatementBatch()
    batch.add(f"UPDATE {table(Category)} SET name = %s WHERE id = %s", ["水产冻品", parent.pk])
    batch.add(f"UPDATE {table(Category)} SET sort_order = %s WHERE id = %s", [99, parent.pk])
    with connection.cursor() as cursor:
        batch.run(cursor)
    assert Category.objects.filter(pk=parent.pk).values_list("name", "sort_order").get() == ("水产冻品", 99)

    failing = StatementBatch()
    failing.add(f"UPDATE {table(Category)} SET name = %s WHERE id = %s", ["不应保存", parent.pk])
    failing.add(f"UPDATE {table(Category)} SET name = NULL WHERE id = %s", [parent.pk])  # NOT NULL
    with pytest.raises(IntegrityError):
        with transaction.atomic(), connection.cursor() as cursor:
            failing.run(cursor)
    assert Category.objects.get(pk=parent.pk).name == "水产冻品"


@pytest.mark.django_db(transaction=True)
def test_a_prepared_read_answers_like_the_plain_statement_every_time():
    a, b = CategoryFactory(name="甲"), CategoryFactory(name="乙")
    statement = Prepared("test_category_names", f"SELECT name FROM {table(Category)} WHERE id = ANY(%s) ORDER BY id",
                         ("bigint[]",))
    if connection.vendor != "postgresql":
        pytest.skip("PREPARE is PostgreSQL's")
    for _ in range(7):  # past the fifth run, where PostgreSQL may switch to a generic plan
        with connection.cursor() as cursor:
            statement.execute(cursor, [[a.pk, b.pk]])
            assert cursor.fetchall() == [("甲",), ("乙",)]
    connection.close()  # a new connection prepares it again
    with connection.cursor() as cursor:
        statement.execute(cursor, [[b.pk]])
        assert cursor.fetchall() == [("乙",)]


@pytest.mark.django_db(transaction=True)
def test_a_prepared_read_is_planned_once_not_on_every_execute():
    # PostgreSQL's auto mode keeps making custom plans for a statement whose parameters change its
    # estimates (an array's length); preparing would then save nothing.
    if connection.vendor != "postgresql":
        pytest.skip("PREPARE is PostgreSQL's")
    ids = [CategoryFactory().pk for _ in range(3)]
    statement = Prepared("test_planned_once", f"SELECT name FROM {table(Category)} WHERE id = ANY(%s) ORDER BY id",
                         ("bigint[]",))
    for n in range(1, 9):
        with connection.cursor() as cursor:
            statement.execute(cursor, [ids[:1 + n % 3]])
            assert len(cursor.fetchall()) == 1 + n % 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = %s",
                       [statement.name])
        assert cursor.fetchone() == (8, 0)
        cursor.execute("SHOW plan_cache_mode")  # the setting did not outlive each statement
        assert cursor.fetchone() == ("auto",)


@pytest.mark.django_db(transaction=True)
def test_a_statement_the_session_lost_is_prepared_again_outside_a_transaction():
    if connection.vendor != "postgresql":
        pytest.skip("PREPARE is PostgreSQL's")
    a = CategoryFactory(name="甲")
    statement = Prepared("test_lost_once", f"SELECT name FROM {table(Category)} WHERE id = %s", ("bigint",))
    with connection.cursor() as cursor:
        statement.execute(cursor, [a.pk])
        cursor.execute("DEALLOCATE ALL")  # what a pooler or DISCARD ALL does behind our back
        statement.execute(cursor, [a.pk])
        assert cursor.fetchall() == [("甲",)]


def test_prepared_needs_a_type_per_placeholder():
    with pytest.raises(ValueError):
        Prepared("test_bad", "SELECT %s, %s", ("int",))


@pytest.mark.django_db(transaction=True)
def test_a_relaxed_write_is_stored_and_leaves_the_session_durable():
    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    category = CategoryFactory(name="冻虾")
    with connection.cursor() as cursor:
        execute_without_waiting_for_disk(cursor, f"UPDATE {table(Category)} SET sort_order = %s WHERE id = %s",
                                         [42, category.pk])
        assert cursor.rowcount == 1
        cursor.execute("SELECT current_setting('synchronous_commit')")
        assert cursor.fetchone() == ("on",)  # only that statement's commit was relaxed
    assert Category.objects.get(pk=category.pk).sort_order == 42

    with transaction.atomic(), connection.cursor() as cursor:  # inside a transaction: an ordinary statement
        execute_without_waiting_for_disk(cursor, f"UPDATE {table(Category)} SET sort_order = %s WHERE id = %s",
                                         [43, category.pk])
        cursor.execute("SELECT current_setting('synchronous_commit')")
        assert cursor.fetchone() == ("on",)
    assert Category.objects.get(pk=category.pk).sort_order == 43


@pytest.mark.parametrize("ids", [[], [7], [3, 1, 2**63 - 1, 3]])
def test_an_id_array_reads_back_as_the_same_bigint_array(ids):
    """The text `id_array` writes is the array a bigint[] parameter takes: the same ids, in order."""
    assert id_array(ids) == "{" + ",".join(map(str, ids)) + "}"
    assert id_array(iter(ids)) == id_array(ids)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::bigint[]", [id_array(ids)])
            assert cursor.fetchone()[0] == ids
