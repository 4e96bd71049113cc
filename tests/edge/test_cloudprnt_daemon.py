"""The daemon serves CloudPRNT when `[cloudprnt]` is configured: a real `edge run` process, an
order from the cloud, a simulated Star printer polling it; and the status reply lists it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from edge.cloudprnt.service import service_for
from edge.config import load_config
from edge.control import call
from edge.daemon import Daemon
from edge.errors import EdgeError
from tests.conftest import load_order
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.cloudprnt_printer import SimulatedPrinter
from tests.support.edge_process import EdgeProcess, write_config

MAC = "00:11:62:00:00:07"
STRANGER = "00:11:62:00:00:08"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cloudprnt_config(tmp_path: Path, broker_url: str | None, table: str) -> Path:
    path = write_config(
        tmp_path / "edge.toml",
        broker_url=broker_url,
        printers=[{"name": "kitchen", "uri": f"cloudprnt://{MAC}"}],
    )
    with path.open("a", encoding="utf-8") as file:
        file.write(f"\n[cloudprnt]\n{table}\n")
    return path


async def test_the_daemon_prints_to_a_cloudprnt_printer_and_lists_it(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, edge_processes: list[EdgeProcess]
) -> None:
    port = free_port()
    config = cloudprnt_config(
        tmp_path,
        broker.url,
        f'listen = "127.0.0.1:{port}"\npoll_interval_s = 1\nallowed_macs = ["{STRANGER}"]',
    )
    proc = EdgeProcess(config).start()
    edge_processes.append(proc)
    url = f"http://127.0.0.1:{port}/cloudprnt"
    async with (
        SimulatedPrinter(url, mac=MAC, poll_interval=0.1) as printer,
        SimulatedPrinter(url, mac=STRANGER, poll_interval=0.1) as stranger,
    ):
        await cloud.wait_event("edge.connected")
        await printer.wait_polls(3, timeout=20)
        await cloud.send_order(load_order("ubereats_delivery"))
        [printed] = await cloud.wait_event("order.printed", ticket="kitchen")
        await printer.wait_printed(1)
        await stranger.wait_polls(2)
        status = await call(tmp_path / "control.sock", "status")
    assert printed["data"]["printer"] == "kitchen"
    [ticket] = printer.printed
    assert ticket.media == "image/png"
    assert ticket.size is not None
    assert ticket.size[0] == 576
    assert printer.violations == []
    assert stranger.printed == []
    listing = status["result"]["cloudprnt"]
    assert listing["listen"] == f"127.0.0.1:{port}"
    by_mac = {p["mac"]: p for p in listing["printers"]}
    assert by_mac[MAC]["configured"] is True
    assert by_mac[MAC]["online"] is True
    assert by_mac[MAC]["status_code"] == "200 OK"
    assert by_mac[MAC]["client_type"] == "Star mC-Print3"
    assert by_mac[STRANGER]["configured"] is False
    assert by_mac[STRANGER]["last_poll_at"].endswith("Z")


def test_cloudprnt_printers_get_one_ticket_per_job_and_the_service_transport(
    tmp_path: Path,
) -> None:
    config = load_config(cloudprnt_config(tmp_path, None, 'listen = "127.0.0.1:8085"'))
    daemon = Daemon(config)
    assert daemon.cloudprnt is not None
    worker = daemon.workers["kitchen"]
    assert worker.printer.batch_max_jobs == 1
    assert worker.link.transports == daemon.cloudprnt.transport_factory
    assert daemon.snapshot()["cloudprnt"]["printers"] == []


def test_the_basic_password_comes_from_a_file_or_a_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pw").write_text("s3cret\n", encoding="utf-8")
    with_file = load_config(
        cloudprnt_config(tmp_path, None, f'username = "star"\npassword_file = "{tmp_path / "pw"}"')
    )
    service = service_for(with_file)
    assert service is not None
    assert service.settings.password == "s3cret"
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "cloudprnt-password").write_text("from-systemd", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    with_credential = load_config(cloudprnt_config(tmp_path, None, 'username = "star"'))
    service = service_for(with_credential)
    assert service is not None
    assert service.settings.password == "from-systemd"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(EdgeError, match="no password"):
        service_for(with_credential)
