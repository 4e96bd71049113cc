"""Run a printer emulator in the foreground: python -m drivers.emulator --out DIR."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path
from typing import get_args

from drivers.emulator.server import PrinterEmulator, StatusMode


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m drivers.emulator",
        description="Emulate a port-9100 ESC/POS printer; write each ticket as .txt/.png/.bin.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9100, help="TCP port (0: any free port)")
    parser.add_argument("--out", type=Path, default=None, help="folder for printed tickets")
    parser.add_argument("--name", default="printer", help="printer name, used in file names")
    parser.add_argument("--width", type=int, default=48, help="characters per line")
    parser.add_argument(
        "--status-mode", choices=get_args(StatusMode), default="normal", help="DLE EOT answers"
    )
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with PrinterEmulator(
        name=args.name,
        host=args.host,
        port=args.port,
        output_dir=args.out,
        width_chars=args.width,
        status_mode=args.status_mode,
    ) as printer:
        print(printer.uri, flush=True)
        await stop.wait()
    print(f"{printer.name}: {len(printer.jobs)} jobs", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    asyncio.run(_run(_parse(argv)))


if __name__ == "__main__":
    main()
