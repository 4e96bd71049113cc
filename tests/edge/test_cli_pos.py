"""`edge pos status | menu` against the fake Square server (spec-validated)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from tests.support.fake_square import FakeSquare


def _config(tmp_path: Path, square: FakeSquare, token: str | None = None) -> Path:
    token_file = tmp_path / "pos-token"
    token_file.write_text((token or square.token) + "\n")
    config = tmp_path / "edge.toml"
    config.write_text(
        f'[store]\nid = "st_test"\n\n[database]\npath = "{tmp_path / "edge.db"}"\n\n'
        f'[pos]\nkind = "square"\nbase_url = "{square.url}"\n'
        f'token_file = "{token_file}"\nlocation_id = "{square.location_id}"\n'
    )
    return config


async def _edge(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "edge", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_pos_status_and_menu(tmp_path: Path, square: FakeSquare) -> None:
    config = _config(tmp_path, square)
    status = await _edge("pos", "status", "--config", str(config), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["ok"] is True

    menu = await _edge("pos", "menu", "--config", str(config), "--json")
    assert menu.returncode == 0, menu.stderr
    doc = json.loads(menu.stdout)
    variation_ids = {v["id"] for item in doc["items"] for v in item["variations"]}
    assert {"itm_cheese", "itm_frites", "itm_coca"} <= variation_ids
    modifier_ids = {m["id"] for group in doc["modifier_lists"] for m in group["modifiers"]}
    assert "mod_bacon" in modifier_ids

    human = await _edge("pos", "menu", "--config", str(config))
    assert human.returncode == 0, human.stderr
    assert "itm_cheese" in human.stdout


async def test_pos_status_reports_a_refused_token(tmp_path: Path, square: FakeSquare) -> None:
    config = _config(tmp_path, square, token="wrong-token")
    status = await _edge("pos", "status", "--config", str(config), "--json")
    assert status.returncode == 1
    assert json.loads(status.stdout)["ok"] is False
    assert "Traceback" not in status.stderr


async def test_pos_commands_without_a_pos(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(f'[store]\nid = "st_test"\n\n[database]\npath = "{tmp_path / "edge.db"}"\n')
    result = await _edge("pos", "status", "--config", str(config))
    assert result.returncode == 1
    assert "no POS configured" in result.stderr


async def test_doctor_checks_the_pos_link(tmp_path: Path, square: FakeSquare) -> None:
    config = _config(tmp_path, square)
    result = await _edge("doctor", "--config", str(config), "--json")
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert checks["pos"]["ok"] is True
    bad = _config(tmp_path, square, token="wrong-token")
    result = await _edge("doctor", "--config", str(bad), "--json")
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert checks["pos"]["ok"] is False
    assert result.returncode == 1
