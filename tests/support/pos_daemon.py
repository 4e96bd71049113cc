"""The daemon with a kitchen printer and one POS fake: the [pos] table for each vendor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drivers.emulator import PrinterEmulator
from tests.support.broker import Broker
from tests.support.edge_process import EdgeProcess, write_config


def _secret(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")
    return path


def pos_section(tmp_path: Path, kind: str, fake: Any) -> str:
    """The [pos] table naming `fake`, its secrets written to files beside the config."""
    lines = [f'kind = "{kind}"', f'base_url = "{fake.url}"']
    if kind == "square":
        token = _secret(tmp_path, "pos-token", fake.token)
        lines += [f'token_file = "{token}"', f'location_id = "{fake.location_id}"']
    elif kind == "toast":
        secret = _secret(tmp_path, "pos-client-secret", fake.client_secret)
        lines += [
            f'client_id = "{fake.client_id}"',
            f'client_secret_file = "{secret}"',
            f'location_id = "{fake.restaurant_guid}"',
        ]
    elif kind == "clover":
        token = _secret(tmp_path, "pos-token", fake.token)
        lines += [f'token_file = "{token}"', f'location_id = "{fake.merchant_id}"']
    else:  # lightspeed_k
        secret = _secret(tmp_path, "pos-client-secret", fake.client_secret)
        token = _secret(tmp_path, "pos-refresh-token", fake.refresh_token)
        lines += [
            f'client_id = "{fake.client_id}"',
            f'client_secret_file = "{secret}"',
            f'token_file = "{token}"',
            f'location_id = "{fake.business_location_id}"',
        ]
    return "[pos]\n" + "\n".join(lines) + "\n"


def pos_edge(
    tmp_path: Path, broker: Broker, kitchen: PrinterEmulator, section: str, procs: list
) -> EdgeProcess:
    """The daemon (not started) with the kitchen printer and this [pos] table."""
    config = write_config(
        tmp_path / "edge.toml",
        broker_url=broker.url,
        printers=[{"name": "kitchen", "uri": kitchen.uri}],
    )
    with config.open("a") as f:
        f.write("\n" + section)
    proc = EdgeProcess(config)
    procs.append(proc)
    return proc


def unique(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events once each: after a restart the daemon publishes again those the cloud did not
    confirm (`in/events-ack`), with the same id and seq."""
    return list({e["id"]: e for e in events}.values())
