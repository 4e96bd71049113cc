"""`edge run`: every long-lived task of the daemon in one TaskGroup, and an orderly shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from drivers.escpos import preload_fonts
from edge import __version__, jobs
from edge.advertise import Advertiser
from edge.cloud.inbound import Applied, InboundSettings
from edge.cloud.link import BrokerSettings, CloudLink, Identity
from edge.cloud.topics import Topics
from edge.cloudprnt.service import service_for as cloudprnt_service
from edge.commands import CommandContext, Reply, run_command
from edge.config import CREDENTIAL_MQTT_PASSWORD, Config, read_secret
from edge.control import ControlServer
from edge.db import Database, Durability
from edge.errors import EdgeError, StorageError
from edge.housekeeping import Housekeeping
from edge.ids import ulid, utc_now_rfc3339
from edge.menu.sync import MenuSettings, MenuSync, MenuSyncError, Trigger, menu_topics
from edge.orders.intake import Intake, Lifecycle
from edge.orders.routing import PrinterRoute
from edge.pos import connector_for
from edge.pos.injector import Injector
from edge.pos.menu import CurrentMenu
from edge.pos.secrets import DatabaseSecrets
from edge.printing.render import DrawerSettings, PrinterSettings, TicketStyle
from edge.printing.worker import PrinterWorker
from edge.scheduler import Scheduler
from edge.storage import MIB, StorageWatch
from edge.till.service import TILL_COMMANDS, Till

log = logging.getLogger(__name__)


def _device_id(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = 'device_id'").fetchone()
    if row:
        return str(row[0])
    device_id = "dev_" + ulid()
    conn.execute("INSERT INTO meta (key, value) VALUES ('device_id', ?)", (device_id,))
    return device_id


def broker_settings(config: Config) -> BrokerSettings | None:
    """The broker connection settings of `[cloud]`, or None when offline."""
    cloud = config.cloud
    if cloud is None:
        return None
    return BrokerSettings(
        scheme=cloud.scheme,
        host=str(cloud.socket_path) if cloud.scheme == "unix" else (cloud.host or ""),
        port=cloud.port or 1883,  # paho insists on a valid port even for a Unix socket
        client_id=config.cloud_client_id,
        username=cloud.username or None,
        password=read_secret(cloud.password_file, CREDENTIAL_MQTT_PASSWORD),
        ca_file=cloud.ca_file or None,
        cert_file=cloud.cert_file or None,
        key_file=cloud.key_file or None,
        keepalive_s=cloud.keepalive_s,
        session_expiry_s=cloud.session_expiry_s,
        receive_maximum=cloud.receive_maximum,
        backoff_initial_s=cloud.backoff_initial_s,
        backoff_max_s=cloud.backoff_max_s,
    )


@contextlib.contextmanager
def single_instance(db_path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the database: two daemons on one file would both print."""
    lock_path = Path(db_path).with_name(Path(db_path).name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise EdgeError(
                f"another edge daemon already uses {db_path} (lock {lock_path} is held)"
            ) from err
        yield


class Daemon:
    """The running store-edge: cloud link, printer workers, scheduler, control socket."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.started = time.time()
        self.db = Database(config.database.path)
        self.storage = StorageWatch(
            self.db,
            reserve_bytes=int(config.database.reserve_mb * MIB),
            interval_s=config.database.check_interval_s,
        )
        self.routes = [
            PrinterRoute(p.name, tuple(p.roles), tuple(p.brands), p.copies) for p in config.printers
        ]
        # A POS whose connector cannot be built (no token) is a config error: refuse to start
        # rather than silently skip injection.
        connector = connector_for(config.pos, secrets=DatabaseSecrets(self.db))
        self.life = Lifecycle(
            self.routes,
            release_lead_s=config.orders.release_lead_min * 60.0,
            pos=connector is not None,
        )
        ZoneInfo(config.store.timezone)  # its rules read from disk now, not in the event loop
        self.style = TicketStyle(
            locale=config.store.locale, timezone=config.store.timezone, store_name=config.store.name
        )
        # The LAN server Star CloudPRNT printers poll; their workers get its transports.
        self.cloudprnt = cloudprnt_service(config)
        self.workers = {
            p.name: PrinterWorker(
                PrinterSettings(
                    name=p.name,
                    uri=p.uri,
                    width=p.width,
                    encoding=p.encoding,
                    copies=p.copies,
                    connect_timeout_s=p.connect_timeout_s,
                    write_timeout_s=p.write_timeout_s,
                    status_interval_s=p.status_interval_s,
                    status_timeout_s=p.status_timeout_s,
                    retry_initial_s=p.retry_initial_s,
                    retry_max_s=p.retry_max_s,
                    fault_poll_s=p.fault_poll_s,
                    silent_after_s=p.silent_after_s,
                    backup=p.backup,
                    # One CloudPRNT job is one ticket: its printer confirms each one.
                    batch_max_jobs=1 if p.scheme == "cloudprnt" else p.batch_max_jobs,
                    failover_after_s=p.failover_after_s,
                    drawer=DrawerSettings(
                        pin=p.drawer_pin,
                        open_high=p.drawer_open_high,
                        left_open_after_s=p.drawer_left_open_min * 60.0,
                    )
                    if p.cash_drawer
                    else None,
                ),
                self.db,
                self.style,
                self._events_added,
                lambda name: self._wake_printers({name}),
                transports=(
                    self.cloudprnt.transport_factory
                    if self.cloudprnt is not None and p.scheme == "cloudprnt"
                    else None
                ),
            )
            for p in config.printers
        }
        self.scheduler = Scheduler(self.db, self.life, self._woken)
        self.connector = connector
        self.menus = CurrentMenu()
        self.menu_sync = (
            MenuSync(
                self.db,
                connector,
                MenuSettings.of(config),
                menu_topics(config),
                on_queued=self._outgoing_queued,
                current=self.menus,
            )
            if connector is not None
            else None
        )
        self.injector = (
            Injector(
                connector,
                self.db,
                config.pos,
                config.store.id,
                self.routes,
                self._events_added,
                self._wake_printers,
                self.menus,
            )
            if connector is not None
            else None
        )
        pins: dict[str, str] = {}  # a deferred command's PIN, in memory only
        self.till = Till(
            self.db,
            config,
            {p.name: self.workers[p.name] for p in config.printers if p.cash_drawer},
            self._outgoing_queued,  # its events, and the replies to its commands
            pins=pins,
        )
        self.commands = CommandContext(
            store_id=config.store.id,
            version=__version__,
            routes=self.routes,
            snapshot=self.snapshot,
            deferred=TILL_COMMANDS | ({"menu_sync"} if self.menu_sync else set()),
            pins=pins,
        )
        self.link: CloudLink | None = None
        cloud = config.cloud
        self.housekeeping = Housekeeping(
            self.db,
            retention_s=(cloud.event_retention_h if cloud else 168) * 3600.0,
            retention_max=cloud.event_retention_max if cloud else 100_000,
            offline=cloud is None,
        )
        self.stopping = asyncio.Event()
        self._serving = False

    # ---- wiring ---------------------------------------------------------------------------

    def _events_added(self) -> None:
        self.housekeeping.poke()
        if self.link is not None:
            self.link.outbox_ready.set()

    def _outgoing_queued(self) -> None:
        self._events_added()
        if self.link is not None:
            self.link.outgoing_ready.set()

    def _wake_printers(self, names: set[str]) -> None:
        for name in names:
            worker = self.workers.get(name)
            if worker is not None:
                worker.wake.set()

    def _wake_injector(self, wanted: bool) -> None:
        if wanted and self.injector is not None:
            self.injector.wake.set()

    def _woken(self, intake: Intake) -> None:
        self._wake_printers(intake.printers)
        self._wake_injector(intake.pos)
        self._events_added()

    def _applied(self, applied: Applied) -> None:
        self.housekeeping.poke()
        self._wake_injector(applied.pos)
        self._wake_printers(applied.printers)
        if applied.scheduler:
            self.scheduler.wake.set()
        if applied.deferred:
            self.till.wake.set()
        if self.menu_sync is not None:
            if applied.deferred:
                self.menu_sync.wake.set()
            if applied.settings:
                self.menu_sync.settings_changed()

    def snapshot(self) -> dict[str, Any]:
        """In-memory state for the `status` command (read from any thread)."""
        link = self.link
        return {
            "uptime_s": round(time.time() - self.started, 1),
            "printers": [w.snapshot() for w in self.workers.values()],
            "cloud": {
                "configured": self.config.cloud is not None,
                "connected": bool(link and link.connected),
                "last_error": link.last_error if link else None,
            },
            "pos": self._pos_snapshot(),
            "storage": self._storage_snapshot(),
            "till": self.till.snapshot(),
            **({"cloudprnt": self.cloudprnt.snapshot()} if self.cloudprnt is not None else {}),
        }

    def _pos_snapshot(self) -> dict[str, Any]:
        if self.injector is None or self.menu_sync is None:
            return {"kind": "none"}
        return {**self.injector.snapshot(), "menu": self.menu_sync.snapshot()}

    def _storage_snapshot(self) -> dict[str, Any]:
        state = self.db.health.state
        space = self.storage.last
        return {
            "state": state.label,
            "since": utc_now_rfc3339(state.since) if state.since else None,
            "detail": state.detail or None,
            "free_bytes": space.free_bytes if space else None,
            "database_bytes": space.database_bytes if space else None,
            "durability": self.db.durability,
        }

    async def _control(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        command_id = "local-" + ulid()
        if command in TILL_COMMANDS:  # `edge drawer open`, `edge payments resolve`
            if command in ("pay", "refund"):
                # The socket gives up on a request after 30 s: a payment cancelled with the
                # customer at the terminal would be UNKNOWN. Payments come from the cloud.
                reason = f"{command} is taken from the cloud (MQTT), not the control socket"
                return Reply.failure(command_id, "invalid_args", reason).document
            return (await self.till.reply(command_id, command, args)).document
        if command == "menu_sync" and self.menu_sync is not None:
            try:  # `edge menu sync` while the daemon runs: answered when the sync ends
                result = await self.menu_sync.sync(Trigger.CLI)
            except MenuSyncError as err:
                return Reply.failure(command_id, err.code.value, err.reason).document
            return Reply.success(command_id, result).document
        reply = await self.db.write(
            lambda c: run_command(c, self.commands, command_id, command, args),
            Durability.FULL,
        )
        assert reply is not None  # a local command has no reply topic: never deferred
        self._wake_printers(reply.printers)
        self._events_added()
        return reply.document

    # ---- run ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until SIGTERM/SIGINT (or `stopping` is set), then shut down in order."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stopping.set)
        with single_instance(self.config.database.path):
            starting = asyncio.create_task(self._start(), name="start-up")
            stop = asyncio.create_task(self.stopping.wait(), name="stop-signal")
            await asyncio.wait([starting, stop], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not self._serving:
                # Stopped while start-up waits out a storage fault: nothing was taken yet.
                starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting

    async def _start(self) -> None:
        await self._open_database()
        try:
            await self._serve()
        finally:
            await self.db.close()

    async def _open_database(self) -> None:
        """Open the database, waiting out a full or failing disk: a daemon that exits would be
        given up by systemd after a few restarts, and print nothing once room returns."""
        while True:
            try:
                await self.db.open()
            except StorageError:
                if await self.storage.give_back_reserve():
                    continue
                await self.db.health.wait_change(self.storage.interval_s)
            else:
                return

    async def _serve(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            if self.connector is not None:  # one HTTP client for injection and menu sync
                await stack.enter_async_context(self.connector)
            await self._serve_tasks()

    async def _serve_tasks(self) -> None:
        async with asyncio.TaskGroup() as tg:
            # First, so that start-up itself rides out a full or failing disk (it waits,
            # holding its place, rather than refusing to start and print what is held).
            storage = tg.create_task(self.storage.run(), name="storage")
            interrupted = await self.db.write_when_stored(jobs.recover_interrupted)
            # The fonts for text no code page holds are found now, off the event loop, not
            # at the first such ticket (edge doctor reports a missing one).
            try:
                await asyncio.to_thread(preload_fonts)
            except Exception:  # such text then prints as "?"; never a reason not to start
                log.exception("looking for fonts failed")
            for job in interrupted:
                log.warning(
                    "job %d (%s %s) was interrupted; it will be retried",
                    job.id,
                    job.kind,
                    job.order_id or "",
                )
            # A payment the daemon was killed during is UNKNOWN now: never retried.
            await self.till.recover()
            device_id = await self.db.write_when_stored(_device_id)
            broker = broker_settings(self.config)
            if broker is not None:
                cloud = self.config.cloud
                assert cloud is not None
                cloud_days = cloud.event_retention_h * 3600.0
                self.link = CloudLink(
                    broker,
                    Topics(cloud.topic_prefix, self.config.store.id),
                    Identity(device_id=device_id, boot_id="boot_" + ulid(), version=__version__),
                    self.db,
                    InboundSettings(
                        topics=Topics(cloud.topic_prefix, self.config.store.id),
                        life=self.life,
                        retention_s=cloud_days,
                        retention_max=cloud.event_retention_max,
                        commands=self.commands,
                    ),
                    self._applied,
                )
                self.db.health.listen(self.link.storage_changed)
            log.info(
                "store-edge %s serving store %s: %d printer(s), cloud %s",
                __version__,
                self.config.store.id,
                len(self.workers),
                "on" if self.link else "off",
            )
            self._serving = True  # from here a stop is the orderly shutdown below
            tasks = [
                tg.create_task(w.run(), name=f"printer-{name}") for name, w in self.workers.items()
            ]
            till = tg.create_task(self.till.run(), name="till")
            background = [
                storage,
                tg.create_task(self.scheduler.run(), name="scheduler"),
                *(
                    [tg.create_task(self.injector.run(), name="pos")]
                    if self.injector is not None
                    else []
                ),
                *(
                    [tg.create_task(self.menu_sync.run(), name="menu-sync")]
                    if self.menu_sync is not None
                    else []
                ),
                tg.create_task(self.housekeeping.run(), name="housekeeping"),
                tg.create_task(
                    ControlServer(self.config.control_socket_path, self._control).run(),
                    name="control",
                ),
            ]
            if self.link is not None:
                background.append(tg.create_task(self.link.run(), name="cloud-link"))
            if self.cloudprnt is not None:  # a bind failure is logged and retried, never fatal
                background.append(tg.create_task(self.cloudprnt.run(), name="cloudprnt"))
            if self.config.mdns.advertise:  # never fatal: a failure is logged and retried
                background.append(tg.create_task(Advertiser(self.config).run(), name="mdns"))
            await self.stopping.wait()
            await self.till.stop(till)  # a payment at the terminal may end first
            await self._shutdown(tasks, background)

    async def _shutdown(
        self, printer_tasks: list[asyncio.Task[None]], background: list[asyncio.Task[None]]
    ) -> None:
        log.info("shutting down: stopping intake")
        if self.link is not None:
            self.link.stop_intake()
        for worker in self.workers.values():
            worker.stop()
        # One attempt is a write then the status check after it, each bounded by its deadline.
        longest = max(
            (
                2 * w.printer.write_timeout_s + w.printer.status_timeout_s
                for w in self.workers.values()
            ),
            default=0.0,
        )
        if printer_tasks:
            # Bounded by the write deadline: an in-flight ticket finishes or is parked for retry.
            # A slow write still making progress past it is cancelled: its tickets stay running
            # and print again after the restart, marked REPRINT.
            await asyncio.wait(printer_tasks, timeout=longest + 5.0)
            for task in printer_tasks:
                task.cancel()
        # BLE printers kept connected between batches are let go (phones, another box).
        from drivers.transports.ble import release_kept_connections

        await release_kept_connections()
        if self.link is not None:
            await self.link.say_goodbye()
        for task in background:
            task.cancel()
        log.info("stopped")
