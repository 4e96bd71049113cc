"""Menu sync benchmark: a 5,000-item, 20,000-modifier Square menu, against a download baseline.

In one run, against the same fake Square server (its own process, strict as in the tests,
`--page-size` objects a page):

(a) download: every catalog page fetched with a bare httpx client (JSON parsed only for the
    cursor) — the time a sync cannot go below
(b) sync: the daemon's whole `menu_sync` — read every page, normalize, apply the rules for two
    brands, store in one transaction, publish both retained menus — timed from the command's
    publish to its reply (sent after the menus are acknowledged by the broker). Each round
    first changes one price in the fake, so every round publishes.
(a) and (b) alternate for `--rounds` rounds; medians compared (target: sync <= 2 x download).
(c) the daemon's resident memory idle (menu stored) and its peak during the syncs, and the
    CPU time it spent on each sync.
The fake checks every request against Square's spec; checking its own answers too
(`--validate-answers`) costs it ~0.3 s a page and would hide our cost in both timings.

Merged under "menu" into bench-out/report.json. Loopback only; ends only what it started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench import rss_kib, start_broker, stop_started, wait_broker  # noqa: E402

from edge.pos.square_menu import CATALOG_TYPES  # noqa: E402

STORE = "st_menu_bench"
BASE = f"stores/{STORE}"
TYPES = CATALOG_TYPES  # what the connector asks for


# ---- the fake Square, in its own process ------------------------------------------------------


def big_catalog(items: int, modifiers: int, per_list: int = 20) -> list[dict[str, Any]]:
    """Square catalog objects: `items` items in 25 categories, each offering 4 of the
    `modifiers / per_list` modifier lists; a third labelled "Burger", a third "Pasta"."""
    version, updated = 1700000000000, "2026-11-01T09:00:00.000Z"

    def obj(kind: str, oid: str, key: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": kind, "id": oid, "updated_at": updated, "version": version,
            "is_deleted": False, "present_at_all_locations": True, key: data,
        }  # fmt: skip

    lists = modifiers // per_list
    catalog = [
        obj("CATEGORY", f"CAT{c}", "category_data", {"name": f"Catégorie {c}"}) for c in range(25)
    ]
    catalog += [
        obj("CATEGORY", "LBL_BURGER", "category_data", {"name": "Burger"}),
        obj("CATEGORY", "LBL_PASTA", "category_data", {"name": "Pasta"}),
    ]
    for g in range(lists):
        mods = [
            obj(
                "MODIFIER",
                f"MOD{g}_{m}",
                "modifier_data",
                {
                    "name": f"Supplément {g}-{m}",
                    "price_money": {"amount": 50 * m, "currency": "EUR"},
                    "modifier_list_id": f"ML{g}",
                    "ordinal": m,
                },
            )
            for m in range(per_list)
        ]
        catalog.append(
            obj(
                "MODIFIER_LIST",
                f"ML{g}",
                "modifier_list_data",
                {"name": f"Groupe {g}", "selection_type": "MULTIPLE", "modifiers": mods},
            )
        )
    for i in range(items):
        cats = [{"id": f"CAT{i % 25}"}]
        if i % 3 < 2:
            cats.append({"id": ("LBL_BURGER", "LBL_PASTA")[i % 3]})
        variation = obj(
            "ITEM_VARIATION",
            f"VAR{i}",
            "item_variation_data",
            {
                "item_id": f"ITEM{i}",
                "name": "Normal",
                "pricing_type": "FIXED_PRICING",
                "price_money": {"amount": 900 + i % 700, "currency": "EUR"},
            },
        )
        catalog.append(
            obj(
                "ITEM",
                f"ITEM{i}",
                "item_data",
                {
                    "name": f"Plat numéro {i}",
                    "description": "Fait maison avec des produits frais du marché",
                    "categories": cats,
                    "reporting_category": {"id": f"CAT{i % 25}"},
                    "variations": [variation],
                    "modifier_list_info": [
                        {"modifier_list_id": f"ML{(i * 7 + k) % lists}", "enabled": True}
                        for k in range(4)
                    ],
                },
            )
        )
    return catalog


async def serve_fake(args: argparse.Namespace) -> None:
    """`--serve-fake`: run FakeSquare with the big catalog; one JSON line with its address on
    stdout; "bump" on stdin changes one price (so the next sync publishes)."""
    from tests.support import fake_square
    from tests.support.fake_square import FakeSquare

    if not args.validate_answers:
        # Requests are still checked against Square's spec; checking each 100-object answer
        # too costs the fake ~0.3 s a page, which would hide our own cost in both timings.
        fake_square.validate_response = lambda *a, **k: None

    async with FakeSquare(page_size=args.page_size) as fake:
        fake.catalog = big_catalog(args.items, args.modifiers)
        print(
            json.dumps({"url": fake.url, "token": fake.token, "location": fake.location_id}),
            flush=True,
        )
        loop = asyncio.get_running_loop()
        price = 1000
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if line.strip() == "bump":
                price += 1
                fake.set_price("VAR0", price)
                print("bumped", flush=True)


# ---- the measurements ------------------------------------------------------------------------


async def download(fake: dict[str, str]) -> tuple[float, int, int]:
    """Every catalog page, bare: (seconds, pages, bytes)."""
    headers = {"Authorization": f"Bearer {fake['token']}", "Square-Version": "2025-08-20"}
    pages = size = 0
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=fake["url"], headers=headers, timeout=60) as client:
        cursor: str | None = None
        while True:
            params = {"types": TYPES, **({"cursor": cursor} if cursor else {})}
            response = await client.get("/v2/catalog/list", params=params)
            response.raise_for_status()
            pages += 1
            size += len(response.content)
            cursor = response.json().get("cursor")
            if not cursor:
                break
    return time.perf_counter() - started, pages, size


class RssSampler:
    """The daemon's resident memory every 20 ms while running."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak_kib = max(self.peak_kib, rss_kib(self.pid).get("VmRSS", 0))
            await asyncio.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def daemon_config(work: Path, port: int, fake: dict[str, str]) -> Path:
    token = work / "square-token"
    token.write_text(fake["token"] + "\n")
    path = work / "edge.toml"
    path.write_text(
        f'[store]\nid = "{STORE}"\ntimezone = "Europe/Paris"\n\n'
        f'[cloud]\nurl = "mqtt://127.0.0.1:{port}"\nclient_id = "edge-{STORE}"\n\n'
        f'[database]\npath = "{work / "edge.db"}"\n\n[log]\nlevel = "warning"\n\n'
        f'[pos]\nkind = "square"\nbase_url = "{fake["url"]}"\ntoken_file = "{token}"\n'
        f'location_id = "{fake["location"]}"\n\n'
        "[menu]\nsync_interval_h = 168\n\n"
        '[menu.brand_labels]\n"Burger Lab" = "Burger"\n"Pasta Nostra" = "Pasta"\n'
    )
    return path


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="edge-menu-bench-"))
    port, broker = start_broker(work)
    procs: list[subprocess.Popen[Any]] = [broker]
    fake_proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-fake", "--items", str(args.items),
         "--modifiers", str(args.modifiers), "--page-size", str(args.page_size),
         *(["--validate-answers"] if args.validate_answers else [])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    procs.append(fake_proc)
    try:
        assert fake_proc.stdout is not None
        assert fake_proc.stdin is not None
        fake = json.loads(await asyncio.to_thread(fake_proc.stdout.readline))
        await wait_broker(port, broker)
        config = daemon_config(work, port, fake)
        edge_bin = ROOT / ".venv/bin/edge"
        command = [str(edge_bin)] if edge_bin.exists() else [sys.executable, "-m", "edge"]
        log = (work / "edge.log").open("w")
        daemon = subprocess.Popen(
            [*command, "run", "--config", str(config)], stdout=log, stderr=log, cwd=work
        )
        procs.append(daemon)
        return await measure(args, fake, fake_proc, daemon, port)
    finally:
        stop_started(procs)
        shutil.rmtree(work, ignore_errors=True)


async def measure(
    args: argparse.Namespace,
    fake: dict[str, str],
    fake_proc: subprocess.Popen[str],
    daemon: subprocess.Popen[bytes],
    port: int,
) -> dict[str, Any]:
    assert fake_proc.stdin is not None
    assert fake_proc.stdout is not None
    async with aiomqtt.Client(
        "127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5, identifier="bench-cloud"
    ) as cloud:
        await cloud.subscribe(f"{BASE}/out/#", qos=1)
        messages = cloud.messages

        async def until(predicate: Any, timeout: float = 600) -> Any:
            async with asyncio.timeout(timeout):
                async for msg in messages:
                    found = predicate(msg)
                    if found is not None:
                        return found
            return None

        def event(kind: str) -> Any:
            def match(msg: aiomqtt.Message) -> Any:
                if msg.topic.value.endswith("/out/events"):
                    doc = json.loads(msg.payload)  # type: ignore[arg-type]
                    return doc if doc["type"] == kind else None
                return None

            return match

        first = await until(event("menu.synced"))  # the start-up sync (no menu stored yet)
        await asyncio.sleep(2.0)  # settle
        idle = rss_kib(daemon.pid)
        downloads: list[float] = []
        syncs: list[float] = []
        cpus: list[float] = []
        phases: list[Any] = []  # the daemon's own read / build timings (menu.synced)
        peak = 0
        pages = size = 0
        published = 0
        for n in range(args.rounds):
            took, pages, size = await download(fake)
            downloads.append(took)
            fake_proc.stdin.write("bump\n")
            fake_proc.stdin.flush()
            await asyncio.to_thread(fake_proc.stdout.readline)
            command_id = f"bench_{n}"
            menus_seen = 0

            def reply(msg: aiomqtt.Message, command_id: str = command_id) -> Any:
                nonlocal menus_seen
                if "/out/menu/" in msg.topic.value:
                    menus_seen += 1
                if msg.topic.value.endswith("/out/events"):
                    doc = json.loads(msg.payload)  # type: ignore[arg-type]
                    if doc["type"] == "menu.synced":
                        phases.append(doc["data"].get("timings_s"))
                if msg.topic.value.endswith("/out/replies"):
                    doc = json.loads(msg.payload)  # type: ignore[arg-type]
                    return doc if doc.get("id") == command_id else None
                return None

            with RssSampler(daemon.pid) as sampler:
                cpu_before = cpu_s(daemon.pid)
                started = time.perf_counter()
                await cloud.publish(
                    f"{BASE}/in/commands",
                    json.dumps({"id": command_id, "name": "menu_sync", "args": {}}),
                    qos=1,
                )
                answer = await until(reply)
                syncs.append(time.perf_counter() - started)
                cpus.append(cpu_s(daemon.pid) - cpu_before)
            peak = max(peak, sampler.peak_kib)
            assert answer["ok"], answer
            assert answer["result"]["changed"], "each round changes a price"
            published = menus_seen
        await asyncio.sleep(2.0)  # settle
        hwm = rss_kib(daemon.pid)
    download_s = statistics.median(downloads)
    sync_s = statistics.median(syncs)
    return {
        "items": args.items,
        "modifiers": args.modifiers,
        "pages": pages,
        "page_bytes": size,
        "brands": first["data"]["brands"],
        "menus_published_per_sync": published,
        "download_s": [round(x, 3) for x in downloads],
        "sync_s": [round(x, 3) for x in syncs],
        "download_median_s": round(download_s, 3),
        "sync_median_s": round(sync_s, 3),
        "sync_to_download": round(sync_s / download_s, 2),
        "daemon_cpu_s_per_sync": [round(x, 3) for x in cpus],
        "daemon_phases_s": phases,
        "fake_answers_validated": args.validate_answers,
        "rss_idle_mib": round(idle["VmRSS"] / 1024, 1),
        "rss_peak_during_sync_mib": round(peak / 1024, 1),
        "rss_idle_after_syncs_mib": round(hwm["VmRSS"] / 1024, 1),
        "rss_high_water_mib": round(hwm["VmHWM"] / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--modifiers", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=100, help="Square's ListCatalog page")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "report.json")
    parser.add_argument(
        "--validate-answers",
        action="store_true",
        help="the fake also checks each answer against Square's spec (slow: ~0.3 s a page)",
    )
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        asyncio.run(serve_fake(args))
        return
    figures = asyncio.run(run(args))
    figures["targets"] = {"sync_within_2x_download": figures["sync_to_download"] <= 2.0}
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report["menu"] = figures
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
