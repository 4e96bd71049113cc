"""Shared fixtures: a real mosquitto per test, the daemon as a child process, fake cloud."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from blockbuster import blockbuster_ctx

from drivers.emulator import PrinterEmulator
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess
from tests.support.fake_clover import FakeClover
from tests.support.fake_lightspeed_k import FakeLightspeedK
from tests.support.fake_square import FakeSquare
from tests.support.fake_toast import FakeToast
from tests.support.fsfault import shim_or_skip
from tests.support.square_spec import SPEC_MISSING as SQUARE_SPEC_MISSING
from tests.support.square_spec import SPEC_PATH as SQUARE_SPEC
from tests.support.toast_spec import SPEC_MISSING as TOAST_SPEC_MISSING
from tests.support.toast_spec import specs_present as toast_specs_present

FIXTURES = Path(__file__).parent / "fixtures" / "orders"


def load_order(name: str, **changes: Any) -> dict[str, Any]:
    """A sample order from tests/fixtures/orders with fields replaced."""
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    doc.update(changes)
    return doc


@pytest.fixture(autouse=True)
def no_blocking_in_the_event_loop() -> Iterator[None]:
    """Fail the test when code of edge/ or drivers/ blocks the event loop it runs in (a file
    or socket call without a thread, time.sleep, …): every other task would wait behind it."""
    with blockbuster_ctx(["edge", "drivers"]) as guard:
        # Read once per process and cached: a time zone's rules (the first ticket of a store).
        for name in ("io.BufferedReader.read", "os.stat"):
            guard.functions[name].can_block_in("zoneinfo/_common.py", "load_tzdata")
            guard.functions[name].can_block_in("zoneinfo/_common.py", "load_data")
            guard.functions[name].can_block_in("zoneinfo/_tzpath.py", "find_tzfile")
        # Tests read configs in the loop; the daemon reads its own before the loop starts.
        guard.functions["io.BufferedReader.read"].can_block_in("edge/config/load.py", "_read_text")
        # Test seams that run inside the daemon's code read their fixtures.
        guard.functions["io.TextIOWrapper.read"].can_block_in("tests/conftest.py", "load_order")
        yield


@pytest.fixture(scope="session")
def shim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fsfault LD_PRELOAD shim (tests/support/fsfault), compiled once and cached in
    pytest's cache directory; the test is skipped, with the reason, where it cannot be built."""
    cache = getattr(request.config, "cache", None)
    cache_dir = Path(cache.mkdir("fsfault")) if cache is not None else tmp_path_factory.mktemp("ff")
    return shim_or_skip(cache_dir)


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


@pytest.fixture
async def kitchen() -> AsyncIterator[PrinterEmulator]:
    """A kitchen printer, emulated on loopback (files with their own setup define theirs)."""
    async with PrinterEmulator(name="kitchen") as emu:
        yield emu


# ---- the four POS fakes, strict: a test fails when a request broke the vendor's document ----


@pytest.fixture
async def square() -> AsyncIterator[FakeSquare]:
    """Square's fake (skipped with the reason when Square's OpenAPI document is absent)."""
    if not SQUARE_SPEC.is_file():
        pytest.skip(SQUARE_SPEC_MISSING)
    async with FakeSquare() as fake:
        yield fake
        assert fake.violations == [], "a request (or the fake's answer) broke Square's spec"


@pytest.fixture
async def toast() -> AsyncIterator[FakeToast]:
    """Toast's fake (skipped with the reason when Toast's documents are absent)."""
    if not toast_specs_present():
        pytest.skip(TOAST_SPEC_MISSING)
    async with FakeToast() as fake:
        yield fake
        assert fake.violations == [], "a request broke Toast's documents"


@pytest.fixture
async def clover() -> AsyncIterator[FakeClover]:
    """Clover's fake, strict against our OpenAPI document of it."""
    async with FakeClover() as fake:
        yield fake
        assert fake.violations == [], "a request broke our Clover document"


@pytest.fixture
async def lsk() -> AsyncIterator[FakeLightspeedK]:
    """Lightspeed K's fake, strict against our OpenAPI document of it."""
    async with FakeLightspeedK() as fake:
        yield fake
        assert fake.violations == [], "a request broke our Lightspeed K document"
