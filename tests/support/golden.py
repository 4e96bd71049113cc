"""Golden files of normalized and published menus: compared as text, rewritten with
UPDATE_GOLDEN=1 (then read the diff: it is what the cloud and the platforms would get)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from edge.pos.menu import Menu

MENUS = Path(__file__).resolve().parents[1] / "golden" / "menus"


def menu_text(menu: Menu) -> str:
    """A normalized menu as its golden file holds it."""
    return json.dumps(menu.to_doc(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def assert_golden(path: Path, text: str) -> None:
    """`text` equals the golden file at `path` (written first when UPDATE_GOLDEN=1)."""
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs (UPDATE_GOLDEN=1)"
