"""CloudPRNT pieces without a network: status codes, printer facts, liveness, the mailbox's
state machine, and the `[cloudprnt]` table."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.errors import UnsupportedTransportError
from edge.cloudprnt.mailbox import Fetch, Mailbox, Slot, SlotState, Tokens
from edge.cloudprnt.protocol import (
    BadRequest,
    Confirmation,
    MediaType,
    Poll,
    StatusClass,
    confirmation,
    header_width,
    media_offer,
    normalise_mac,
    parse_encodings,
    parse_page_width,
    parse_poll,
    parse_status_code,
    printer_status,
)
from edge.cloudprnt.registry import Registry
from edge.config import ConfigError, load_config

MAC = "00:11:62:AA:BB:CC"


# ---- status codes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code", "text"),
    [
        ("200%20OK", "200", "OK"),
        ("200+OK", "200", "OK"),
        ("410 Paper Empty", "410", "Paper Empty"),
        ("211", "211", ""),
        ("  2110%20Something  ", "2110", "Something"),
    ],
)
def test_status_codes_are_read_url_encoded_or_not(raw: str, code: str, text: str) -> None:
    status = parse_status_code(raw)
    assert (status.code, status.text) == (code, text)


@pytest.mark.parametrize("raw", ["OK", "", "20", "12345 too long", 200, None])
def test_what_is_no_status_code_is_a_bad_request(raw: object) -> None:
    with pytest.raises(BadRequest):
        parse_status_code(raw)


@pytest.mark.parametrize(
    ("raw", "online", "paper", "cover_open", "error", "fault"),
    [
        ("200 OK", True, "ok", False, False, None),
        ("201 Paper Taken", True, "ok", False, False, None),
        ("210 Paper Low", True, "near_end", False, False, None),  # the first guide's code
        ("211 Paper Low", True, "near_end", False, False, None),
        ("220 Printing", True, "ok", False, False, None),
        ("410 Paper Empty", False, "out", False, False, "paper_out"),
        ("411 Paper Jam", False, "ok", False, True, "error"),
        ("412 Roll Position Error", False, "ok", False, True, "error"),
        ("420 Cover Open", False, "ok", True, False, "cover_open"),
        ("499 Something New", False, "ok", False, True, "error"),
    ],
)
def test_status_codes_say_the_printer_state_by_prefix(
    raw: str, online: bool, paper: str, cover_open: bool, error: bool, fault: str | None
) -> None:
    state = printer_status(parse_status_code(raw))
    assert state is not None
    assert (state.online, state.paper, state.cover_open, state.error) == (
        online,
        paper,
        cover_open,
        error,
    )
    assert state.fault == fault


@pytest.mark.parametrize("raw", ["510 Incompatible Media Type", "520 Download Timeout", "300"])
def test_client_error_codes_are_no_printer_state(raw: str) -> None:
    assert printer_status(parse_status_code(raw)) is None


@pytest.mark.parametrize(
    ("raw", "meaning"),
    [
        ("200 OK", Confirmation.PRINTED),
        ("211 Paper Low", Confirmation.PRINTED),
        ("410 Paper Empty", Confirmation.PRINTER_ERROR),
        ("520 Download Timeout", Confirmation.RETRY),
        ("510 Incompatible Media Type", Confirmation.NEXT_MEDIA),
        ("511 Media Decode Error", Confirmation.NEXT_MEDIA),
        ("512 Unsupported Media Version", Confirmation.NEXT_MEDIA),
        ("521 Job Too Large", Confirmation.NEXT_MEDIA),
        ("500 Error", Confirmation.UNKNOWN),
    ],
)
def test_confirmation_codes(raw: str, meaning: Confirmation) -> None:
    assert confirmation(parse_status_code(raw)) is meaning


def test_a_confirmation_without_a_code_tells_nothing() -> None:
    assert confirmation(None) is Confirmation.UNKNOWN


# ---- what printers send -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["00:11:62:aa:bb:cc", "00-11-62-AA-BB-CC", "001162aabbcc", "0011.62aa.bbcc"]
)
def test_macs_in_the_forms_printers_and_people_write(raw: str) -> None:
    assert normalise_mac(raw) == MAC


@pytest.mark.parametrize("raw", ["00:11:62:AA:BB", "printer", "00:11:62:AA:BB:CC:DD", 7, None])
def test_what_is_no_mac(raw: object) -> None:
    assert normalise_mac(raw) is None


def test_a_poll_with_only_a_status_code_and_a_header_mac() -> None:
    poll = parse_poll(b'{"statusCode": "200%20OK"}', "00:11:62:aa:bb:cc")
    assert poll == Poll(mac=MAC, status=parse_status_code("200 OK"))


def test_a_poll_with_nulls_and_odd_types_is_read_defensively() -> None:
    body = (
        b'{"statusCode": "200 OK", "printerMAC": "00:11:62:aa:bb:cc", "printingInProgress": '
        b'"yes", "uniqueID": null, "clientAction": [7, {"request": "ClientType", "result": '
        b'"Star TSP143IV"}, {"result": 1}], "barcodeReader": null}'
    )
    poll = parse_poll(body, None)
    assert poll.printing is False, "only a JSON true is printing"
    assert poll.unique_id is None
    assert poll.results == {"ClientType": "Star TSP143IV"}
    assert poll.status.kind is StatusClass.ONLINE


def test_page_info_gives_the_print_width_in_dots() -> None:
    assert parse_page_width({"printWidth": "72", "horizontalResolution": "8"}) == 576
    assert parse_page_width('{"printWidth": 48, "horizontalResolution": 8}') == 384
    assert parse_page_width({"printWidth": 72}) == 576, "8 dots/mm unless said otherwise"
    assert parse_page_width({"printWidth": "wide"}) is None
    assert parse_page_width({"printWidth": 7200}) is None, "not a receipt printer's width"
    assert parse_page_width("not json") is None


def test_the_print_width_header_in_mm_or_dots() -> None:
    assert header_width("72", "8") == 576
    assert header_width("48", None) == 384
    assert header_width("576", None) == 576
    assert header_width(None, "8") is None
    assert header_width("-3", None) is None


def test_encodings_and_what_is_offered() -> None:
    encodings = parse_encodings("image/png; Text/Plain;charset=x;application/vnd.star.line")
    assert encodings == ("image/png", "text/plain", "charset=x", "application/vnd.star.line")
    assert media_offer([MediaType.PNG, MediaType.TEXT], None) == [MediaType.PNG, MediaType.TEXT]
    assert media_offer([MediaType.PNG, MediaType.TEXT], ("text/plain",)) == [MediaType.TEXT]
    assert media_offer([MediaType.PNG], ("text/plain",)) == []
    assert parse_encodings(None) is None


# ---- liveness ---------------------------------------------------------------------------------


def test_a_printer_is_offline_after_twice_its_poll_interval_and_five_seconds() -> None:
    now = [1000.0]
    registry = Registry(configured=[MAC], poll_interval_s=5.0, clock=lambda: now[0])
    assert not registry.online(MAC), "never polled"
    registry.polled(
        Poll(MAC, parse_status_code("200 OK")), remote=None, user_agent=None, header_width=None
    )
    now[0] += 15.0
    assert registry.online(MAC), "2 x 5 s + 5 s: still online"
    now[0] += 0.001
    assert not registry.online(MAC)


def test_a_printer_polling_slower_than_asked_is_judged_by_its_own_interval() -> None:
    now = [0.0]
    registry = Registry(configured=[MAC], poll_interval_s=5.0, clock=lambda: now[0])
    slow = Poll(MAC, parse_status_code("200 OK"), results={"GetPollInterval": "120"})
    registry.polled(slow, remote=None, user_agent=None, header_width=None)
    now[0] = 245.0
    assert registry.online(MAC), "an HI01X polls every 120 s by default"
    now[0] = 245.5
    assert not registry.online(MAC)


def test_strangers_are_remembered_within_bounds() -> None:
    registry = Registry(configured=[MAC])
    for n in range(100):
        stranger = f"00:11:62:00:{n // 256:02X}:{n % 256:02X}"
        poll = Poll(stranger, parse_status_code("200 OK"))
        registry.polled(poll, remote=None, user_agent=None, header_width=None)
    registry.polled(
        Poll(MAC, parse_status_code("200 OK")), remote=None, user_agent=None, header_width=None
    )
    listed = registry.snapshot()
    assert len(listed) == 65
    assert listed[0]["mac"] == MAC
    assert listed[0]["configured"] is True
    assert not registry.allows("00:11:62:00:00:63")


# ---- the mailbox ------------------------------------------------------------------------------


def registry_with(code: str, *, printing: bool = False, encodings: str | None = None) -> Registry:
    registry = Registry(configured=[MAC])
    results = {"Encodings": encodings} if encodings else None
    poll = Poll(MAC, parse_status_code(code), printing=printing, results=results)
    registry.polled(poll, remote=None, user_agent=None, header_width=None)
    return registry


def state_of(slot: Slot) -> SlotState:
    """The slot's state now (each request moves it)."""
    return slot.state


def test_a_job_is_offered_fetched_and_confirmed() -> None:
    box = Mailbox(MAC, Tokens())
    slot = box.put(b"ticket", 48)
    record = registry_with("200 OK").get(MAC)
    assert record is not None
    assert box.polled(record) is slot
    assert slot.state is SlotState.OFFERED
    token = slot.token
    assert box.polled(record) is slot
    assert slot.token == token, "the same offer while nothing changed"
    assert box.fetch(token, MediaType.TEXT) == (Fetch.SERVE, slot)
    assert state_of(slot) is SlotState.FETCHED
    assert box.fetch(token, MediaType.TEXT) == (Fetch.SERVE, slot), "a repeated GET"
    assert box.fetch(token, MediaType.PNG)[0] is Fetch.UNSUPPORTED
    assert box.polled(record) is None, "fetched: never offered again"
    assert box.confirm(token, parse_status_code("200 OK")) is Confirmation.PRINTED
    assert state_of(slot) is SlotState.CONFIRMED
    assert box.confirm(token, parse_status_code("200 OK")) is None, "already confirmed"
    assert box.fetch(token, MediaType.TEXT)[0] is Fetch.NO_JOB


def test_a_download_timeout_offers_the_job_again_with_a_new_token() -> None:
    box = Mailbox(MAC, Tokens())
    slot = box.put(b"ticket", 48)
    record = registry_with("200 OK").get(MAC)
    assert record is not None
    box.polled(record)
    first = slot.token
    box.fetch(first, MediaType.PNG)
    assert box.confirm(first, parse_status_code("520 Download Timeout")) is Confirmation.RETRY
    assert slot.state is SlotState.WAITING
    assert box.polled(record) is slot
    assert slot.token != first
    assert slot.offered == [MediaType.PNG, MediaType.TEXT]


def test_a_refused_media_type_is_dropped_and_the_next_one_offered() -> None:
    box = Mailbox(MAC, Tokens())
    slot = box.put(b"ticket", 48)
    record = registry_with("200 OK").get(MAC)
    assert record is not None
    box.polled(record)
    box.fetch(slot.token, MediaType.PNG)
    box.confirm(slot.token, parse_status_code("511 Media Decode Error"))
    assert box.polled(record) is slot
    assert slot.offered == [MediaType.TEXT]
    box.fetch(slot.token, None)
    assert slot.fetched_media is MediaType.TEXT, "no type asked: the one offered"
    box.confirm(slot.token, parse_status_code("510 Incompatible Media Type"))
    assert slot.state is SlotState.FAILED
    assert isinstance(slot.error, UnsupportedTransportError)
    assert "image/png: 511 Media Decode Error" in str(slot.error)


def test_a_printer_that_takes_none_of_the_offered_types_before_fetching() -> None:
    box = Mailbox(MAC, Tokens())
    slot = box.put(b"ticket", 48)
    record = registry_with("200 OK").get(MAC)
    assert record is not None
    box.polled(record)
    box.confirm(slot.token, parse_status_code("510 Incompatible Media Type"))
    assert slot.state is SlotState.FAILED


def test_an_offer_is_withdrawn_while_the_printer_is_in_error_or_busy() -> None:
    box = Mailbox(MAC, Tokens())
    slot = box.put(b"ticket", 48)
    for code, printing in (("410 Paper Empty", False), ("200 OK", True), ("510 Media", False)):
        ok = registry_with("200 OK").get(MAC)
        assert ok is not None
        assert box.polled(ok) is slot
        record = registry_with(code, printing=printing).get(MAC)
        assert record is not None
        assert box.polled(record) is None
        assert slot.state is SlotState.WAITING


def test_a_printer_error_while_it_has_the_job_stops_it_there() -> None:
    box = Mailbox(MAC, Tokens())
    slot = box.put(b"ticket", 48)
    ok = registry_with("200 OK").get(MAC)
    assert ok is not None
    box.polled(ok)
    box.fetch(slot.token, MediaType.PNG)
    jammed = registry_with("411 Paper Jam").get(MAC)
    assert jammed is not None
    box.polled(jammed)
    assert slot.state is SlotState.STOPPED
    assert slot.code == parse_status_code("411 Paper Jam")
    assert box.fetch(slot.token, MediaType.PNG)[0] is Fetch.NO_JOB, "its re-fetch is refused"


def test_an_unreadable_confirmation_of_a_fetched_job_makes_it_unknown() -> None:
    box = Mailbox(MAC, Tokens())
    slot = box.put(b"ticket", 48)
    record = registry_with("200 OK").get(MAC)
    assert record is not None
    box.polled(record)
    box.fetch(slot.token, MediaType.PNG)
    assert box.confirm(slot.token, None) is Confirmation.UNKNOWN
    assert slot.state is SlotState.UNKNOWN


def test_taking_a_job_back() -> None:
    box = Mailbox(MAC, Tokens())
    offered = box.put(b"one", 48)
    box.clear()
    assert offered.state is SlotState.WITHDRAWN
    fetched = box.put(b"two", 48)
    record = registry_with("200 OK").get(MAC)
    assert record is not None
    box.polled(record)
    box.fetch(None, MediaType.PNG)
    box.clear()
    assert fetched.state is SlotState.UNKNOWN, "fetched and unconfirmed: it may have printed"


def test_tokens_of_another_run_name_no_job() -> None:
    before, now = Tokens(), Tokens()
    old = [before() for _ in range(3)]
    box = Mailbox(MAC, now)
    slot = box.put(b"ticket", 48)
    record = registry_with("200 OK").get(MAC)
    assert record is not None
    box.polled(record)
    assert slot.token not in old
    assert box.confirm(old[0], parse_status_code("200 OK")) is None
    assert slot.state is SlotState.OFFERED


# ---- [cloudprnt] --------------------------------------------------------------------------------


def config(tmp_path: Path, cloudprnt: str | None, *uris: str) -> Path:
    lines = ['[store]\nid = "st"\n']
    for n, uri in enumerate(uris):
        lines.append(f'[[printers]]\nname = "p{n}"\nuri = "{uri}"\n')
    if cloudprnt is not None:
        lines.append(f"[cloudprnt]\n{cloudprnt}\n")
    path = tmp_path / "edge.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_the_cloudprnt_table_and_its_defaults(tmp_path: Path) -> None:
    loaded = load_config(config(tmp_path, "", f"cloudprnt://{MAC.lower()}"))
    section = loaded.cloudprnt
    assert section is not None
    assert (section.host, section.port, section.poll_interval_s) == ("0.0.0.0", 8085, 5)
    assert section.job_timeout_s == 60.0
    assert section.allowed_macs == []
    ipv6 = load_config(config(tmp_path, 'listen = "[::]:80"\nallowed_macs = ["00:11:62:aa:bb:cd"]'))
    assert ipv6.cloudprnt is not None
    assert (ipv6.cloudprnt.host, ipv6.cloudprnt.port) == ("::", 80)
    assert ipv6.cloudprnt.allowed_macs == ["00:11:62:AA:BB:CD"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('listen = "8085"', "should be HOST:PORT"),
        ('listen = "box:99999"', "from 1 to 65535"),
        ('listen = ":::8085"', "IPv6 address in brackets"),
        ('listen = "bad host!:8085"', "not a host name"),
        ("poll_interval_s = 0", "greater than or equal to 1"),
        ("poll_interval_s = 121", "less than or equal to 120"),
        ('allowed_macs = ["printer"]', "'printer' is not a MAC address"),
        ('password_file = "/etc/pw"', "a password needs a username"),
        ("job_timeout_s = 1", "greater than or equal to 5"),
    ],
)
def test_a_wrong_cloudprnt_table_is_a_config_error(
    tmp_path: Path, table: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(config(tmp_path, table))
    assert message in str(err.value)
    assert "cloudprnt." in str(err.value)


def test_a_cloudprnt_printer_needs_the_table_and_its_own_mac(tmp_path: Path) -> None:
    path = config(tmp_path, None, "tcp://127.0.0.1", f"cloudprnt://{MAC}")
    with pytest.raises(ConfigError) as missing:
        load_config(path)
    [issue] = missing.value.issues
    assert issue.key == "printers[1].uri"
    assert "printer 'p1' is a CloudPRNT printer: it needs the [cloudprnt] table" in issue.message
    lines = path.read_text(encoding="utf-8").splitlines()
    assert issue.line is not None
    assert lines[issue.line - 1] == f'uri = "cloudprnt://{MAC}"', "the line of its URI"
    with pytest.raises(ConfigError) as twice:
        load_config(config(tmp_path, "", f"cloudprnt://{MAC}", f"cloudprnt://{MAC.lower()}"))
    assert "printer 'p0' is already CloudPRNT printer" in str(twice.value)
