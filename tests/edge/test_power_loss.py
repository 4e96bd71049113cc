"""Power loss: every order the daemon PUBACKed survives losing all it had not fsynced (issue 8).

The daemon runs under the fsfault shim (tests/support/fsfault), which journals every file
operation on its state directory. After a SIGKILL, `powercut.build_image` rebuilds the disk a
power cut would have left: only data fsynced to its file, only names whose directory was
fsynced (`synced_only`), or that plus a seeded random part of the unsynced writes, some torn
at sector boundaries (`torn`). A second daemon, without the shim, starts on a copy of that
image with the same broker session: the broker redelivers what was never PUBACKed, and the
database must end up holding every published order, since a PUBACKed order that the image
lost would never come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import load_order
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess, write_config
from tests.support.fsfault import Op, Record, read_journal, set_fault, shim_env
from tests.support.fsfault.powercut import build_image

# ---- the model, on a hand-written journal ---------------------------------------------------


def test_power_cut_model_keeps_only_what_was_fsynced(tmp_path: Path) -> None:
    root = tmp_path / "fs"

    def rec(op: Op, name: str = "", a: int = 0, data: bytes = b"", ino: int = 0) -> Record:
        return Record(0, op, 0, 1, ino, a, 0, str(root / name) if name else str(root), "", data)

    journal = [
        rec(Op.CREATE, "kept", ino=1),
        rec(Op.WRITE, "kept", 0, b"A" * 1024, ino=1),
        rec(Op.FSYNC, "kept", ino=1),
        rec(Op.WRITE, "kept", 1024, b"B" * 1500, ino=1),  # never fsynced
        rec(Op.CREATE, "nameless", ino=2),
        rec(Op.DIRSYNC),  # persists "kept" and "nameless" (still empty on disk)
        rec(Op.WRITE, "nameless", 0, b"C" * 10, ino=2),
        rec(Op.FSYNC, "nameless", ino=2),
        rec(Op.CREATE, "orphan", ino=3),  # its directory is never fsynced again
        rec(Op.WRITE, "orphan", 0, b"D", ino=3),
        rec(Op.FSYNC, "orphan", ino=3),
        rec(Op.UNLINK, "nameless"),  # not durable either: the file stays
    ]
    cut = build_image(journal, root, tmp_path / "synced", "synced_only")
    assert cut.files == {"kept": 1024, "nameless": 10}
    assert (cut.root / "kept").read_bytes() == b"A" * 1024
    assert cut.unsynced == 1
    assert cut.lost_names == ["link orphan", "unlink nameless"]

    sizes = set()
    for seed in range(40):
        torn = build_image(journal, root, tmp_path / f"torn{seed}", "torn", seed=seed, keep=1)
        kept = (torn.root / "kept").read_bytes()
        assert kept.startswith(b"A" * 1024)
        # the unsynced write survives whole or up to a sector boundary: 1024 + 512k bytes
        assert len(kept) in (1536, 2048, 2524), len(kept)
        assert kept[1024:] == b"B" * (len(kept) - 1024)
        sizes.add(len(kept))
    assert sizes == {1536, 2048, 2524}


# ---- the fault control --------------------------------------------------------------------

FAULTY = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("CREATE TABLE t (x BLOB)")
print("ready", flush=True)
for _ in sys.stdin:
    try:
        conn.execute("INSERT INTO t VALUES (randomblob(5000))")
        print("ok", flush=True)
    except sqlite3.Error as err:
        print(f"{type(err).__name__}: {err}", flush=True)
"""


async def test_fault_control_makes_sqlite_see_a_full_or_failing_disk(
    shim: Path, tmp_path: Path
) -> None:
    root = tmp_path / "fs"
    root.mkdir()
    control = tmp_path / "control"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        FAULTY,
        str(root / "t.db"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **shim_env(shim, root, control=control)},
    )
    stdin, stdout = proc.stdin, proc.stdout
    assert stdin is not None
    assert stdout is not None

    async def insert() -> str:
        stdin.write(b"insert\n")
        await stdin.drain()
        return (await stdout.readline()).decode().strip()

    try:
        async with asyncio.timeout(20):
            assert (await stdout.readline()).strip() == b"ready"
            assert await insert() == "ok"
            set_fault(control, "ENOSPC", ["write"])
            assert await insert() == "OperationalError: database or disk is full"
            set_fault(control, None)
            assert await insert() == "ok"
            set_fault(control, "ENOSPC", grow_only=True)  # a full disk: appending to the WAL
            assert await insert() == "OperationalError: database or disk is full"
            set_fault(control, "EIO", ["fsync"], path_contains="-wal")
            assert await insert() == "OperationalError: disk I/O error"
            set_fault(control, None)
            assert await insert() == "ok"
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


# ---- the harness can fail: a writer that acknowledges before its data is durable ----------

ACKER = """
import sqlite3, sys
path, sync = sys.argv[1], sys.argv[2]
conn = sqlite3.connect(path, isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=FULL")
conn.execute("CREATE TABLE acked (n INTEGER PRIMARY KEY, pad BLOB NOT NULL)")
conn.execute(f"PRAGMA synchronous={sync}")
n = 0
while True:
    n += 1
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO acked VALUES (?, randomblob(700))", (n,))
    conn.execute("COMMIT")
    print("acked", n, flush=True)
"""
ACKS_BEFORE_CUT = 40
TORN_SEEDS = (1, 2, 3)


async def run_acker_until_cut(shim: Path, tmp_path: Path, sync: str) -> tuple[int, Path, Path]:
    """Run ACKER under the shim, SIGKILL it after ACKS_BEFORE_CUT acks; (acked, root, journal)."""
    root = tmp_path / "fs"
    (root / "db").mkdir(parents=True)
    journal = tmp_path / "journal"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        ACKER,
        str(root / "db" / "t.db"),
        sync,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **shim_env(shim, root, journal=journal)},
    )
    assert proc.stdout is not None
    acked = 0
    try:
        async with asyncio.timeout(30):
            while acked < ACKS_BEFORE_CUT:
                line = await proc.stdout.readline()
                assert line, f"the writer exited early with {await proc.wait()}"
                acked = int(line.split()[1])
    finally:
        if proc.returncode is None:
            proc.kill()  # SIGKILL: the process flushes nothing of its own
        await proc.wait()
    return acked, root, journal


def acked_rows_lost(image: Path, acked: int) -> tuple[str, list[int]]:
    """(integrity_check, acknowledged rows missing) of the writer's database in an image."""
    db = image / "db" / "t.db"
    assert db.exists(), f"the database file itself was lost: {sorted(map(str, image.rglob('*')))}"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        present = {n for (n,) in conn.execute("SELECT n FROM acked")}
    return integrity, [n for n in range(1, acked + 1) if n not in present]


async def test_harness_detects_acks_given_before_fsync(shim: Path, tmp_path: Path) -> None:
    """synchronous=OFF acknowledges commits the WAL never fsynced: the power cut loses them."""
    acked, root, journal = await run_acker_until_cut(shim, tmp_path, "OFF")
    cut = build_image(journal, root, tmp_path / "image", "synced_only")
    integrity, lost = acked_rows_lost(cut.root, acked)
    assert integrity == "ok"
    assert lost, f"the harness must lose unsynced commits ({cut.summary()})"
    print(f"\nsynchronous=OFF: {len(lost)} of {acked} acknowledged rows lost; {cut.summary()}")


async def test_harness_keeps_acks_given_after_fsync(shim: Path, tmp_path: Path) -> None:
    """synchronous=FULL fsyncs the WAL before COMMIT returns: nothing acknowledged is lost."""
    acked, root, journal = await run_acker_until_cut(shim, tmp_path, "FULL")
    records = read_journal(journal)
    assert any(r.op is Op.FSYNC and r.path.endswith("-wal") for r in records)
    assert any(r.op is Op.DIRSYNC for r in records), "SQLite fsyncs the directory of a new WAL"
    for seed in (None, *TORN_SEEDS):
        image = tmp_path / f"image-{seed}"
        if seed is None:
            cut = build_image(records, root, image, "synced_only")
        else:
            cut = build_image(records, root, image, "torn", seed=seed)
        integrity, lost = acked_rows_lost(cut.root, acked)
        assert integrity == "ok", cut.summary()
        assert lost == [], f"acknowledged rows lost: {lost} ({cut.summary()})"


# ---- the daemon --------------------------------------------------------------------------

ORDERS = 300
RECEIVED_AT_CUT = 60  # order.received events seen when the power is cut
WINDOW = 60  # orders published ahead of the order.received events before the cut
BURST = 20


@dataclass
class ImageState:
    """What an image's database holds, read from a scratch copy."""

    integrity: str
    orders: set[str]
    max_seq: int


def inspect_image(image: Path, scratch: Path) -> ImageState:
    """integrity_check, order ids and last event seq of an image (on a copy: recovery writes)."""
    assert (image / "edge.db").exists(), f"edge.db itself was lost: {sorted(os.listdir(image))}"
    shutil.copytree(image, scratch)
    with contextlib.closing(sqlite3.connect(scratch / "edge.db")) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        orders = {i for (i,) in conn.execute("SELECT id FROM orders")}
        max_seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
    return ImageState(integrity, orders, max_seq)


def read_db(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of a query on a running daemon's database (none while its schema does not exist)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []


async def wait_until_stored(
    db: Path, want: set[str], last_id: str, after_seq: int, timeout: float = 20
) -> set[str]:
    """Poll the database until it holds `want` and has received `last_id` after `after_seq`
    (the last message published: the broker redelivers in order, so all before it came)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        have = {i for (i,) in await asyncio.to_thread(read_db, db, "SELECT id FROM orders")}
        if want <= have and last_id in await asyncio.to_thread(received_since, db, after_seq):
            return have
        if loop.time() > deadline:
            return have
        await asyncio.sleep(0.05)  # poll interval, not a wait for something


def received_since(db: Path, after_seq: int) -> list[str]:
    """Order ids the daemon received (new or duplicate) in events after `after_seq`."""
    rows = read_db(
        db,
        "SELECT order_id FROM events WHERE type = 'order.received' AND seq > ? ORDER BY seq",
        after_seq,
    )
    return [i for (i,) in rows]


def journal_evidence(records: Sequence[Record], root: Path, order_id: str, limit: int = 8) -> str:
    """The journaled writes that carried an order's bytes, and whether their file was fsynced."""
    needle = order_id.encode()
    lines = []
    for r in records:
        if r.op is Op.WRITE and needle in r.data:
            synced = next(
                (s.index for s in records[r.index + 1 :] if s.op is Op.FSYNC and s.ino == r.ino),
                None,
            )
            after = f"#{synced}" if synced is not None else "none"
            lines.append(f"  {r.describe(root)}; next fsync of that file: {after}")
    return "\n".join(lines[:limit]) or "  (no journaled write carries it)"


@contextlib.asynccontextmanager
async def daemon_on(
    image: Path, run_dir: Path, broker: Broker, procs: list[EdgeProcess]
) -> AsyncIterator[EdgeProcess]:
    """The daemon without the shim on a copy of `image`: same config but the database path."""
    shutil.copytree(image, run_dir)
    config = write_config(run_dir / "edge.toml", broker_url=broker.url, printers=[])
    edge = EdgeProcess(config)
    procs.append(edge)
    edge.start()
    try:
        yield edge
    finally:
        # SIGTERM: the batch in hand is committed and PUBACKed before the link closes.
        await asyncio.to_thread(edge.terminate)


async def test_power_cut_never_loses_a_pubacked_order(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, shim: Path, edge_processes: list[EdgeProcess]
) -> None:
    root = tmp_path / "fs"
    root.mkdir()
    journal = tmp_path / "journal"
    config = write_config(root / "edge.toml", broker_url=broker.url, printers=[])
    edge = EdgeProcess(config, env=shim_env(shim, root, journal=journal))
    edge_processes.append(edge)
    edge.start()
    await cloud.wait_event("edge.connected")

    orders = [load_order("ubereats_delivery", id=f"ord_pc_{i:03d}") for i in range(ORDERS)]
    all_ids = {o["id"] for o in orders}
    last_id = orders[-1]["id"]

    def received(events: list[dict[str, Any]]) -> int:
        return sum(e["type"] == "order.received" for e in events)

    def more_received_than(n: int) -> Callable[[list[dict[str, Any]]], bool]:
        return lambda events: received(events) > n

    # Publish in bursts, at most WINDOW orders ahead of the order.received events, so that the
    # cut (at RECEIVED_AT_CUT events) comes in the middle of the stream: orders in flight,
    # being committed, committed but not yet PUBACKed.
    sent = 0
    while received(cloud.events) < RECEIVED_AT_CUT:
        if sent - received(cloud.events) >= WINDOW:
            await cloud.wait_for(more_received_than(sent - WINDOW), what="order.received")
            continue
        burst = orders[sent : sent + BURST]  # published together: they arrive as one batch
        await asyncio.gather(*(cloud.send_order(o) for o in burst))
        sent += len(burst)
    await asyncio.to_thread(edge.kill)  # the power cut: SIGKILL, then the page cache is gone
    received_at_cut = received(cloud.events)
    # order.received means "durably stored" (CONTRACT §4): the cloud stops re-sending those.
    confirmed = {e["order_id"] for e in cloud.of_type("order.received")}
    for order in orders[sent:]:  # queued by the broker while the daemon is down
        await cloud.send_order(order)
    records = read_journal(journal)

    # The real path: the broker's session redelivers everything never PUBACKed.
    cut = build_image(records, root, tmp_path / "cut-synced", "synced_only")
    state = inspect_image(cut.root, tmp_path / "scratch-synced")
    assert state.integrity == "ok", cut.summary()
    run_dir = tmp_path / "after-synced"
    async with daemon_on(cut.root, run_dir, broker, edge_processes):
        have = await wait_until_stored(run_dir / "edge.db", all_ids, last_id, state.max_seq)
        missing = sorted(all_ids - have)
        assert not missing, (
            f"{len(missing)} orders were PUBACKed and then lost by the power cut "
            f"({cut.summary()}): {missing[:10]}; journal of {missing[0]}:\n"
            + journal_evidence(records, root, missing[0])
        )
    redelivered = set(received_since(run_dir / "edge.db", state.max_seq))
    pubacked = all_ids - redelivered
    assert last_id in redelivered
    assert pubacked <= state.orders  # the same fact, read from the image itself
    assert confirmed <= state.orders, f"order.received sent, order lost: {confirmed - state.orders}"
    print(
        f"\n{sent} orders published and {received_at_cut} order.received seen at the cut; "
        f"the image kept {len(state.orders)} orders; {len(pubacked)} had been PUBACKed, "
        f"the broker redelivered {len(redelivered)}; {cut.summary()}"
    )

    # Torn images of the same cut. The broker redelivered once; for each image the cloud
    # re-publishes exactly what was redelivered (the orders never PUBACKed), as the broker
    # would have done had the daemon started on that image instead. Those are the only
    # messages published from here on, so whatever the session still holds cannot mask a loss.
    for seed in TORN_SEEDS:
        torn = build_image(records, root, tmp_path / f"cut-torn{seed}", "torn", seed=seed)
        tstate = inspect_image(torn.root, tmp_path / f"scratch-torn{seed}")
        assert tstate.integrity == "ok", torn.summary()
        lost = sorted((pubacked | confirmed) - tstate.orders)
        assert not lost, (
            f"PUBACKed or confirmed orders lost in {torn.summary()}: {lost[:10]}; "
            f"journal of {lost[0]}:\n" + journal_evidence(records, root, lost[0])
        )
        run_dir = tmp_path / f"after-torn{seed}"
        async with daemon_on(torn.root, run_dir, broker, edge_processes):
            for order in orders:
                if order["id"] in redelivered:
                    await cloud.send_order(order)
            have = await wait_until_stored(run_dir / "edge.db", all_ids, last_id, tstate.max_seq)
            assert have >= all_ids, f"{sorted(all_ids - have)[:10]} missing ({torn.summary()})"
        print(torn.summary())


async def wait_for_stall(journal: Path, timeout: float = 20) -> list[Record]:
    """Poll the journal until a call is held by a STALL fault; the records so far."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        records = await asyncio.to_thread(read_journal, journal)
        if any(r.op is Op.FAULT and r.a == 0 for r in records):
            return records
        assert loop.time() < deadline, "no call stalled"
        await asyncio.sleep(0.02)  # poll interval, not a wait for something


async def test_power_cut_while_a_batch_commit_is_being_fsynced(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, shim: Path, edge_processes: list[EdgeProcess]
) -> None:
    """The cut at the worst moment: a batch's WAL frames are written and their fsync has not
    returned. None of that batch may have been PUBACKed, so the broker redelivers all of it."""
    root = tmp_path / "fs"
    root.mkdir()
    journal, control = tmp_path / "journal", tmp_path / "control"
    config = write_config(root / "edge.toml", broker_url=broker.url, printers=[])
    edge = EdgeProcess(config, env=shim_env(shim, root, journal=journal, control=control))
    edge_processes.append(edge)
    edge.start()
    await cloud.wait_event("edge.connected")

    orders = [load_order("ubereats_delivery", id=f"ord_st_{i:02d}") for i in range(20)]
    all_ids = {o["id"] for o in orders}
    set_fault(control, "STALL", ["fsync"], path_contains="-wal")  # the disk hangs in fsync
    await asyncio.gather(*(cloud.send_order(o) for o in orders))
    records = await wait_for_stall(journal)
    await asyncio.to_thread(edge.kill)

    stall = next(r for r in records if r.op is Op.FAULT and r.a == 0)
    last_sync = max(
        (r.index for r in records[: stall.index] if r.op is Op.FSYNC and r.path.endswith("-wal")),
        default=-1,
    )
    in_flight = {
        o["id"]
        for o in orders
        for r in records[last_sync + 1 : stall.index]
        if r.op is Op.WRITE and o["id"].encode() in r.data
    }
    assert in_flight, "the stalled commit carries orders"

    cut = build_image(records, root, tmp_path / "cut", "synced_only")
    state = inspect_image(cut.root, tmp_path / "scratch")
    assert state.integrity == "ok", cut.summary()
    assert not in_flight & state.orders, "written but never fsynced: not on the disk"
    for seed in TORN_SEEDS:
        torn = build_image(records, root, tmp_path / f"torn{seed}", "torn", seed=seed)
        assert inspect_image(torn.root, tmp_path / f"scratch{seed}").integrity == "ok"

    run_dir = tmp_path / "after"
    async with daemon_on(cut.root, run_dir, broker, edge_processes):
        have = await wait_until_stored(
            run_dir / "edge.db", all_ids, orders[-1]["id"], state.max_seq
        )
        assert have >= all_ids, (
            f"lost: {sorted(all_ids - have)}; they were in a commit whose fsync never returned, "
            "yet the broker did not redeliver them: they were PUBACKed before being durable"
        )
    assert set(received_since(run_dir / "edge.db", state.max_seq)) >= in_flight
    print(f"\n{len(in_flight)} orders in the stalled commit; {cut.summary()}")


async def test_every_event_the_cloud_saw_survives_a_power_cut(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, shim: Path, edge_processes: list[EdgeProcess]
) -> None:
    """An event published and then lost would see its `seq` given to another event after the
    restart (CONTRACT §4: strictly increasing, survives restarts). Printer status changes are
    committed without fsync: they must reach the disk before they are published."""
    from drivers.emulator import PrinterEmulator

    root = tmp_path / "fs"
    root.mkdir()
    journal = tmp_path / "journal"
    async with PrinterEmulator(name="kitchen") as kitchen:
        config = write_config(
            root / "edge.toml",
            broker_url=broker.url,
            printers=[{"name": "kitchen", "uri": kitchen.uri, "status_interval_s": 0.1}],
        )
        edge = EdgeProcess(config, env=shim_env(shim, root, journal=journal))
        edge_processes.append(edge)
        edge.start()
        await cloud.wait_event("edge.connected")
        for n, fault in enumerate(({"cover_open": True}, {"cover_open": False}), start=1):
            kitchen.set_fault(**fault)
            await cloud.wait_event("printer.status", count=n + 1)
        await asyncio.to_thread(edge.kill)
    seen = {e["seq"]: e["id"] for e in cloud.events}

    cut = build_image(read_journal(journal), root, tmp_path / "cut", "synced_only")
    scratch = tmp_path / "scratch"
    shutil.copytree(cut.root, scratch)
    with contextlib.closing(sqlite3.connect(scratch / "edge.db")) as conn:
        kept = dict(conn.execute("SELECT seq, id FROM events").fetchall())
    lost = {seq: event_id for seq, event_id in seen.items() if kept.get(seq) != event_id}
    assert not lost, f"published, then lost by the power cut: {lost} ({cut.summary()})"


async def test_the_durability_settings_in_force_are_the_ones_this_proof_relies_on(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, edge_processes: list[EdgeProcess]
) -> None:
    """WAL, and synchronous=FULL for commits acknowledged upstream, as SQLite reads them back
    in the running daemon (`status`), with the reserve and free space beside them."""
    import json

    config = write_config(tmp_path / "edge.toml", broker_url=broker.url, printers=[])
    edge = EdgeProcess(config)
    edge_processes.append(edge)
    edge.start()
    await cloud.wait_event("edge.connected")
    await cloud.subscribe("stores/st_test/out/replies")
    await cloud.send_command({"id": "cmd_status", "name": "status"})
    await cloud.wait_for(
        lambda _: any(t.endswith("/out/replies") for t, _, _ in cloud.messages), what="reply"
    )
    [reply] = [json.loads(p) for t, p, _ in cloud.messages if t.endswith("/out/replies")]
    storage = reply["result"]["storage"]
    assert storage["durability"] == {"journal_mode": "wal", "synchronous": "FULL"}
    assert storage["state"] == "ok"
    with contextlib.closing(edge.db()) as db:
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal", "WAL is a property of the file: every later open uses it"
