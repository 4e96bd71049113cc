"""Menu sync through the daemon: the cadence, `menu_sync`, `edge menu sync`, a POS that is down,
a sync that changes nothing, a kill in the middle (Square's fake; the vendors' reads have their
own tests)."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import aiomqtt
import jsonschema

from drivers.emulator import PrinterEmulator
from edge.ids import utc_now_rfc3339
from tests.conftest import load_order
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess
from tests.support.fake_square import FakeSquare
from tests.support.pos_daemon import pos_edge, pos_section

SCHEMA = json.loads((Path(__file__).parents[2] / "edge/menu/menu.schema.json").read_text())
BRANDS = '[menu.brand_labels]\n"Pasta Nostra" = "Pasta"\n"Burger Lab" = "Burger"\n'


def make_edge(
    tmp_path: Path,
    broker: Broker,
    kitchen: PrinterEmulator,
    square: FakeSquare,
    procs: list,
    menu: str = "",
) -> EdgeProcess:
    section = pos_section(tmp_path, "square", square) + "\n[menu]\n" + menu + "\n" + BRANDS
    return pos_edge(tmp_path, broker, kitchen, section, procs)


def menu_messages(cloud: FakeCloud) -> list[tuple[str, bytes, Any]]:
    return [m for m in cloud.messages if "/out/menu/" in m[0]]


def decoded(message: tuple[str, bytes, Any]) -> dict[str, Any]:
    _, payload, props = message
    user = dict(getattr(props, "UserProperty", None) or [])
    if user.get("content-encoding") == "zlib":
        payload = zlib.decompress(payload)
    return json.loads(payload)


async def wait_reply(cloud: FakeCloud, command_id: str, timeout: float = 30.0) -> dict[str, Any]:
    async def found() -> dict[str, Any]:
        while True:
            for topic, payload, _ in cloud.messages:
                if topic.endswith("/out/replies"):
                    doc = json.loads(payload)
                    if doc.get("id") == command_id:
                        return doc
            await cloud.wait_message("/out/replies", timeout=timeout)
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(found(), timeout)


def stored(edge: EdgeProcess) -> tuple[str, float] | None:
    with sqlite3.connect(edge.db_path) as conn:
        return conn.execute("SELECT hash, read_at FROM pos_menus").fetchone()


async def test_the_menu_is_read_at_start_and_published_per_brand_retained(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    square: FakeSquare, edge_processes: list,
) -> None:  # fmt: skip
    make_edge(tmp_path, broker, kitchen, square, edge_processes).start()
    [synced] = await cloud.wait_event("menu.synced")
    data = synced["data"]
    assert set(data["brands"]) == {"Burger Lab", "Pasta Nostra"}
    assert data["changed"] is True
    assert data["trigger"] == "schedule"
    assert isinstance(data["unlinked"], list)
    await cloud.wait_for(lambda _: len(menu_messages(cloud)) >= 2, what="two menus")
    topics = {m[0] for m in menu_messages(cloud)}
    assert topics == {"stores/st_test/out/menu/Burger Lab", "stores/st_test/out/menu/Pasta Nostra"}
    for message in menu_messages(cloud):
        doc = decoded(message)
        jsonschema.validate(doc, SCHEMA)
        assert doc["hash"] == data["brands"][doc["brand"]]["hash"]
        assert len(doc["items"]) == data["brands"][doc["brand"]]["items"]
    # Retained: a consumer that subscribes later gets them.
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5, identifier="late"
    ) as late:
        await late.subscribe("stores/st_test/out/menu/#", qos=1)
        got = set()
        async with asyncio.timeout(10):
            async for msg in late.messages:
                assert msg.retain
                got.add(msg.topic.value)
                if len(got) == 2:
                    break


async def test_menu_sync_replies_with_counts_and_publishes_only_what_changed(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    square: FakeSquare, edge_processes: list,
) -> None:  # fmt: skip
    make_edge(tmp_path, broker, kitchen, square, edge_processes).start()
    await cloud.wait_event("menu.synced")
    await cloud.wait_for(lambda _: len(menu_messages(cloud)) >= 2, what="two menus")

    await cloud.send_command({"id": "cmd_same", "name": "menu_sync", "args": {}})
    same = await wait_reply(cloud, "cmd_same")
    assert same["ok"] is True
    assert same["result"]["changed"] is False
    assert {b: set(c) >= {"items", "modifiers"} for b, c in same["result"]["brands"].items()} == {
        "Burger Lab": True,
        "Pasta Nostra": True,
    }
    await cloud.wait_event("menu.synced", count=2)
    assert len(menu_messages(cloud)) == 2, "nothing changed: nothing published"

    variation = next(
        o
        for o in square.catalog
        if o["type"] == "ITEM_VARIATION"
        or (o["type"] == "ITEM" and o["item_data"].get("variations"))
    )
    variation_id = (
        variation["id"]
        if variation["type"] == "ITEM_VARIATION"
        else variation["item_data"]["variations"][0]["id"]
    )
    square.set_price(variation_id, 4321)
    await cloud.send_command({"id": "cmd_changed", "name": "menu_sync", "args": {}})
    changed = await wait_reply(cloud, "cmd_changed")
    assert changed["result"]["changed"] is True
    assert changed["result"]["hash"] != same["result"]["hash"]
    await cloud.wait_for(lambda _: len(menu_messages(cloud)) > 2, what="the changed menu")
    latest = [decoded(m) for m in menu_messages(cloud)[2:]]
    prices = {i["pos_id"]: i["price"] for doc in latest for i in doc["items"]}
    assert prices[variation_id] == 4321
    # The same command again is answered with the same reply, not synced twice.
    synced_before = len(cloud.of_type("menu.synced"))
    await cloud.send_command({"id": "cmd_changed", "name": "menu_sync", "args": {}})
    await cloud.wait_for(
        lambda _: sum(
            1 for t, p, _ in cloud.messages
            if t.endswith("/out/replies") and json.loads(p)["id"] == "cmd_changed"
        ) == 2,
        what="the repeated reply",
    )  # fmt: skip
    assert len(cloud.of_type("menu.synced")) == synced_before


async def test_a_pos_that_is_down_keeps_the_previous_menu_and_says_why(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    square: FakeSquare, edge_processes: list,
) -> None:  # fmt: skip
    edge = make_edge(tmp_path, broker, kitchen, square, edge_processes, "sync_timeout_s = 5")
    edge.start()
    await cloud.wait_event("menu.synced")
    before = stored(edge)
    await square.refuse()
    await cloud.send_command({"id": "cmd_down", "name": "menu_sync", "args": {}})
    reply = await wait_reply(cloud, "cmd_down")
    assert reply["ok"] is False
    assert reply["error"]["code"] == "pos_unavailable"
    [failed] = await cloud.wait_event("menu.sync_failed")
    assert failed["data"]["reason"]
    assert stored(edge) == before, "the last good menu stays"
    assert len(menu_messages(cloud)) == 2


async def test_the_cadence_reads_again_on_a_shrunk_interval(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    square: FakeSquare, edge_processes: list,
) -> None:  # fmt: skip
    make_edge(
        tmp_path, broker, kitchen, square, edge_processes, "sync_interval_h = 0.0003"
    ).start()  # about one second
    events = await cloud.wait_event("menu.synced", count=3, trigger="schedule")
    assert [e["data"]["changed"] for e in events[:3]] == [True, False, False]
    assert len(menu_messages(cloud)) == 2


async def test_without_a_pos_menu_sync_is_no_pos(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    edge_processes: list,
) -> None:  # fmt: skip
    edge = pos_edge(tmp_path, broker, kitchen, "", edge_processes).start()
    await cloud.wait_event("edge.connected")
    await cloud.send_command({"id": "cmd_nopos", "name": "menu_sync", "args": {}})
    reply = await wait_reply(cloud, "cmd_nopos")
    assert reply["error"]["code"] == "no_pos"
    assert edge.pid


async def edge_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "edge", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_edge_menu_sync_works_with_the_daemon_stopped_and_the_daemon_publishes_it(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    square: FakeSquare, edge_processes: list,
) -> None:  # fmt: skip
    edge = make_edge(tmp_path, broker, kitchen, square, edge_processes)
    done = await edge_cli(edge.config, "menu", "sync", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result["brands"]) == {"Burger Lab", "Pasta Nostra"}
    assert stored(edge) is not None
    assert menu_messages(cloud) == []

    edge.start()
    await cloud.wait_for(lambda _: len(menu_messages(cloud)) >= 2, what="the stored menus")
    assert {decoded(m)["hash"] for m in menu_messages(cloud)} == {
        c["hash"] for c in result["brands"].values()
    }
    # Read minutes ago: the daemon does not read it again at start.
    assert cloud.of_type("menu.synced", trigger="schedule") == []

    # With the daemon running, the command asks it.
    again = await edge_cli(edge.config, "menu", "sync", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["changed"] is False
    await cloud.wait_event("menu.synced", trigger="cli", count=2)


async def test_a_menu_sync_interrupted_by_a_kill_is_answered_after_the_restart(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    square: FakeSquare, edge_processes: list,
) -> None:  # fmt: skip
    edge = make_edge(tmp_path, broker, kitchen, square, edge_processes)
    edge.start()
    await cloud.wait_event("menu.synced")
    square.hang_next()
    await cloud.send_command({"id": "cmd_kill", "name": "menu_sync", "args": {}})
    await asyncio.wait_for(square.hung.wait(), 20)
    edge.kill()
    assert await asyncio.to_thread(edge.wait_exit) == -signal.SIGKILL
    with sqlite3.connect(edge.db_path) as conn:
        assert conn.execute("SELECT id FROM deferred_commands").fetchall() == [("cmd_kill",)]
    await square.reset()
    edge.start()
    reply = await wait_reply(cloud, "cmd_kill")
    assert reply["ok"] is True
    with sqlite3.connect(edge.db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM deferred_commands").fetchone() == (0,)


async def test_unknown_ids_of_orders_are_in_menu_synced_pos_links_and_doctor(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    square: FakeSquare, edge_processes: list,
) -> None:  # fmt: skip
    edge = make_edge(tmp_path, broker, kitchen, square, edge_processes)
    edge.start()
    await cloud.wait_event("menu.synced")
    order = load_order("ubereats_delivery", placed_at=utc_now_rfc3339())
    order["items"][0]["pos_id"] = "VAR_NOT_IN_SQUARE"
    await cloud.send_order(order)
    await cloud.wait_event("order.received", order_id=order["id"])
    await cloud.send_command({"id": "cmd_links", "name": "menu_sync", "args": {}})
    await wait_reply(cloud, "cmd_links")
    [synced] = await cloud.wait_event("menu.synced", trigger="command")
    unknown = {(u["kind"], u["pos_id"]): u for u in synced["data"]["unlinked"]}
    assert unknown[("item", "VAR_NOT_IN_SQUARE")]["orders"] == 1
    assert unknown[("item", "VAR_NOT_IN_SQUARE")]["partners"] == ["ubereats"]

    links = await edge_cli(edge.config, "pos", "links", "--json")
    assert links.returncode == 0, links.stderr
    listed = {(u["kind"], u["pos_id"]) for u in json.loads(links.stdout)["unlinked"]}
    assert listed == set(unknown)

    doctor = await edge_cli(edge.config, "doctor", "--json")
    checks = {c["check"]: c for c in json.loads(doctor.stdout)}
    assert checks["menu"]["ok"] is True
    assert checks["pos links"]["ok"] is None  # yellow: something is unlinked
    assert "VAR_NOT_IN_SQUARE" in checks["pos links"]["detail"]


async def test_a_failed_sync_is_tried_again_without_being_asked(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    square: FakeSquare, edge_processes: list,
) -> None:  # fmt: skip
    await square.refuse()
    edge = make_edge(
        tmp_path,
        broker,
        kitchen,
        square,
        edge_processes,
        "retry_initial_s = 0.5\nsync_timeout_s = 5",
    )
    edge.start()
    [failed] = await cloud.wait_event("menu.sync_failed")
    assert "menu" in failed["data"]["reason"]  # refused, tried again, then out of time
    assert stored(edge) is None
    await square.reset()
    [synced] = await cloud.wait_event("menu.synced", timeout=30)
    assert synced["data"]["trigger"] == "schedule"
    assert stored(edge) is not None


async def test_the_stored_menu_checks_orders_after_a_restart_with_the_pos_down(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    square: FakeSquare, edge_processes: list,
) -> None:  # fmt: skip
    edge = make_edge(tmp_path, broker, kitchen, square, edge_processes)
    edge.start()
    await cloud.wait_event("menu.synced")
    assert edge.terminate() == 0
    await square.refuse()
    edge.start()  # the menu was read a moment ago: not read again at start
    order = load_order("ubereats_delivery")
    order["items"][0]["pos_id"] = "VAR_GONE_FROM_THE_MENU"
    await cloud.send_order(order)
    [error] = await cloud.wait_event("pos.error", order_id=order["id"])
    assert error["data"]["manual_entry_required"] is True
    assert any(ref.startswith(order["items"][0]["id"]) for ref in error["data"]["unlinked"])
    assert square.orders == {}


async def test_a_sync_waiting_on_the_pos_holds_up_neither_orders_nor_tickets(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    square: FakeSquare, edge_processes: list,
) -> None:  # fmt: skip
    square.hang_next(path="/v2/catalog/list")
    edge = make_edge(tmp_path, broker, kitchen, square, edge_processes)
    edge.start()
    await asyncio.wait_for(square.hung.wait(), 20)  # the start-up sync waits on the POS
    order = load_order("ubereats_delivery")
    await cloud.send_order(order)
    await cloud.wait_event("order.received", order_id=order["id"])
    await cloud.wait_event("order.printed", order_id=order["id"], ticket="kitchen")
    assert cloud.of_type("menu.synced") == []
    assert cloud.of_type("menu.sync_failed") == [], "the sync is still waiting"


async def test_the_late_reply_goes_to_the_commands_response_topic_with_its_correlation(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    square: FakeSquare, edge_processes: list,
) -> None:  # fmt: skip
    make_edge(tmp_path, broker, kitchen, square, edge_processes).start()
    await cloud.wait_event("edge.connected")
    await cloud.send_command(
        {"id": "cmd_rt", "name": "menu_sync", "args": {}},
        response_topic=f"{cloud.base}/out/rsp/42",
        correlation=b"corr-42",
    )
    _, payload, props = await cloud.wait_message("/out/rsp/42", timeout=30)
    assert json.loads(payload)["id"] == "cmd_rt"
    assert json.loads(payload)["ok"] is True
    assert props.CorrelationData == b"corr-42"
    assert not [m for m in cloud.messages if m[0].endswith("/out/replies")]


async def test_online_prices_in_settings_republish_only_the_brand_they_change(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    square: FakeSquare, edge_processes: list,
) -> None:  # fmt: skip
    make_edge(tmp_path, broker, kitchen, square, edge_processes).start()
    await cloud.wait_event("menu.synced")
    await cloud.wait_for(lambda _: len(menu_messages(cloud)) >= 2, what="two menus")
    before = {decoded(m)["brand"]: decoded(m) for m in menu_messages(cloud)}
    settings = {"menu": {"brands": {"Burger Lab": {"markup_percent": 10, "round_to": 10}}}}
    await cloud.publish("in/settings", settings, retain=True)
    [again] = await cloud.wait_event("menu.synced", trigger="settings")
    assert again["data"]["brands"]["Burger Lab"]["changed"] is True
    assert again["data"]["brands"]["Pasta Nostra"]["changed"] is False
    await cloud.wait_for(lambda _: len(menu_messages(cloud)) >= 3, what="the repriced menu")
    [repriced] = [decoded(m) for m in menu_messages(cloud)[2:]]
    assert repriced["brand"] == "Burger Lab"
    old = {i["pos_id"]: i["price"] for i in before["Burger Lab"]["items"]}
    for item in repriced["items"]:
        assert item["pos_price"] == old[item["pos_id"]]
        if item["pos_price"]:
            assert item["price"] == round(item["pos_price"] * 1.1 / 10 + 0.001) * 10
    # The same settings again (every reconnection brings the retained copy): nothing new. A
    # menu_sync received after them is answered only once they were handled (one loop).
    await cloud.publish("in/settings", settings, retain=True)
    await cloud.send_command({"id": "cmd_after", "name": "menu_sync", "args": {}})
    after = await wait_reply(cloud, "cmd_after")
    assert after["result"]["changed"] is False
    await cloud.wait_event("menu.synced", trigger="command")  # events come in seq order
    assert len(cloud.of_type("menu.synced", trigger="settings")) == 1
    assert len(menu_messages(cloud)) == 3
