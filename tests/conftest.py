"""Shared fixtures: a real mosquitto per test, the daemon as a child process, fake cloud."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess

FIXTURES = Path(__file__).parent / "fixtures" / "orders"


def load_order(name: str, **changes: Any) -> dict[str, Any]:
    """A sample order from tests/fixtures/orders with fields replaced."""
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    doc.update(changes)
    return doc


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A private mosquitto on a free loopback port."""
    b = Broker(tmp_path)
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
async def cloud(broker: Broker) -> AsyncIterator[FakeCloud]:
    """The cloud side, subscribed to the store's out/# topics."""
    async with FakeCloud(broker.port) as c:
        yield c


@pytest.fixture
def edge_processes() -> Iterator[list[EdgeProcess]]:
    """Daemons started by a test; killed at the end if still running."""
    started: list[EdgeProcess] = []
    yield started
    for p in started:
        p.stop_quietly()
