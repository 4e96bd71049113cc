"""The Concert driver against a terminal simulator on a real pty: every outcome, re-enumeration."""

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from drivers.concert import (
    ConcertTerminal,
    ConcertTimeouts,
    ConcertVariant,
    FrameError,
    Outcome,
    PaymentResult,
    Step,
    TerminalBusyError,
    TransactionKind,
)
from drivers.concert.simulator import ConcertTerminalSim, Port, Script
from drivers.errors import DeviceUnavailableError
from tests.drivers.test_concert_frames import GOLDEN_E_PLUS

DEADLINE = 10.0
# Shrunk deadlines: a test that waits out a step waits this long, not 3 s or 180 s.
QUICK = ConcertTimeouts(ack=DEADLINE, answer=DEADLINE, open=DEADLINE)
CARD_REP = "4970100000000003 A1B2C3 2512"

Terminal = Callable[..., AbstractAsyncContextManager[tuple[ConcertTerminal, ConcertTerminalSim]]]


@pytest.fixture
def terminal() -> Terminal:
    """A simulator playing `script`, and our driver on its pty."""

    @asynccontextmanager
    async def start(
        script: Script, timeouts: ConcertTimeouts = QUICK, **options: Any
    ) -> AsyncIterator[tuple[ConcertTerminal, ConcertTerminalSim]]:
        async with ConcertTerminalSim(script) as sim:
            driver = ConcertTerminal(
                f"serial://{sim.path}?baudrate=9600", timeouts=timeouts, **options
            )
            async with driver:
                yield driver, sim

    return start


async def pay(driver: ConcertTerminal, amount: int = 1250, **kw: object) -> PaymentResult:
    async with asyncio.timeout(DEADLINE * 3):
        return await driver.pay(amount, "EUR", **kw)  # type: ignore[arg-type]


async def test_approve_short_answer_sends_the_golden_frame(terminal: Terminal) -> None:
    async with terminal(Script(status="0"), full_answer=False) as (driver, sim):
        result = await pay(driver)
        await asyncio.wait_for(sim.finished.wait(), DEADLINE)
    assert result.outcome is Outcome.APPROVED
    assert (result.status, result.step, result.port) == ("0", None, sim.path)
    assert (result.masked_pan, result.authorisation_code) == (None, None)
    assert result.answer == "0100000125019780000012345"
    assert sim.requests == [GOLDEN_E_PLUS]  # LRC 0x00 went over the tty and was read back
    assert sim.received == b"\x05" + GOLDEN_E_PLUS + b"\x04\x06\x06"
    assert sim.violations == []


async def test_approve_full_answer_keeps_only_the_masked_card(
    terminal: Terminal, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with terminal(Script(status="0", rep=CARD_REP)) as (driver, sim):
        result = await pay(driver, 4200)
    assert "approved" in caplog.text
    assert "4970100000000003" not in caplog.text
    assert result.outcome is Outcome.APPROVED
    assert result.masked_pan == "497010******0003"
    assert result.authorisation_code == "A1B2C3"
    assert result.answer is not None
    assert "4970100000000003" not in result.answer
    assert "4970100000000003" not in repr(result)
    assert sim.decoded[0].amount_minor == 4200
    assert sim.decoded[0].full_answer
    assert sim.violations == []


async def test_protocol_e_sends_26_bytes(terminal: Terminal) -> None:
    async with terminal(Script(), protocol=ConcertVariant.E, full_answer=False) as (driver, sim):
        result = await pay(driver)
    assert result.outcome is Outcome.APPROVED
    assert sim.requests == [GOLDEN_E_PLUS[:27] + b"\x03\x03"]
    assert sim.violations == []


async def test_decline(terminal: Terminal) -> None:
    async with terminal(Script(status="7", rep="4970100000000003")) as (driver, sim):
        result = await pay(driver)
    assert (result.outcome, result.status) == (Outcome.DECLINED, "7")
    assert result.outcome.charged is False
    assert sim.violations == []


async def test_decline_short_answer(terminal: Terminal) -> None:
    async with terminal(Script(status="7"), full_answer=False) as (driver, sim):
        result = await pay(driver)
    assert result.outcome is Outcome.DECLINED
    assert sim.violations == []


async def test_cancel_at_the_terminal(terminal: Terminal) -> None:
    async with terminal(Script(status="7", rep="")) as (driver, sim):
        result = await pay(driver)
    assert (result.outcome, result.status) == (Outcome.CANCELLED, "7")
    assert sim.violations == []


async def test_refund_is_a_credit(terminal: Terminal) -> None:
    async with terminal(Script()) as (driver, sim):
        result = await pay(driver, kind=TransactionKind.CREDIT)
    assert result.outcome is Outcome.APPROVED
    assert sim.decoded[0].kind is TransactionKind.CREDIT


async def test_busy_terminal_never_acks_enq(terminal: Terminal) -> None:
    quick_ack = ConcertTimeouts(ack=0.2, answer=DEADLINE, open=DEADLINE)
    async with terminal(Script(ack_enq=False), quick_ack) as (driver, sim):
        result = await pay(driver)
        await sim.until_received(b"\x05\x04")  # ENQ, then EOT: the line handed back
    assert (result.outcome, result.step) == (Outcome.BUSY, Step.ENQ)
    assert sim.requests == []
    assert sim.violations == []


async def test_nak_then_success(terminal: Terminal) -> None:
    async with terminal(Script(nak_requests=2)) as (driver, sim):
        result = await pay(driver)
    assert result.outcome is Outcome.APPROVED
    assert len(sim.requests) == 3
    assert len(set(sim.requests)) == 1  # the same frame, resent
    assert sim.violations == []


async def test_nak_beyond_the_bound_is_a_frame_error(terminal: Terminal) -> None:
    async with terminal(Script(nak_requests=99), resends=3) as (driver, sim):
        result = await pay(driver)
    assert (result.outcome, result.step) == (Outcome.FRAME_ERROR, Step.REQUEST)
    assert len(sim.requests) == 4
    assert not sim.accepted.is_set()
    assert sim.violations == []


async def test_no_ack_to_the_request_is_unknown_not_a_frame_error(terminal: Terminal) -> None:
    # Without a NAK, a lost ACK cannot be told from silence: the terminal may be charging.
    quick_ack = ConcertTimeouts(ack=0.2, answer=DEADLINE, open=DEADLINE)
    async with terminal(Script(silent_requests=True), quick_ack, resends=1) as (driver, sim):
        result = await pay(driver)
    assert (result.outcome, result.step) == (Outcome.UNKNOWN, Step.REQUEST)
    assert len(sim.requests) == 2
    assert sim.violations == []


async def test_bad_lrc_answer_then_success(terminal: Terminal) -> None:
    async with terminal(Script(bad_lrc_answers=2, rep=CARD_REP)) as (driver, sim):
        result = await pay(driver)
    assert result.outcome is Outcome.APPROVED
    assert sim.nakked == 2
    assert sim.violations == []


async def test_bad_lrc_beyond_the_bound_is_unknown(terminal: Terminal) -> None:
    async with terminal(Script(bad_lrc_answers=3), resends=2) as (driver, sim):
        result = await pay(driver)
    assert (result.outcome, result.step) == (Outcome.UNKNOWN, Step.ANSWER_FRAME)
    assert sim.nakked == 3


async def test_timeout_after_the_request_was_accepted_is_unknown(terminal: Terminal) -> None:
    short_answer = ConcertTimeouts(ack=DEADLINE, answer=0.3, open=DEADLINE)
    async with terminal(Script(answer=False), short_answer) as (driver, sim):
        result = await pay(driver)
    assert sim.accepted.is_set()
    assert (result.outcome, result.step) == (Outcome.UNKNOWN, Step.ANSWER_WAIT)
    assert result.outcome.charged is None
    assert sim.violations == []


async def test_not_verified_is_unknown(terminal: Terminal) -> None:
    async with terminal(Script(status="9")) as (driver, sim):
        result = await pay(driver)
    assert (result.outcome, result.status, result.step) == (Outcome.UNKNOWN, "9", Step.ANSWER_CHECK)
    assert sim.violations == []


@pytest.mark.parametrize("status", ["0", "7"])
async def test_echo_mismatch_is_unknown(terminal: Terminal, status: str) -> None:
    async with terminal(Script(status=status, amount_minor=125)) as (driver, sim):
        result = await pay(driver, 1250)
    assert (result.outcome, result.step) == (Outcome.UNKNOWN, Step.ANSWER_CHECK)
    assert result.status == status
    assert sim.violations == []


async def test_silent_mid_answer_is_unknown(terminal: Terminal) -> None:
    quick_ack = ConcertTimeouts(ack=0.3, answer=DEADLINE, open=DEADLINE)
    async with terminal(Script(half_answer=True), quick_ack) as (driver, sim):
        result = await pay(driver)
    assert (result.outcome, result.step) == (Outcome.UNKNOWN, Step.ANSWER_FRAME)
    assert sim.violations == []


async def test_a_second_payment_while_one_runs_is_refused(terminal: Terminal) -> None:
    async with terminal(Script(status="0")) as (driver, sim):
        first = asyncio.create_task(pay(driver))
        await asyncio.wait_for(sim.accepted.wait(), DEADLINE)
        assert driver.busy
        with pytest.raises(TerminalBusyError):
            await driver.pay(500, "EUR")
        assert (await first).outcome is Outcome.APPROVED
    assert len(sim.requests) == 1


async def test_a_request_that_does_not_fit_sends_nothing(terminal: Terminal) -> None:
    async with terminal(Script()) as (driver, sim):
        with pytest.raises(FrameError):
            await driver.pay(100_000_000, "EUR")
    assert sim.received == b""


async def test_unplugged_mid_payment_then_found_again_by_usb_id(tmp_path: Path) -> None:
    ports: list[Port] = []
    acm0 = tmp_path / "ttyACM0"  # what udev names the terminal; gone when it is unplugged
    async with ConcertTerminalSim(Script(unplug_after_request=True)) as first:
        acm0.symlink_to(first.path)
        ports[:] = [Port(first.path)]
        driver = ConcertTerminal(
            f"serial://{acm0}?usb-id=079B:0028", timeouts=QUICK, port_lister=lambda: ports
        )
        lost = await pay(driver)
        assert first.accepted.is_set()
    assert (lost.outcome, lost.step, lost.port) == (Outcome.UNKNOWN, Step.ANSWER_WAIT, str(acm0))
    assert "device lost" in lost.detail
    acm0.unlink()
    async with ConcertTerminalSim(Script(status="0")) as second:
        ports[:] = [Port("/dev/ttyS0", vid=None, pid=None), Port(second.path)]
        again = await pay(driver)
    assert (again.outcome, again.port) == (Outcome.APPROVED, second.path)
    assert second.violations == []


async def test_gone_without_a_usb_id_match(tmp_path: Path) -> None:
    driver = ConcertTerminal(
        f"serial://{tmp_path}/ttyACM0?usb-id=079B:0028",
        timeouts=QUICK,
        port_lister=lambda: [Port("/dev/ttyACM7", vid=0x0B00, pid=0x0080)],
    )
    with pytest.raises(DeviceUnavailableError, match="079B:0028"):
        await pay(driver)
    assert not os.path.exists(tmp_path / "ttyACM0")
