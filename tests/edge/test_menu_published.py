"""Each POS's recorded menu, read from its strict fake and published under the store's rules:
the menus the cloud receives, per brand, as golden files (tests/golden/menus/*-published.json).

Regenerate with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/edge/test_menu_published.py`; read the
diff: it is what every delivery platform would show.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from edge.config import load_config
from edge.menu.rules import Rules, brand_names
from edge.pos import connector_for
from tests.support.edge_process import write_config
from tests.support.golden import MENUS as GOLDEN
from tests.support.golden import assert_golden
from tests.support.memory_secrets import MemorySecrets
from tests.support.pos_daemon import pos_section
from tests.support.square_spec import SPEC_PATH as SQUARE_SPEC
from tests.support.toast_spec import specs_present as toast_specs_present

SCHEMA = json.loads((Path(__file__).parents[2] / "edge/menu/menu.schema.json").read_text())
MENU = '[menu.brand_labels]\n"Pasta Nostra" = "Pasta"\n"Burger Lab" = "Burger"\n'
HIDE = {"hide from delivery", "masquer"}


@asynccontextmanager
async def fake_for(kind: str) -> AsyncIterator[Any]:
    if kind == "square":
        if not SQUARE_SPEC.is_file():
            pytest.skip("Square's spec is absent")
        from tests.support.fake_square import FakeSquare

        async with FakeSquare() as fake:
            yield fake
    elif kind == "toast":
        if not toast_specs_present():
            pytest.skip("Toast's specs are absent")
        from tests.support.fake_toast import FakeToast

        async with FakeToast() as fake:
            yield fake
    elif kind == "clover":
        from tests.support.fake_clover import FakeClover

        async with FakeClover() as fake:
            yield fake
    else:
        from tests.support.fake_lightspeed_k import FakeLightspeedK

        async with FakeLightspeedK() as fake:
            yield fake


@pytest.mark.parametrize("kind", ["square", "toast", "clover", "lightspeed_k"])
async def test_the_recorded_menu_as_each_brand_receives_it(kind: str, tmp_path: Path) -> None:
    async with fake_for(kind) as fake:
        path = write_config(tmp_path / "edge.toml", broker_url=None, printers=[])
        with path.open("a") as f:
            f.write("\n" + pos_section(tmp_path, kind, fake) + "\n" + MENU)
        config = load_config(path)
        # the secrets are read from files: not in the event loop
        connector = await asyncio.to_thread(connector_for, config.pos, secrets=MemorySecrets())
        assert connector is not None
        async with connector:
            menu = await connector.read_menu()
        assert fake.violations == []
    brands = brand_names([], config.menu)
    published = Rules(config.menu, brands, store_id="st_test", pos=kind).apply(menu)
    docs = {b.brand: b.doc for b in published.brands}
    for doc in docs.values():
        jsonschema.validate(doc, SCHEMA)

    # The rules, whatever the vendor: hidden items nowhere, brand items only in their brand,
    # unlabelled items in both.
    items = {b: {i["pos_item_id"]: i for i in d["items"]} for b, d in docs.items()}
    for item in menu.items:
        labels = {label.strip().casefold() for label in item.labels}
        where = {b for b in brands if item.id in items[b]}
        if labels & HIDE:
            assert where == set(), item.name
        elif "burger" in labels and "pasta" not in labels:
            assert where == {"Burger Lab"}, item.name
        elif "pasta" in labels and "burger" not in labels:
            assert where == {"Pasta Nostra"}, item.name
        elif not labels & {"burger", "pasta"}:
            assert where == set(brands), item.name
    assert published.hidden, "the fixture hides items"
    several = [i for i in menu.items if len(i.variations) > 1 and i.id not in published.hidden]
    for item in several:
        for variation in item.variations:
            brand = next(b for b in brands if item.id in items[b])
            entry = next(e for e in docs[brand]["items"] if e["pos_id"] == variation.id)
            assert entry["name"] == f"{variation.name} - {item.name}"

    assert_golden(
        GOLDEN / f"{kind}-published.json", json.dumps(docs, indent=2, ensure_ascii=False) + "\n"
    )


def test_variations_become_named_items_on_the_pos_that_have_them() -> None:
    """Square's item variations and Clover's item groups give "Grande - Vanille"."""
    for kind in ("square", "clover"):
        golden = GOLDEN / f"{kind}-published.json"
        if not golden.is_file():
            pytest.skip(f"{golden} not generated")
        names = {i["name"] for doc in json.loads(golden.read_text()).values() for i in doc["items"]}
        assert "Grande - Vanille" in names, kind
