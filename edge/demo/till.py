"""The demo's till act: a simulated Concert card terminal on a pty, the drawer on the kitchen
printer, a cashier and a supervisor, and the cloud's `pay` and `drawer_open` commands."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.console import Console

CASHIER = ("Élodie", "cashier", "246810")
SUPERVISOR = ("Marc", "supervisor", "135790")

#: (title, name, args) -> the reply
Command = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]
Wait = Callable[[str, Callable[[], bool]], Awaitable[bool]]
Count = Callable[..., int]


def config_lines(terminal: str) -> str:
    """The demo config's `[card_reader]` on the simulator's pty."""
    return f'\n[card_reader]\nuri = "serial://{terminal}"\nprotocol = "concert"\n'


async def add_staff(config: Path, console: Console) -> None:
    """The cashier and the supervisor, with the command a technician would use."""
    for name, role, pin in (CASHIER, SUPERVISOR):
        argv = [sys.executable, "-m", "edge", "staff", "add", name, "--role", role]
        argv += ["--config", str(config)]
        added = await asyncio.to_thread(_run, argv, pin + "\n")
        if added.returncode != 0:
            raise RuntimeError(f"edge staff add {name}: {added.stderr.strip()}")
    console.print(
        f"staff: {CASHIER[0]} (cashier, PIN {CASHIER[2]}), "
        f"{SUPERVISOR[0]} (supervisor, PIN {SUPERVISOR[2]})"
    )


def _run(argv: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, text=True, capture_output=True, check=False)


async def play(
    command: Command, wait: Wait, count: Count, paid_order: str, console: Console
) -> bool:
    """Card and cash payments, a refusal, and the drawer; True when each did as expected."""
    cashier, supervisor = CASHIER[2], SUPERVISOR[2]
    reply = await command(
        f"pay order {paid_order} at the till (already paid on Uber Eats)",
        "pay",
        {"order_id": paid_order, "amount": 2450, "currency": "EUR", "pin": cashier},
    )
    ok = (reply.get("error") or {}).get("code") == "already_paid"
    reply = await command(
        "pay 14.50 EUR by card for counter sale C-042 (the terminal approves)",
        "pay",
        {"order_id": "C-042", "amount": 1450, "currency": "EUR", "pin": cashier},
    )
    ok &= (reply.get("result") or {}).get("outcome") == "approved"
    ok &= await wait("payment.approved", lambda: count("payment.approved") >= 1)
    reply = await command(
        "pay 8.20 EUR in cash for counter sale C-043 (the drawer opens)",
        "pay",
        {"order_id": "C-043", "amount": 820, "currency": "EUR", "pin": cashier, "method": "cash"},
    )
    ok &= await wait("drawer.opened", lambda: count("drawer.opened", sale=True) >= 1)
    reply = await command(
        "open the drawer without a sale, with the cashier's PIN (refused)",
        "drawer_open",
        {"pin": cashier, "reason": "change for a 50"},
    )
    ok &= (reply.get("error") or {}).get("code") == "forbidden"
    reply = await command(
        "open the drawer without a sale, with the supervisor's PIN",
        "drawer_open",
        {"pin": supervisor, "reason": "change for a 50"},
    )
    ok &= await wait("drawer.opened", lambda: count("drawer.opened", sale=False) >= 1)
    console.print(
        "  (the audit log: edge audit --config …; payments: edge payments show C-042 --config …)"
    )
    return bool(ok)
