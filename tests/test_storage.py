"""Storage: schema migrations step by step, exact money, and aware timestamps — on SQLite, and on
PostgreSQL when PAYSYNC_TEST_POSTGRES_URL names a server (.ci/run starts one)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from peewee import Database, PostgresqlDatabase
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator
from playhouse.migrate import migrate as run_operations

from storage.db import (
    DatabaseConfigError,
    close_database,
    durable_commits,
    make_database,
    open_database,
    write_transaction,
)
from storage.migrations import LATEST_VERSION, SchemaTooNewError, current_version, migrate
from storage.models import (
    ALL_MODELS,
    PROCORE_SIDE_MODELS,
    REAL_WORLD_MODELS,
    SCHEMA_3_COLUMNS,
    SCHEMA_6_COLUMNS,
    BillPayment,
    BillPaymentApplication,
    CompanyFile,
    ProcoreProject,
    ProcoreVendor,
    SchemaVersion,
    Setting,
    SyncRun,
    database_proxy,
)
from storage.settings_store import SCHEDULE_CUTOFF, set_setting
from sync.quickbooks.cutoff import schedule_cutoff

POSTGRES_URL = os.environ.get("PAYSYNC_TEST_POSTGRES_URL")


def _backends() -> list[Any]:
    return [
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(
                    not POSTGRES_URL,
                    reason="PAYSYNC_TEST_POSTGRES_URL not set (bash .ci/run starts PostgreSQL and sets it)",
                ),
            ],
        ),
    ]


@pytest.fixture(params=_backends())
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A connected database with no PaySync tables at all."""
    url = POSTGRES_URL if request.param == "postgres" else f"sqlite:///{tmp_path / 'storage.db'}"
    db = make_database(url)
    database_proxy.initialize(db)
    db.connect(reuse_if_open=True)
    db.drop_tables(ALL_MODELS, safe=True, cascade=request.param == "postgres")
    try:
        yield db
    finally:
        db.drop_tables(ALL_MODELS, safe=True, cascade=request.param == "postgres")
        close_database()


@pytest.fixture
def migrated(empty_db: Database) -> Database:
    migrate(empty_db)
    return empty_db


def _payment(company: CompanyFile, txn_id: str, amount: Decimal) -> Any:
    return BillPayment.create(
        company_file=company,
        txn_id=txn_id,
        kind="check",
        edit_sequence="1",
        time_created="2026-11-02T08:00:00-05:00",
        time_modified="2026-11-02T08:00:00-05:00",
        txn_date=date(2026, 11, 2),
        amount=amount,
    )


def test_migrations_go_from_empty_to_v1_to_v2_to_v3_to_v4_to_v5_to_v6(empty_db: Database) -> None:
    assert current_version(empty_db) == 0
    assert migrate(empty_db, target=1) == [1]
    assert current_version(empty_db) == 1
    assert empty_db.table_exists("bill_payment")
    assert not any(empty_db.table_exists(model._meta.table_name) for model in PROCORE_SIDE_MODELS)
    company = CompanyFile.create(file_key="main")
    _payment(company, "T-1", Decimal("10.00"))

    assert migrate(empty_db, target=2) == [2]
    assert all(empty_db.table_exists(model._meta.table_name) for model in PROCORE_SIDE_MODELS)
    assert migrate(empty_db) == [3, 4, 5, 6]
    assert current_version(empty_db) == LATEST_VERSION == 6
    assert all(empty_db.table_exists(model._meta.table_name) for model in REAL_WORLD_MODELS)
    assert BillPayment.get(BillPayment.txn_id == "T-1").amount == Decimal("10.00")  # data kept
    assert migrate(empty_db) == []  # nothing left to do
    assert [row.version for row in SchemaVersion.select().order_by(SchemaVersion.version)] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]


def test_a_version_2_database_gains_the_real_world_columns_and_keeps_its_data(empty_db: Database) -> None:
    """A database written by the PaySync before schema 3 (its tables lack the new columns)."""
    migrate(empty_db, target=2)
    migrator = (
        PostgresqlMigrator(empty_db) if isinstance(empty_db, PostgresqlDatabase) else SqliteMigrator(empty_db)
    )
    run_operations(
        *(
            migrator.drop_column(model._meta.table_name, model._meta.fields[name].column_name)
            for model, names in SCHEMA_3_COLUMNS
            for name in names
        )
    )
    empty_db.execute_sql(
        "INSERT INTO company_file (file_key, created_at) VALUES ('main', '2026-11-01 00:00:00')"
    )
    assert "hold_reason" not in {column.name for column in empty_db.get_columns("bill_payment")}

    assert migrate(empty_db, target=3) == [3]
    for model, names in SCHEMA_3_COLUMNS:
        present = {column.name for column in empty_db.get_columns(model._meta.table_name)}
        assert {model._meta.fields[name].column_name for name in names} <= present
    company = CompanyFile.get(CompanyFile.file_key == "main")  # kept
    payment = _payment(company, "T-1", Decimal("10.00"))
    payment.currency, payment.hold_reason = "CAD", "held"
    payment.save()
    assert BillPayment.get(BillPayment.txn_id == "T-1").currency == "CAD"


def test_a_version_5_database_gains_the_company_file_columns_and_keeps_its_file_and_cutoff(
    empty_db: Database,
) -> None:
    """A single-company database from before schema 6: its file stays the default one (unregistered,
    no own cutoff key), so it keeps the cutoff it had."""
    migrate(empty_db, target=5)
    migrator = (
        PostgresqlMigrator(empty_db) if isinstance(empty_db, PostgresqlDatabase) else SqliteMigrator(empty_db)
    )
    run_operations(
        *(
            migrator.drop_column(model._meta.table_name, model._meta.fields[name].column_name)
            for model, names in SCHEMA_6_COLUMNS
            for name in names
        )
    )
    empty_db.execute_sql(
        "INSERT INTO company_file (file_key, created_at) VALUES ('main', '2026-11-01 00:00:00')"
    )
    empty_db.execute_sql(
        "INSERT INTO procore_project (id, name, imported_at) VALUES (7, 'Harbor', '2026-11-01')"
    )
    empty_db.execute_sql("INSERT INTO procore_vendor (id, name, origin_id) VALUES (8, 'Acme', 'V-1')")
    set_setting(SCHEDULE_CUTOFF, "2026-11-01T00:00:00+00:00")

    assert migrate(empty_db) == [6]
    company = CompanyFile.get(CompanyFile.file_key == "main")
    assert (
        company.registered_at is None and company.removed_at is None and company.procore_project_ids is None
    )
    assert company.procore_company_id is None  # PROCORE_COMPANY_ID's company, as before
    assert schedule_cutoff("main") == datetime(2026, 11, 1, tzinfo=UTC)
    # Projects and vendors imported before came from PROCORE_COMPANY_ID's company: no company id.
    assert ProcoreProject.get_by_id(7).company_id is None and ProcoreProject.get_by_id(7).name == "Harbor"
    assert ProcoreVendor.get_by_id(8).company_id is None and ProcoreVendor.get_by_id(8).origin_id == "V-1"


def test_a_version_3_database_gains_who_ran_each_sync_and_keeps_its_runs(empty_db: Database) -> None:
    """A database written by the PaySync before schema 4 (sync_run has no actor column)."""
    migrate(empty_db, target=3)
    migrator = (
        PostgresqlMigrator(empty_db) if isinstance(empty_db, PostgresqlDatabase) else SqliteMigrator(empty_db)
    )
    run_operations(migrator.drop_column("sync_run", "actor"))
    empty_db.execute_sql(
        "INSERT INTO sync_run (trigger, started_at, status, created, updated, voided, flagged, skipped, errors) "
        "VALUES ('schedule', '2026-11-01 00:00:00', 'ok', 1, 0, 0, 0, 0, 0)"
    )

    assert migrate(empty_db, target=4) == [4]
    assert "actor" in {column.name for column in empty_db.get_columns("sync_run")}
    (old,) = SyncRun.select()
    assert (old.trigger, old.created, old.actor) == ("schedule", 1, None)  # kept; who ran it is unknown
    SyncRun.create(trigger="cli", actor="jdoe (computer account)", status="failed", message="why")
    assert SyncRun.get(SyncRun.trigger == "cli").actor == "jdoe (computer account)"


def test_a_database_from_a_newer_paysync_is_refused(migrated: Database) -> None:
    SchemaVersion.create(version=LATEST_VERSION + 1, description="from the future")
    with pytest.raises(SchemaTooNewError, match="newer than this PaySync knows"):
        migrate(migrated)


@pytest.mark.parametrize(
    "amount",
    ["0.10", "0.20", "0.30", "12345678901.23", "-45.67", "0.00", "99999999999.99", "1"],
)
def test_money_round_trips_exactly(migrated: Database, amount: str) -> None:
    company = CompanyFile.create(file_key="main")
    _payment(company, "T-1", Decimal(amount))
    stored = BillPayment.get(BillPayment.txn_id == "T-1").amount
    assert stored == Decimal(amount)
    assert str(stored) == str(Decimal(amount).quantize(Decimal("0.01")))


def test_money_sums_exactly_in_sql(migrated: Database) -> None:
    from peewee import fn

    company = CompanyFile.create(file_key="main")
    payment = _payment(company, "T-1", Decimal("0.30"))
    for number, cents in enumerate(("0.10", "0.20", "12345678901.23")):
        BillPaymentApplication.create(payment=payment, bill_txn_id=f"B-{number}", amount=Decimal(cents))
    total = BillPaymentApplication.select(fn.SUM(BillPaymentApplication.amount)).scalar()
    assert BillPaymentApplication.amount.python_value(total) == Decimal("12345678901.53")


def test_money_refuses_floats_and_fractions_of_a_cent(migrated: Database) -> None:
    company = CompanyFile.create(file_key="main")
    with pytest.raises(TypeError, match="never float"):
        _payment(company, "T-1", 0.1 + 0.2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="more than two decimal places"):
        _payment(company, "T-2", Decimal("1.005"))
    assert BillPayment.select().count() == 0


def test_timestamps_must_be_aware_and_come_back_in_utc(migrated: Database) -> None:
    eastern = timezone(timedelta(hours=-5))
    contact = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=eastern)
    CompanyFile.create(file_key="main", last_contact_at=contact)
    stored = CompanyFile.get(CompanyFile.file_key == "main").last_contact_at
    assert stored == contact
    assert stored.tzinfo == UTC
    assert stored.hour == 17
    with pytest.raises(ValueError, match="naive datetimes are not stored"):
        CompanyFile.create(file_key="other", last_contact_at=datetime(2026, 11, 25, 12, 0))
    assert CompanyFile.select().count() == 1


def test_open_database_migrates_a_fresh_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "folder" / "paysync.db"
    with pytest.raises(
        DatabaseConfigError, match="the folder .*nested/folder does not exist. Create the folder"
    ):
        open_database(f"sqlite:///{path}")
    assert not path.parent.exists()  # a mistyped path does not scatter folders around
    path.parent.mkdir(parents=True)
    db = open_database(f"sqlite:///{path}")
    try:
        assert path.is_file()
        assert current_version(db) == LATEST_VERSION
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        close_database()


def test_commits_made_while_procore_is_written_reach_the_disk_one_by_one(tmp_path: Path) -> None:
    """QuickBooks pages commit with synchronous=NORMAL (a power cut loses a page whole, and it is read
    again); an intent journaled before a Procore POST must survive one, so writes to Procore commit
    with synchronous=FULL (SQLite: 1 = NORMAL, 2 = FULL)."""
    open_database(f"sqlite:///{tmp_path / 'durable.db'}")
    try:
        database = database_proxy.obj

        def synchronous() -> int:
            return int(database.execute_sql("PRAGMA synchronous").fetchone()[0])

        assert synchronous() == 1
        with durable_commits():
            assert synchronous() == 2
            with write_transaction():
                Setting.create(key="intent-like", value="1")
        assert synchronous() == 1
        assert Setting.get(Setting.key == "intent-like").value == "1"
    finally:
        close_database()
