"""The printer emulator over real loopback TCP: jobs, status, faults, stalls, drops, files."""

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from escpos.printer import Dummy
from PIL import Image

from drivers.emulator import PrinterEmulator

DEADLINE = 10.0
FIXED_MASK, FIXED = 0x93, 0x12


def ticket(*lines: str) -> bytes:
    p = Dummy()
    p._raw(b"\x1b@\x1bt\x10")
    p.set(bold=True, double_height=True)
    for line in lines:
        p._raw(line.encode("cp1252") + b"\n")
    p.cut(feed=False)
    return bytes(p.output)


@pytest.fixture
async def emu() -> AsyncIterator[PrinterEmulator]:
    async with PrinterEmulator(name="kitchen") as printer:
        yield printer


async def connect(printer: PrinterEmulator) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    async with asyncio.timeout(DEADLINE):
        return await asyncio.open_connection("127.0.0.1", printer.port)


async def send(printer: PrinterEmulator, data: bytes) -> None:
    _, writer = await connect(printer)
    async with asyncio.timeout(DEADLINE):
        writer.write(data)
        await writer.drain()
        writer.close()
        await writer.wait_closed()


async def status(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> int:
    writer.write(b"\x10\x04" + bytes([n]))
    async with asyncio.timeout(DEADLINE):
        return (await reader.readexactly(1))[0]


async def test_uri_and_port(emu: PrinterEmulator) -> None:
    assert emu.port > 0
    assert emu.uri == f"tcp://127.0.0.1:{emu.port}"


async def test_jobs_are_split_at_cuts_and_status_requests_left_out(emu: PrinterEmulator) -> None:
    first, second = ticket("Crème brûlée €"), ticket("Table 4")
    reader, writer = await connect(emu)
    writer.write(first[:5])
    assert await status(reader, writer, 1) == FIXED
    writer.write(first[5:] + second)
    jobs = await emu.wait_for_jobs(2)
    writer.close()

    assert [job.raw for job in jobs] == [first, second]
    assert all(job.complete for job in jobs)
    assert jobs[0].decoded.lines[0].text == "Crème brûlée €"
    assert jobs[0].decoded.lines[0].bold
    assert jobs[1].text == "Table 4"
    assert emu.status_requests == 1


async def test_bytes_without_cut_are_an_incomplete_job(emu: PrinterEmulator) -> None:
    await send(emu, b"\x1b@half a ticket\n")
    jobs = await emu.wait_for_jobs(1, include_incomplete=True)

    assert len(jobs) == 1
    assert not jobs[0].complete
    assert jobs[0].text == "half a ticket"
    assert emu.jobs == jobs


async def test_concurrent_connections_each_record_their_job(emu: PrinterEmulator) -> None:
    await asyncio.gather(*(send(emu, ticket(f"order {i}")) for i in range(5)))
    jobs = await emu.wait_for_jobs(5)

    assert sorted(job.text for job in jobs) == [f"order {i}" for i in range(5)]
    assert len({job.connection for job in jobs}) == 5


@pytest.mark.parametrize(
    ("faults", "n", "expected"),
    [
        ({}, 1, 0x12),
        ({}, 2, 0x12),
        ({}, 3, 0x12),
        ({}, 4, 0x12),
        ({"offline": True}, 1, 0x1A),
        ({"offline": True}, 2, 0x12),
        ({"paper_out": True}, 1, 0x1A),
        ({"paper_out": True}, 2, 0x32),
        ({"paper_out": True}, 4, 0x72),
        ({"near_end": True}, 1, 0x12),
        ({"near_end": True}, 4, 0x1E),
        ({"cover_open": True}, 1, 0x1A),
        ({"cover_open": True}, 2, 0x16),
        ({"error": True}, 2, 0x52),
        ({"error": True}, 3, 0x32),
        ({"drawer_open": True}, 1, 0x16),
    ],
)
async def test_status_answers_reflect_faults(
    emu: PrinterEmulator, faults: dict[str, bool], n: int, expected: int
) -> None:
    emu.set_fault(**faults)
    reader, writer = await connect(emu)

    answer = await status(reader, writer, n)
    writer.close()

    assert answer == expected
    assert answer & FIXED_MASK == FIXED


async def test_clear_faults_restores_a_healthy_status(emu: PrinterEmulator) -> None:
    emu.set_fault(paper_out=True, cover_open=True, drawer_open=True)
    emu.clear_faults()
    reader, writer = await connect(emu)

    assert [await status(reader, writer, n) for n in (1, 2, 3, 4)] == [FIXED] * 4
    writer.close()


async def test_silent_printer_never_answers(emu: PrinterEmulator) -> None:
    emu.status_mode = "silent"
    reader, writer = await connect(emu)
    writer.write(b"\x10\x04\x01")
    await emu.wait_until(lambda: emu.status_requests == 1)
    emu.status_mode = "normal"
    writer.write(b"\x10\x04\x02")
    writer.write_eof()

    async with asyncio.timeout(DEADLINE):
        answers = await reader.read()
    writer.close()

    assert answers == bytes([FIXED])  # only the request made in normal mode
    assert emu.status_requests == 2


async def test_garbage_answers_break_the_fixed_bits(emu: PrinterEmulator) -> None:
    emu.status_mode = "garbage"
    reader, writer = await connect(emu)

    answers = [await status(reader, writer, 1 + i % 4) for i in range(20)]
    writer.close()

    assert all(answer & FIXED_MASK != FIXED for answer in answers)


async def test_late_answers_come_after_the_delay() -> None:
    async with PrinterEmulator(status_mode="late", status_delay_s=0.05) as printer:
        reader, writer = await connect(printer)
        loop = asyncio.get_running_loop()
        asked = loop.time()
        answer = await status(reader, writer, 1)
        elapsed = loop.time() - asked
        writer.close()

    assert answer == FIXED
    assert elapsed >= 0.04


def test_unknown_status_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="status_mode"):
        PrinterEmulator(status_mode="sleepy")  # type: ignore[arg-type]


async def test_stopped_printer_holds_data_until_the_fault_clears(emu: PrinterEmulator) -> None:
    job = ticket("held order")
    emu.set_fault(paper_out=True)
    reader, writer = await connect(emu)
    writer.write(job)
    # The answer comes after the printer has read everything sent before the request.
    assert await status(reader, writer, 2) == 0x32

    assert emu.jobs == []
    assert emu.held_bytes == len(job)

    emu.set_fault(paper_out=False)
    jobs = await emu.wait_for_jobs(1)
    writer.close()

    assert jobs[0].raw == job
    assert emu.held_bytes == 0


async def test_data_from_a_closed_connection_prints_once_the_fault_clears(
    emu: PrinterEmulator,
) -> None:
    emu.set_fault(cover_open=True)
    await send(emu, ticket("left behind"))
    await emu.wait_until(lambda: emu.connections == 0 and emu.held_bytes > 0)
    assert emu.jobs == []

    emu.set_fault(cover_open=False)
    jobs = await emu.wait_for_jobs(1)

    assert jobs[0].text == "left behind"


async def test_full_buffer_while_stopped_blocks_the_sender(emu: PrinterEmulator) -> None:
    emu.set_fault(offline=True)
    _reader, writer = await connect(emu)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    writer.transport.set_write_buffer_limits(high=4096)
    job = b"\x1b@" + b"x" * 47 * 20_000 + b"\n\x1dV\x00"
    writer.write(job)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(writer.drain(), timeout=0.3)  # asserts blocking, not timing
    assert emu.jobs == []

    emu.set_fault(offline=False)
    await asyncio.wait_for(writer.drain(), timeout=DEADLINE)
    jobs = await emu.wait_for_jobs(1)
    writer.close()

    assert jobs[0].raw == job


@pytest.mark.parametrize("stall_first", [True, False], ids=["new-connection", "open-connection"])
async def test_stall_blocks_the_sender_and_resume_completes_the_job(
    emu: PrinterEmulator, stall_first: bool
) -> None:
    if stall_first:
        emu.stall()
    _reader, writer = await connect(emu)
    if not stall_first:
        emu.stall()
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    writer.transport.set_write_buffer_limits(high=4096)
    job = b"\x1b@" + (b"y" * 47 + b"\n") * 20_000 + b"\x1dV\x00"
    writer.write(job)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(writer.drain(), timeout=0.3)  # asserts blocking, not timing
    assert emu.jobs == []

    emu.resume()
    await asyncio.wait_for(writer.drain(), timeout=DEADLINE)
    jobs = await emu.wait_for_jobs(1)
    writer.close()

    assert jobs[0].raw == job
    assert len(jobs[0].decoded.lines) == 20_000


async def test_refuse_then_accept_on_the_same_port(emu: PrinterEmulator) -> None:
    port = emu.port
    _, open_writer = await connect(emu)
    emu.refuse()

    with pytest.raises(ConnectionRefusedError):
        await connect(emu)
    # A connection made before refusing still prints.
    open_writer.write(ticket("already connected"))
    await emu.wait_for_jobs(1)

    await emu.accept()
    assert emu.port == port
    await send(emu, ticket("after accept"))
    jobs = await emu.wait_for_jobs(2)
    open_writer.close()

    assert [job.text for job in jobs] == ["already connected", "after accept"]


async def test_drop_after_resets_the_next_connection_once(emu: PrinterEmulator) -> None:
    job = ticket("cut short")
    emu.drop_after(10)
    reader, writer = await connect(emu)
    writer.write(job)

    with pytest.raises(ConnectionResetError):
        async with asyncio.timeout(DEADLINE):
            await reader.read()
    writer.close()
    dropped = await emu.wait_for_jobs(1, include_incomplete=True)

    assert not dropped[0].complete
    assert dropped[0].raw == job[:10]

    await send(emu, job)
    jobs = await emu.wait_for_jobs(1)
    assert jobs[0].raw == job


async def test_drop_now_resets_every_open_connection(emu: PrinterEmulator) -> None:
    clients = [await connect(emu) for _ in range(2)]
    clients[0][1].write(b"\x1b@partial")
    await emu.wait_until(lambda: emu.connections == 2)
    reader, writer = clients[0]
    assert await status(reader, writer, 1) == FIXED  # the partial bytes have been read

    emu.drop_now()

    for reader, writer in clients:
        with pytest.raises(ConnectionResetError):
            async with asyncio.timeout(DEADLINE):
                await reader.read()
        writer.close()
    jobs = await emu.wait_for_jobs(1, include_incomplete=True)
    assert [(job.raw, job.complete) for job in jobs] == [(b"\x1b@partial", False)]
    await emu.wait_until(lambda: emu.connections == 0)


async def test_realtime_drawer_pulse_is_seen_while_offline(emu: PrinterEmulator) -> None:
    emu.set_fault(offline=True)
    _reader, writer = await connect(emu)
    writer.write(b"\x10\x14\x01\x00\x05")
    await emu.wait_until(lambda: emu.drawer_pulses == [(0, 5)])
    writer.close()

    assert emu.jobs == []


async def test_output_dir_gets_text_image_and_raw_files(tmp_path: Path) -> None:
    folder = tmp_path / "tickets"
    job = ticket("Crème brûlée €", "Table 4")
    async with PrinterEmulator(name="Kitchen 1", output_dir=folder) as printer:
        await send(printer, job)
        [recorded] = await printer.wait_for_jobs(1)

    assert recorded.files == [folder / f"0001-kitchen-1{ext}" for ext in (".bin", ".txt", ".png")]
    assert (folder / "0001-kitchen-1.bin").read_bytes() == job
    text = (folder / "0001-kitchen-1.txt").read_text(encoding="utf-8")
    assert text.startswith("Crème brûlée €\nTable 4\n")
    with Image.open(folder / "0001-kitchen-1.png") as image:
        assert image.format == "PNG"
        assert image.width == 576
        assert image.height > 2 * 48

    # A new run in the same folder numbers after the tickets already there.
    async with PrinterEmulator(name="Kitchen 1", output_dir=folder, width_chars=32) as printer:
        await send(printer, job)
        [recorded] = await printer.wait_for_jobs(1)
    assert recorded.number == 2
    with Image.open(folder / "0002-kitchen-1.png") as image:
        assert image.width == 32 * 12


async def test_wait_for_jobs_times_out_with_what_was_seen(emu: PrinterEmulator) -> None:
    await send(emu, b"\x1b@no cut here\n")
    await emu.wait_for_jobs(1, include_incomplete=True)

    with pytest.raises(TimeoutError, match=r"0 complete and 1 incomplete jobs.*no cut here"):
        await emu.wait_for_jobs(1, timeout=0.05)


async def test_command_line_runs_until_sigterm(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drivers.emulator",
        "--port",
        "0",
        "--out",
        str(tmp_path),
        "--name",
        "bar",
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(DEADLINE):
            uri = (await process.stdout.readline()).decode().strip()
        host, port = uri.removeprefix("tcp://").rsplit(":", 1)
        async with asyncio.timeout(DEADLINE):
            reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(ticket("Mojito"))
        # Answered only after the ticket before it has been read and recorded.
        assert await status(reader, writer, 1) == FIXED
        writer.close()
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(DEADLINE):
            rc = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert rc == 0
    assert (tmp_path / "0001-bar.txt").read_text(encoding="utf-8").startswith("Mojito\n")
    assert (tmp_path / "0001-bar.png").exists()
