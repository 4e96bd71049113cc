"""The cloud link over a Unix socket and over TLS (mqtts://), against a real mosquitto."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.emulator import PrinterEmulator
from tests.conftest import load_order
from tests.support.broker import Broker, free_port
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess, write_config


@pytest.fixture
async def kitchen() -> AsyncIterator[PrinterEmulator]:
    async with PrinterEmulator(name="kitchen") as emu:
        yield emu


async def _order_prints(
    tmp_path: Path,
    broker: Broker,
    url: str,
    kitchen: PrinterEmulator,
    procs: list[EdgeProcess],
    **cloud: str,
) -> None:
    config = write_config(
        tmp_path / "edge.toml",
        broker_url=url,
        printers=[{"name": "kitchen", "uri": kitchen.uri}],
        cloud=cloud,
    )
    procs.append(EdgeProcess(config).start())
    async with FakeCloud(broker.port) as cloud_side:  # the cloud uses the plain TCP listener
        await cloud_side.wait_event("edge.connected")
        await cloud_side.send_order(load_order("ubereats_delivery"))
        await cloud_side.wait_event("order.printed", order_id="ord_ue_0001")
    [job] = await kitchen.wait_for_jobs(1)
    assert "A1B2C" in job.text


async def test_unix_socket_broker(tmp_path: Path, kitchen: PrinterEmulator, edge_processes) -> None:
    sock = tmp_path / "mqtt.sock"
    broker = Broker(tmp_path, extra=f"listener 0 {sock}\n")
    broker.start()
    try:
        await _order_prints(tmp_path, broker, f"unix://{sock}", kitchen, edge_processes)
    finally:
        broker.stop()


def _make_certs(folder: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    )
    return folder / "ca.crt", folder / "server.crt", folder / "server.key"


@pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl is needed to make test certificates"
)
async def test_tls_broker_verified_with_the_configured_ca(
    tmp_path: Path, kitchen: PrinterEmulator, edge_processes
) -> None:
    ca, cert, key = _make_certs(tmp_path)
    tls_port = free_port()
    broker = Broker(
        tmp_path,
        extra=f"listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n",
    )
    broker.start()
    try:
        await _order_prints(
            tmp_path,
            broker,
            f"mqtts://127.0.0.1:{tls_port}",
            kitchen,
            edge_processes,
            ca_file=str(ca),
        )
    finally:
        broker.stop()
