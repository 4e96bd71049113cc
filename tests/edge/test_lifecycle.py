"""The order lifecycle of CONTRACT §3 at the database level: no broker, no printer."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest

from edge import jobs, outbox
from edge.db import Database
from edge.db.database import in_transaction
from edge.db.migrations import migrate
from edge.jobs import JobState
from edge.orders.intake import Intake, Lifecycle, apply_order
from edge.orders.model import Order
from edge.orders.routing import PrinterRoute
from edge.scheduler import Scheduler
from tests.conftest import load_order

T = TypeVar("T")

LEAD_S = 1800.0
ROUTES = (
    PrinterRoute("kitchen"),
    PrinterRoute("pasta", brands=("Pasta Nostra",), copies=2),
)
FRONT = PrinterRoute("front", roles=("receipt",))
LIFE = Lifecycle(ROUTES, release_lead_s=LEAD_S)
# ord_dr_0002 is scheduled for 2026-11-23T19:30:00+01:00.
SCHEDULED_FOR = datetime(2026, 11, 23, 18, 30, tzinfo=UTC).timestamp()
RELEASE_AT = SCHEDULED_FOR - LEAD_S
# The samples were placed at 2026-11-23 ~18:00Z; "now" for unscheduled orders.
NOW = datetime(2026, 11, 23, 18, 3, tzinfo=UTC).timestamp()


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A migrated SQLite file, configured as the daemon configures it."""
    c = sqlite3.connect(tmp_path / "edge.db", isolation_level=None)
    c.row_factory = sqlite3.Row
    c.execute("PRAGMA foreign_keys=ON")
    migrate(c)
    try:
        yield c
    finally:
        c.close()


def tx(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn` in one IMMEDIATE transaction, as Database.write does."""
    return in_transaction(conn, fn)


def receive(
    conn: sqlite3.Connection,
    doc: dict[str, Any],
    *,
    now: float = NOW,
    life: Lifecycle = LIFE,
) -> Intake:
    """Validate and apply one order document in its own transaction."""
    payload = json.dumps(doc)
    order = Order.model_validate_json(payload)
    return tx(conn, lambda c: apply_order(c, order, payload, life, now))


def events(conn: sqlite3.Connection, order_id: str | None = None) -> list[dict[str, Any]]:
    """Every event (of one order), in seq order."""
    sql = "SELECT * FROM events"
    args: tuple[str, ...] = ()
    if order_id is not None:
        sql += " WHERE order_id = ?"
        args = (order_id,)
    rows = conn.execute(sql + " ORDER BY seq", args).fetchall()
    return [{"seq": r["seq"], "type": r["type"], "data": json.loads(r["data"])} for r in rows]


def event_types(conn: sqlite3.Connection, order_id: str | None = None) -> list[str]:
    """The types of every event (of one order), in seq order."""
    return [e["type"] for e in events(conn, order_id)]


def print_jobs(conn: sqlite3.Connection, order_id: str) -> list[tuple[str, str, str]]:
    """(printer, ticket, state) of an order's print jobs, oldest first."""
    return [
        (j.printer or "", j.ticket or "", j.state)
        for j in jobs.order_jobs(conn, order_id)
        if j.kind == "print"
    ]


def set_job_state(
    conn: sqlite3.Connection, order_id: str, ticket: str, state: str, reprint: bool = False
) -> None:
    """Simulate the printer worker moving an order's jobs of one ticket kind."""
    conn.execute(
        "UPDATE jobs SET state = ?, reprint = ? WHERE order_id = ? AND ticket = ?",
        (state, int(reprint), order_id, ticket),
    )


def order_row(conn: sqlite3.Connection, order_id: str) -> dict[str, Any]:
    """The stored order row as a dict."""
    row = conn.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
    assert row is not None
    return dict(row)


def rfc3339(ts: float) -> str:
    """An epoch time as the contract's RFC 3339 UTC string."""
    stamp = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def release_due(conn: sqlite3.Connection, at: float, monkeypatch: pytest.MonkeyPatch) -> Intake:
    """Run the scheduler's release pass as if the clock read `at`."""
    import edge.scheduler

    monkeypatch.setattr(edge.scheduler, "time", SimpleNamespace(time=lambda: at))
    scheduler = Scheduler(Database(":unused:"), LIFE, lambda _intake: None)
    return tx(conn, scheduler._release_due)


# ---- new orders -------------------------------------------------------------------------------


def test_new_accepted_order_queues_one_kitchen_job_per_routed_printer(
    conn: sqlite3.Connection,
) -> None:
    intake = receive(conn, load_order("ubereats_delivery"))
    assert not intake.duplicate
    assert intake.printers == {"kitchen"}
    assert print_jobs(conn, "ord_ue_0001") == [("kitchen", "kitchen", "queued")]
    [received] = events(conn, "ord_ue_0001")
    assert received["type"] == "order.received"
    assert received["data"] == {"revision": 1, "duplicate": False}
    row = order_row(conn, "ord_ue_0001")
    assert (row["revision"], row["status"], row["released"]) == (1, "accepted", 1)


def test_brand_routing_and_copies(conn: sqlite3.Connection) -> None:
    life = Lifecycle((*ROUTES, FRONT), release_lead_s=LEAD_S)
    intake = receive(conn, load_order("deliveroo_pickup_scheduled", scheduled_for=None), life=life)
    assert intake.printers == {"kitchen", "pasta", "front"}
    kitchen_jobs = [j for j in jobs.order_jobs(conn, "ord_dr_0002") if j.kind == "print"]
    assert [(j.printer, j.ticket, j.copies, j.reprint) for j in kitchen_jobs] == [
        ("kitchen", "kitchen", 1, False),
        ("pasta", "kitchen", 2, False),
        ("front", "receipt", 1, False),
    ]
    # An order without a brand: only printers serving every brand; the receipt on its printer.
    intake = receive(conn, load_order("self_delivery_with_tip"), life=life)
    assert intake.printers == {"kitchen", "front"}
    assert print_jobs(conn, "ord_web_0003") == [
        ("kitchen", "kitchen", "queued"),
        ("front", "receipt", "queued"),
    ]


def test_receipt_printers_that_serve_other_brands_only_report_unroutable(
    conn: sqlite3.Connection,
) -> None:
    life = Lifecycle(
        (*ROUTES, PrinterRoute("front", roles=("receipt",), brands=("Pasta Nostra",))), LEAD_S
    )
    receive(conn, load_order("ubereats_delivery"), life=life)
    assert print_jobs(conn, "ord_ue_0001") == [("kitchen", "kitchen", "queued")]
    unroutable = [e for e in events(conn, "ord_ue_0001") if e["type"] == "order.unroutable"]
    assert [e["data"]["ticket"] for e in unroutable] == ["receipt"]


def test_event_seq_strictly_increases(conn: sqlite3.Connection) -> None:
    receive(conn, load_order("ubereats_delivery"))
    receive(conn, load_order("ubereats_delivery"))
    receive(conn, load_order("deliveroo_pickup_scheduled"), now=RELEASE_AT - 3600)
    seqs = [e["seq"] for e in events(conn)]
    assert len(seqs) == 4
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert seqs[0] >= 1


def test_no_route_reports_unroutable_and_queues_nothing(conn: sqlite3.Connection) -> None:
    life = Lifecycle((PrinterRoute("pasta", brands=("Pasta Nostra",)),), LEAD_S)
    intake = receive(conn, load_order("ubereats_delivery"), life=life)
    assert intake.printers == set()
    assert print_jobs(conn, "ord_ue_0001") == []
    received, unroutable = events(conn, "ord_ue_0001")
    assert received["type"] == "order.received"
    assert unroutable["type"] == "order.unroutable"
    assert "Burger Lab" in unroutable["data"]["reason"]


def test_no_printer_at_all_is_unroutable(conn: sqlite3.Connection) -> None:
    receive(conn, load_order("ubereats_delivery"), life=Lifecycle((), LEAD_S))
    assert event_types(conn) == ["order.received", "order.unroutable"]
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


# ---- duplicates -------------------------------------------------------------------------------


@pytest.mark.parametrize("revision", [2, 1])
def test_same_or_lower_revision_is_a_duplicate_and_changes_nothing(
    conn: sqlite3.Connection, revision: int
) -> None:
    receive(conn, load_order("ubereats_delivery", revision=2, notes="first"))
    before_row = order_row(conn, "ord_ue_0001")
    before_jobs = jobs.order_jobs(conn, "ord_ue_0001")

    intake = receive(
        conn,
        load_order("ubereats_delivery", revision=revision, notes="other", status="cancelled"),
        now=NOW + 60,
    )
    assert intake.duplicate
    assert intake.printers == set()
    assert not intake.scheduler
    assert order_row(conn, "ord_ue_0001") == before_row
    assert jobs.order_jobs(conn, "ord_ue_0001") == before_jobs
    first, dup = events(conn, "ord_ue_0001")
    assert first["data"]["duplicate"] is False
    assert dup["type"] == "order.received"
    assert dup["data"]["duplicate"] is True
    assert dup["data"]["revision"] == revision
    assert dup["seq"] > first["seq"]


def test_every_copy_of_a_duplicate_is_answered(conn: sqlite3.Connection) -> None:
    for _ in range(3):
        receive(conn, load_order("ubereats_delivery"))
    assert [e["data"]["duplicate"] for e in events(conn)] == [False, True, True]
    assert len(print_jobs(conn, "ord_ue_0001")) == 1


# ---- pending → accepted -----------------------------------------------------------------------


def test_pending_queues_nothing_then_accepted_prints_kitchen_ticket(
    conn: sqlite3.Connection,
) -> None:
    intake = receive(conn, load_order("doordash_pending"))
    assert intake.printers == set()
    assert jobs.order_jobs(conn, "ord_dd_0004") == []
    assert event_types(conn, "ord_dd_0004") == ["order.received"]
    assert order_row(conn, "ord_dd_0004")["released"] == 0

    intake = receive(conn, load_order("doordash_pending", revision=2, status="accepted"))
    assert intake.printers == {"kitchen"}
    assert print_jobs(conn, "ord_dd_0004") == [("kitchen", "kitchen", "queued")]
    assert [j.revision for j in jobs.order_jobs(conn, "ord_dd_0004")] == [2]
    assert event_types(conn, "ord_dd_0004") == ["order.received", "order.received"]
    row = order_row(conn, "ord_dd_0004")
    assert (row["revision"], row["status"], row["released"]) == (2, "accepted", 1)


# ---- updates ----------------------------------------------------------------------------------


def test_update_after_printing_prints_updated_ticket_where_it_printed(
    conn: sqlite3.Connection,
) -> None:
    receive(conn, load_order("deliveroo_pickup_scheduled", scheduled_for=None))
    # Only the kitchen printer got to print; the pasta printer's ticket still waits.
    conn.execute(
        "UPDATE jobs SET state = 'done' WHERE order_id = 'ord_dr_0002' AND printer = 'kitchen'"
    )
    intake = receive(
        conn,
        load_order("deliveroo_pickup_scheduled", scheduled_for=None, revision=2, notes="sans sel"),
    )
    assert intake.printers == {"kitchen"}
    assert print_jobs(conn, "ord_dr_0002") == [
        ("kitchen", "kitchen", "done"),
        ("pasta", "kitchen", "queued"),
        ("kitchen", "updated", "queued"),
    ]
    [updated] = [j for j in jobs.order_jobs(conn, "ord_dr_0002") if j.ticket == "updated"]
    assert updated.revision == 2
    # The waiting ticket renders the stored (newest) revision when it prints.
    assert json.loads(order_row(conn, "ord_dr_0002")["payload"])["notes"] == "sans sel"


def test_update_before_printing_queues_no_updated_ticket(conn: sqlite3.Connection) -> None:
    receive(conn, load_order("ubereats_delivery"))
    intake = receive(conn, load_order("ubereats_delivery", revision=2, notes="changed"))
    assert intake.printers == set()
    assert print_jobs(conn, "ord_ue_0001") == [("kitchen", "kitchen", "queued")]
    assert event_types(conn, "ord_ue_0001") == ["order.received", "order.received"]


def test_update_after_failover_goes_where_the_ticket_printed(conn: sqlite3.Connection) -> None:
    """The kitchen ticket moved to a receipt printer and printed there: so does the update."""
    life = Lifecycle((*ROUTES, FRONT), release_lead_s=LEAD_S)
    receive(conn, load_order("ubereats_delivery"), life=life)
    conn.execute(
        "UPDATE jobs SET printer = 'front', meant_for = 'kitchen', state = 'done'"
        " WHERE ticket = 'kitchen'"
    )
    intake = receive(conn, load_order("ubereats_delivery", revision=2, notes="x"), life=life)
    assert intake.printers == {"front"}
    assert print_jobs(conn, "ord_ue_0001")[-1] == ("front", "updated", "queued")
    assert ("kitchen", "updated", "queued") not in print_jobs(conn, "ord_ue_0001")


def test_update_moving_the_order_to_another_brand_reaches_both_kitchens(
    conn: sqlite3.Connection,
) -> None:
    life = Lifecycle(
        (
            PrinterRoute("burger", brands=("Burger Lab",)),
            PrinterRoute("pasta", brands=("Pasta Nostra",), copies=2),
        ),
        release_lead_s=LEAD_S,
    )
    receive(conn, load_order("ubereats_delivery"), life=life)
    set_job_state(conn, "ord_ue_0001", "kitchen", "done")
    receive(conn, load_order("ubereats_delivery", revision=2, brand="Pasta Nostra"), life=life)
    updated = [j for j in jobs.order_jobs(conn, "ord_ue_0001") if j.ticket == "updated"]
    assert [(j.printer, j.copies) for j in updated] == [("burger", 1), ("pasta", 2)]


def test_update_no_configured_printer_would_show_is_unroutable(conn: sqlite3.Connection) -> None:
    receive(conn, load_order("ubereats_delivery"))
    set_job_state(conn, "ord_ue_0001", "kitchen", "done")
    # the printer was renamed in the config since, and no printer serves the brand now
    life = Lifecycle((PrinterRoute("pasta", brands=("Pasta Nostra",)),), release_lead_s=LEAD_S)
    receive(conn, load_order("ubereats_delivery", revision=2, notes="x"), life=life)
    assert event_types(conn, "ord_ue_0001")[-1] == "order.unroutable"
    assert [t for _, t, _ in print_jobs(conn, "ord_ue_0001")] == ["kitchen"]


def test_cancellation_ticket_prints_the_printers_copies(conn: sqlite3.Connection) -> None:
    receive(conn, load_order("deliveroo_pickup_scheduled", scheduled_for=None))
    set_job_state(conn, "ord_dr_0002", "kitchen", "done")
    receive(conn, load_order("deliveroo_pickup_scheduled", revision=2, status="cancelled"))
    cancellations = [j for j in jobs.order_jobs(conn, "ord_dr_0002") if j.ticket == "cancellation"]
    assert {(j.printer, j.copies) for j in cancellations} == {("kitchen", 1), ("pasta", 2)}


def test_second_update_while_updated_ticket_waits_queues_no_second_one(
    conn: sqlite3.Connection,
) -> None:
    receive(conn, load_order("ubereats_delivery"))
    set_job_state(conn, "ord_ue_0001", "kitchen", "done")
    receive(conn, load_order("ubereats_delivery", revision=2, notes="two"))
    receive(conn, load_order("ubereats_delivery", revision=3, notes="three"))
    # The waiting UPDATED ticket prints revision 3; a second one would say the same again.
    assert print_jobs(conn, "ord_ue_0001") == [
        ("kitchen", "kitchen", "done"),
        ("kitchen", "updated", "queued"),
    ]
    set_job_state(conn, "ord_ue_0001", "updated", "done")
    receive(conn, load_order("ubereats_delivery", revision=4, notes="four"))
    assert print_jobs(conn, "ord_ue_0001")[-1] == ("kitchen", "updated", "queued")
    assert len(print_jobs(conn, "ord_ue_0001")) == 3


# ---- cancellation -----------------------------------------------------------------------------


def test_cancellation_after_printing(conn: sqlite3.Connection) -> None:
    receive(conn, load_order("deliveroo_pickup_scheduled", scheduled_for=None))
    set_job_state(conn, "ord_dr_0002", "kitchen", "done")
    # A later reprint still waits: it is cancelled, not printed after the cancellation.
    tx(
        conn,
        lambda c: jobs.add_print_job(
            c, printer="kitchen", ticket="kitchen", order_id="ord_dr_0002", revision=1
        ),
    )
    intake = receive(
        conn, load_order("deliveroo_pickup_scheduled", scheduled_for=None, status="cancelled")
    )
    # Same revision: a duplicate. The cancellation comes as revision 2.
    assert intake.duplicate
    intake = receive(
        conn,
        load_order(
            "deliveroo_pickup_scheduled", scheduled_for=None, status="cancelled", revision=2
        ),
    )
    assert intake.printers == {"kitchen", "pasta"}
    assert print_jobs(conn, "ord_dr_0002") == [
        ("kitchen", "kitchen", "done"),
        ("pasta", "kitchen", "done"),
        ("kitchen", "kitchen", "cancelled"),
        ("kitchen", "cancellation", "queued"),
        ("pasta", "cancellation", "queued"),
    ]
    cancelled = events(conn, "ord_dr_0002")[-1]
    assert cancelled["type"] == "order.cancelled"
    assert cancelled["data"]["voided_in_pos"] is False
    assert order_row(conn, "ord_dr_0002")["status"] == "cancelled"


@pytest.mark.parametrize(
    ("state", "reprint"), [("running", False), ("queued", True), ("failed", True)]
)
def test_cancellation_counts_tickets_that_may_have_printed(
    conn: sqlite3.Connection, state: str, reprint: bool
) -> None:
    receive(conn, load_order("ubereats_delivery"))
    set_job_state(conn, "ord_ue_0001", "kitchen", state, reprint=reprint)
    intake = receive(conn, load_order("ubereats_delivery", revision=2, status="cancelled"))
    assert intake.printers == {"kitchen"}
    after = "running" if state == "running" else ("cancelled" if state == "queued" else state)
    assert print_jobs(conn, "ord_ue_0001") == [
        ("kitchen", "kitchen", after),
        ("kitchen", "cancellation", "queued"),
    ]
    assert event_types(conn, "ord_ue_0001")[-1] == "order.cancelled"


def test_cancellation_of_updated_only_printer(conn: sqlite3.Connection) -> None:
    receive(conn, load_order("ubereats_delivery"))
    set_job_state(conn, "ord_ue_0001", "kitchen", "done")
    receive(conn, load_order("ubereats_delivery", revision=2, notes="x"))
    set_job_state(conn, "ord_ue_0001", "updated", "done")
    receive(conn, load_order("ubereats_delivery", revision=3, status="cancelled"))
    assert print_jobs(conn, "ord_ue_0001")[-1] == ("kitchen", "cancellation", "queued")
    assert sum(t == "cancellation" for _, t, _ in print_jobs(conn, "ord_ue_0001")) == 1


def test_cancellation_before_printing_prints_nothing(conn: sqlite3.Connection) -> None:
    receive(conn, load_order("ubereats_delivery"))
    intake = receive(conn, load_order("ubereats_delivery", revision=2, status="cancelled"))
    assert intake.printers == set()
    assert print_jobs(conn, "ord_ue_0001") == [("kitchen", "kitchen", "cancelled")]
    assert event_types(conn, "ord_ue_0001") == [
        "order.received",
        "order.received",
        "order.cancelled",
    ]
    assert events(conn, "ord_ue_0001")[-1]["data"]["voided_in_pos"] is False


def test_cancellation_of_pending_order_prints_nothing(conn: sqlite3.Connection) -> None:
    receive(conn, load_order("doordash_pending"))
    intake = receive(conn, load_order("doordash_pending", revision=2, status="cancelled"))
    assert intake.printers == set()
    assert jobs.order_jobs(conn, "ord_dd_0004") == []
    assert event_types(conn, "ord_dd_0004") == [
        "order.received",
        "order.received",
        "order.cancelled",
    ]


def test_cancellation_of_scheduled_order_not_released_prints_nothing(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    receive(conn, load_order("deliveroo_pickup_scheduled"), now=RELEASE_AT - 3600)
    intake = receive(
        conn,
        load_order("deliveroo_pickup_scheduled", revision=2, status="cancelled"),
        now=RELEASE_AT - 1800,
    )
    assert intake.printers == set()
    [release_job] = jobs.order_jobs(conn, "ord_dr_0002")
    assert (release_job.kind, release_job.state) == ("release", "cancelled")
    assert event_types(conn, "ord_dr_0002") == [
        "order.received",
        "order.scheduled",
        "order.received",
        "order.cancelled",
    ]
    # Its release time comes and goes: nothing happens.
    assert release_due(conn, RELEASE_AT + 1, monkeypatch).printers == set()
    assert event_types(conn, "ord_dr_0002")[-1] == "order.cancelled"
    assert [j.kind for j in jobs.order_jobs(conn, "ord_dr_0002")] == ["release"]


def test_cancelled_in_first_message_prints_nothing(conn: sqlite3.Connection) -> None:
    intake = receive(conn, load_order("ubereats_delivery", status="cancelled"))
    assert intake.printers == set()
    assert jobs.order_jobs(conn, "ord_ue_0001") == []
    received, cancelled = events(conn, "ord_ue_0001")
    assert received["data"] == {"revision": 1, "duplicate": False}
    assert cancelled["type"] == "order.cancelled"
    assert cancelled["data"]["voided_in_pos"] is False


def test_a_second_cancellation_revision_prints_nothing_more(conn: sqlite3.Connection) -> None:
    receive(conn, load_order("ubereats_delivery"))
    set_job_state(conn, "ord_ue_0001", "kitchen", "done")
    receive(conn, load_order("ubereats_delivery", revision=2, status="cancelled"))
    set_job_state(conn, "ord_ue_0001", "cancellation", "done")
    intake = receive(conn, load_order("ubereats_delivery", revision=3, status="cancelled"))
    assert not intake.duplicate
    assert intake.printers == set()
    assert [t for _, t, _ in print_jobs(conn, "ord_ue_0001")] == ["kitchen", "cancellation"]
    assert event_types(conn, "ord_ue_0001").count("order.cancelled") == 1
    assert order_row(conn, "ord_ue_0001")["revision"] == 3


# ---- scheduled orders -------------------------------------------------------------------------


def test_scheduled_order_waits_for_its_release(conn: sqlite3.Connection) -> None:
    intake = receive(conn, load_order("deliveroo_pickup_scheduled"), now=RELEASE_AT - 3600)
    assert intake.scheduler
    assert intake.printers == set()
    [job] = jobs.order_jobs(conn, "ord_dr_0002")
    assert (job.kind, job.state, job.revision) == ("release", "queued", 1)
    assert job.not_before == pytest.approx(RELEASE_AT)
    received, scheduled = events(conn, "ord_dr_0002")
    assert received["type"] == "order.received"
    assert scheduled["type"] == "order.scheduled"
    assert scheduled["data"]["release_at"] == "2026-11-23T18:00:00.000Z" == rfc3339(RELEASE_AT)
    assert order_row(conn, "ord_dr_0002")["released"] == 0
    assert jobs.next_wakeup(conn, "release") == pytest.approx(RELEASE_AT)


def test_scheduled_order_with_less_than_the_lead_left_prints_at_once(
    conn: sqlite3.Connection,
) -> None:
    intake = receive(conn, load_order("deliveroo_pickup_scheduled"), now=RELEASE_AT + 60)
    assert intake.printers == {"kitchen", "pasta"}
    assert [(j.kind, j.ticket) for j in jobs.order_jobs(conn, "ord_dr_0002")] == [
        ("print", "kitchen"),
        ("print", "kitchen"),
    ]
    assert "order.scheduled" not in event_types(conn, "ord_dr_0002")
    assert order_row(conn, "ord_dr_0002")["released"] == 1


def test_scheduler_releases_due_order(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    receive(conn, load_order("deliveroo_pickup_scheduled"), now=RELEASE_AT - 3600)
    # Not yet due.
    assert release_due(conn, RELEASE_AT - 1, monkeypatch) == Intake()
    assert [j.kind for j in jobs.order_jobs(conn, "ord_dr_0002")] == ["release"]

    intake = release_due(conn, RELEASE_AT + 1, monkeypatch)
    assert intake.printers == {"kitchen", "pasta"}
    assert intake.scheduler
    assert [
        (j.kind, j.printer, j.ticket, j.state) for j in jobs.order_jobs(conn, "ord_dr_0002")
    ] == [
        ("release", None, None, "done"),
        ("print", "kitchen", "kitchen", "queued"),
        ("print", "pasta", "kitchen", "queued"),
    ]
    assert event_types(conn, "ord_dr_0002")[-1] == "order.released"
    assert order_row(conn, "ord_dr_0002")["released"] == 1
    # A second pass releases nothing more.
    assert release_due(conn, RELEASE_AT + 2, monkeypatch) == Intake()
    assert len(jobs.order_jobs(conn, "ord_dr_0002")) == 3


def test_release_job_of_a_cancelled_order_does_nothing(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    receive(conn, load_order("deliveroo_pickup_scheduled"), now=RELEASE_AT - 3600)
    receive(
        conn,
        load_order("deliveroo_pickup_scheduled", revision=2, status="cancelled"),
        now=RELEASE_AT - 1800,
    )
    # Even if the release job were left queued, the scheduler checks the order's status.
    conn.execute("UPDATE jobs SET state = 'queued' WHERE kind = 'release'")
    intake = release_due(conn, RELEASE_AT + 1, monkeypatch)
    assert intake == Intake()
    assert [(j.kind, j.state) for j in jobs.order_jobs(conn, "ord_dr_0002")] == [
        ("release", "done")
    ]
    assert "order.released" not in event_types(conn, "ord_dr_0002")


def test_revision_moving_scheduled_for_replaces_the_release_job(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    receive(conn, load_order("deliveroo_pickup_scheduled"), now=RELEASE_AT - 3600)
    later = "2026-11-23T20:30:00+01:00"
    intake = receive(
        conn,
        load_order("deliveroo_pickup_scheduled", revision=2, scheduled_for=later),
        now=RELEASE_AT - 3000,
    )
    assert intake.scheduler
    new_release_at = RELEASE_AT + 3600
    old, new = jobs.order_jobs(conn, "ord_dr_0002")
    assert (old.kind, old.state, old.revision) == ("release", "cancelled", 1)
    assert (new.kind, new.state, new.revision) == ("release", "queued", 2)
    assert new.not_before == pytest.approx(new_release_at)
    scheduled = events(conn, "ord_dr_0002")[-1]
    assert scheduled["data"]["release_at"] == rfc3339(new_release_at)
    assert order_row(conn, "ord_dr_0002")["release_at"] == pytest.approx(new_release_at)

    # The old release time passes: nothing is released.
    assert release_due(conn, RELEASE_AT + 1, monkeypatch) == Intake()
    assert "order.released" not in event_types(conn, "ord_dr_0002")
    assert release_due(conn, new_release_at + 1, monkeypatch).printers == {"kitchen", "pasta"}
    assert event_types(conn, "ord_dr_0002").count("order.released") == 1


def test_revision_moving_scheduled_for_inside_the_lead_releases_at_once(
    conn: sqlite3.Connection,
) -> None:
    receive(conn, load_order("deliveroo_pickup_scheduled"), now=RELEASE_AT - 3600)
    sooner = "2026-11-23T17:20:00+01:00"  # 16:20Z, 20 minutes after "now"
    intake = receive(
        conn,
        load_order("deliveroo_pickup_scheduled", revision=2, scheduled_for=sooner),
        now=RELEASE_AT - 3600,
    )
    assert intake.printers == {"kitchen", "pasta"}
    assert [(j.kind, j.state) for j in jobs.order_jobs(conn, "ord_dr_0002")] == [
        ("release", "cancelled"),
        ("print", "queued"),
        ("print", "queued"),
    ]


def test_scheduled_pending_order_is_not_released(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    receive(conn, load_order("deliveroo_pickup_scheduled", status="pending"), now=RELEASE_AT - 3600)
    assert jobs.order_jobs(conn, "ord_dr_0002") == []
    assert release_due(conn, RELEASE_AT + 1, monkeypatch) == Intake()
    receive(
        conn,
        load_order("deliveroo_pickup_scheduled", revision=2, status="accepted"),
        now=RELEASE_AT - 600,
    )
    [job] = jobs.order_jobs(conn, "ord_dr_0002")
    assert job.kind == "release"
    assert job.not_before == pytest.approx(RELEASE_AT)


# ---- seq and recovery -------------------------------------------------------------------------


async def test_seq_survives_restart_and_pruning(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    async with Database(path) as db:
        first = await db.write(lambda c: outbox.add_event(c, "test.a"))
        second = await db.write(lambda c: outbox.add_event(c, "test.b"))
    assert second > first >= 1

    async with Database(path) as db:
        third = await db.write(lambda c: outbox.add_event(c, "test.c"))
        assert third > second
        assert await db.read(outbox.last_seq) == third

        def publish_and_prune(c: sqlite3.Connection) -> int:
            outbox.mark_published(c, [first, second, third])
            return outbox.prune(c, confirmed_seq=third, retention_s=3600, keep_max=1000)

        assert await db.write(publish_and_prune) == 3
        assert await db.read(lambda c: c.execute("SELECT COUNT(*) FROM events").fetchone()[0]) == 0
        assert await db.read(outbox.last_seq) == third

    async with Database(path) as db:
        fourth = await db.write(lambda c: outbox.add_event(c, "test.d"))
        assert fourth == third + 1


def test_prune_keeps_unpublished_and_unconfirmed_events(conn: sqlite3.Connection) -> None:
    seqs = [outbox.add_event(conn, "test") for _ in range(4)]
    outbox.mark_published(conn, seqs[:3])
    assert outbox.prune(conn, confirmed_seq=seqs[1], retention_s=3600, keep_max=1000) == 2
    assert [e.seq for e in outbox.events_from(conn, 0)] == seqs[2:]
    assert [e.seq for e in outbox.unpublished(conn)] == [seqs[3]]


def test_recover_interrupted_requeues_running_print_job_as_reprint(
    conn: sqlite3.Connection,
) -> None:
    receive(conn, load_order("ubereats_delivery"))
    [job] = jobs.order_jobs(conn, "ord_ue_0001")
    jobs.start_attempt(conn, job.id)
    done = jobs.add_print_job(conn, printer="kitchen", ticket="test", order_id=None, revision=None)
    jobs.set_state(conn, done, JobState.DONE)

    interrupted = tx(conn, jobs.recover_interrupted)
    assert [j.id for j in interrupted] == [job.id]
    [after] = jobs.order_jobs(conn, "ord_ue_0001")
    assert (after.state, after.reprint, after.last_error) == ("queued", True, "interrupted")
    assert after.attempts == 1
    assert jobs.head_print_job(conn, "kitchen", NOW) == after
    # Jobs that were not running are left alone.
    row = conn.execute("SELECT state, reprint FROM jobs WHERE id = ?", (done,)).fetchone()
    assert tuple(row) == ("done", 0)
    assert tx(conn, jobs.recover_interrupted) == []


def test_recover_interrupted_cancels_a_running_ticket_of_an_order_cancelled_meanwhile(
    conn: sqlite3.Connection,
) -> None:
    receive(conn, load_order("ubereats_delivery"))
    [job] = jobs.order_jobs(conn, "ord_ue_0001")
    jobs.start_attempt(conn, job.id)
    receive(conn, load_order("ubereats_delivery", revision=2, status="cancelled"))

    tx(conn, jobs.recover_interrupted)
    by_ticket = {j.ticket: j.state for j in jobs.order_jobs(conn, "ord_ue_0001")}
    assert by_ticket == {"kitchen": "cancelled", "cancellation": "queued"}


def test_cancellation_only_where_it_printed(conn: sqlite3.Connection) -> None:
    receive(conn, load_order("deliveroo_pickup_scheduled", scheduled_for=None))
    conn.execute("UPDATE jobs SET state = 'done' WHERE printer = 'pasta'")
    intake = receive(
        conn,
        load_order(
            "deliveroo_pickup_scheduled", scheduled_for=None, status="cancelled", revision=2
        ),
    )
    assert intake.printers == {"pasta"}
    assert print_jobs(conn, "ord_dr_0002") == [
        ("kitchen", "kitchen", "cancelled"),
        ("pasta", "kitchen", "done"),
        ("pasta", "cancellation", "queued"),
    ]


def test_reinstated_after_a_printed_cancellation_prints_updated_and_no_second_receipt(
    conn: sqlite3.Connection,
) -> None:
    life = Lifecycle((*ROUTES, FRONT), release_lead_s=LEAD_S, pos=True)
    receive(conn, load_order("ubereats_delivery"), life=life)
    conn.execute("UPDATE jobs SET state = 'done'")
    receive(conn, load_order("ubereats_delivery", revision=2, status="cancelled"), life=life)
    conn.execute("UPDATE jobs SET state = 'done' WHERE kind IN ('print', 'void')")
    intake = receive(conn, load_order("ubereats_delivery", revision=3), life=life)
    assert intake.printers == {"kitchen"}
    assert intake.pos
    assert print_jobs(conn, "ord_ue_0001")[-1] == ("kitchen", "updated", "queued")
    assert [t for _, t, _ in print_jobs(conn, "ord_ue_0001")].count("receipt") == 1
    injects = [j for j in jobs.order_jobs(conn, "ord_ue_0001") if j.kind == "inject"]
    assert [(j.revision, j.state) for j in injects][-1] == (3, "queued")


def test_reinstated_before_anything_printed_prints_as_new(conn: sqlite3.Connection) -> None:
    receive(conn, load_order("ubereats_delivery"))
    receive(conn, load_order("ubereats_delivery", revision=2, status="cancelled"))
    receive(conn, load_order("ubereats_delivery", revision=3))
    assert print_jobs(conn, "ord_ue_0001") == [
        ("kitchen", "kitchen", "cancelled"),
        ("kitchen", "kitchen", "queued"),
    ]


def test_back_to_pending_after_printing_then_accepted_prints_updated(
    conn: sqlite3.Connection,
) -> None:
    receive(conn, load_order("ubereats_delivery"))
    set_job_state(conn, "ord_ue_0001", "kitchen", "done")
    assert receive(
        conn, load_order("ubereats_delivery", revision=2, status="pending")
    ).printers == (set())
    intake = receive(conn, load_order("ubereats_delivery", revision=3, notes="changed"))
    # The kitchen has it on paper: it gets an UPDATED ticket, not a second unmarked one.
    assert intake.printers == {"kitchen"}
    assert print_jobs(conn, "ord_ue_0001") == [
        ("kitchen", "kitchen", "done"),
        ("kitchen", "updated", "queued"),
    ]
