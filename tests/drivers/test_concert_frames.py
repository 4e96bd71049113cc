"""Concert frames: the golden frames of the facts file, round trips, hostile answers, card data."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.concert import (
    Answer,
    ConcertVariant,
    FrameError,
    PaymentRequest,
    TransactionKind,
    UsbId,
    currency_code,
    decode_answer,
    decode_request,
    encode_answer,
    encode_request,
    lrc,
    parse_card_reader_uri,
)
from drivers.concert.card import mask_pan, read_rep
from drivers.concert.frames import frame as frame_of
from drivers.errors import UnsupportedTransportError

E_PLUS = ConcertVariant.E_PLUS
# From /work/shared/specs/concert-facts.md: E+ 12.50 EUR, card, debit, short answer, A010 B010.
GOLDEN_BODY = bytes.fromhex("30313030303031323530303130393738") + b" " * 10
GOLDEN_E_PLUS = b"\x02" + GOLDEN_BODY + b"A010B010\x03\x00"
SHORT_ACCEPTED = b"\x020100000125019780000012345\x03\x32"
SHORT_REFUSED = b"\x02017000012501978          \x03\x34"


def golden_request(**changes: object) -> PaymentRequest:
    fields: dict[str, object] = {
        "pos_number": "01",
        "amount_minor": 1250,
        "currency": "978",
        "full_answer": False,
    }
    fields.update(changes)
    return PaymentRequest(**fields)  # type: ignore[arg-type]


def test_golden_e_plus_request_whose_lrc_is_nul() -> None:
    frame = encode_request(golden_request(), E_PLUS)
    assert frame == GOLDEN_E_PLUS
    assert len(frame) == 37
    assert frame[-1] == 0x00


def test_golden_immediate_answer_lrc_is_01() -> None:
    frame = encode_request(golden_request(immediate=True), E_PLUS)
    assert frame == b"\x02" + GOLDEN_BODY + b"A011B010\x03\x01"


def test_golden_protocol_e_stops_at_offset_26() -> None:
    frame = encode_request(golden_request(), ConcertVariant.E)
    assert frame == b"\x02" + GOLDEN_BODY + b"\x03\x03"
    assert len(frame) == 29


def test_golden_short_answers_decode() -> None:
    accepted = decode_answer(SHORT_ACCEPTED)
    assert accepted == Answer("01", "0", 1250, "1", "978", "0000012345", None)
    refused = decode_answer(SHORT_REFUSED)
    assert (refused.status, refused.private, refused.rep) == ("7", " " * 10, None)
    assert encode_answer(accepted) == SHORT_ACCEPTED
    assert encode_answer(refused) == SHORT_REFUSED


def test_lrc_is_xor_of_body_and_etx() -> None:
    assert lrc(GOLDEN_E_PLUS[1:-1]) == 0
    assert lrc(b"") == 0
    assert lrc(b"\x01\x02\x03") == 0


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"amount_minor": 100_000_000}, "1..99999999"),
        ({"amount_minor": 0}, "1..99999999"),
        ({"amount_minor": -5}, "1..99999999"),
        ({"amount_minor": 12.5}, "integer"),
        ({"amount_minor": True}, "integer"),
        ({"pos_number": "123"}, "pos_number"),
        ({"pos_number": "a1"}, "pos_number"),
        ({"currency": "XYZ"}, "unknown currency"),
        ({"mode": "11"}, "payment mode"),
        ({"private": "12345678901"}, "private"),
        ({"private": "caf\u00e9"}, "private"),
    ],
)
def test_a_request_that_does_not_fit_is_refused(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(FrameError, match=fragment):
        encode_request(golden_request(**changes), E_PLUS)


def test_request_fields_land_at_their_offsets() -> None:
    request = golden_request(
        pos_number="7",
        amount_minor=99_999_999,
        currency="EUR",
        kind=TransactionKind.CREDIT,
        full_answer=True,
        private="ORDER42",
        force_authorisation=True,
    )
    body = encode_request(request, E_PLUS)[1:-2].decode()
    assert body[0:2] == "07"
    assert body[2:10] == "99999999"
    assert body[10:13] == "111"
    assert body[13:16] == "978"
    assert body[16:26] == "ORDER42   "
    assert body[26:34] == "A010B011"


def test_currencies() -> None:
    assert currency_code("eur") == "978"
    assert currency_code("USD") == "840"
    assert currency_code("953") == "953"


@given(
    pos=st.integers(1, 99),
    amount=st.integers(1, 99_999_999),
    kind=st.sampled_from(TransactionKind),
    currency=st.sampled_from(["978", "840", "826", "953"]),
    full=st.booleans(),
    private=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=10),
    immediate=st.booleans(),
    force=st.booleans(),
    variant=st.sampled_from(ConcertVariant),
)
def test_request_round_trip(
    pos: int,
    amount: int,
    kind: TransactionKind,
    currency: str,
    full: bool,
    private: str,
    immediate: bool,
    force: bool,
    variant: ConcertVariant,
) -> None:
    request = PaymentRequest(
        f"{pos:02d}", amount, currency, kind, full, "1", private, immediate, force
    )
    frame = encode_request(request, variant)
    back, got_variant = decode_request(frame)
    assert got_variant is variant
    if variant is ConcertVariant.E:  # protocol E has no delay nor authorisation field
        request = PaymentRequest(f"{pos:02d}", amount, currency, kind, full, "1", private)
    assert back == request


printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=55, max_size=55)


@given(
    status=st.sampled_from("079"),
    amount=st.integers(0, 99_999_999),
    rep=st.one_of(st.none(), printable),
    private=st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=10, max_size=10
    ),
)
def test_answer_round_trip(status: str, amount: int, rep: str | None, private: str) -> None:
    answer = Answer("01", status, amount, "1", "978", private, rep)
    frame = encode_answer(answer)
    assert len(frame) == (83 if rep is not None else 28)
    assert decode_answer(frame) == answer


@given(st.binary(max_size=100))
def test_hostile_answers_are_frame_errors_or_answers(data: bytes) -> None:
    try:
        answer = decode_answer(data)
    except FrameError:
        return
    assert len(data) in (28, 83)
    assert encode_answer(answer) == data


@given(position=st.integers(1, 81), flip=st.integers(1, 255))
def test_any_corrupted_byte_of_a_full_answer_is_caught(position: int, flip: int) -> None:
    frame = bytearray(encode_answer(Answer("01", "0", 1250, "1", "978", " " * 10, "A" * 55)))
    frame[position] ^= flip
    with pytest.raises(FrameError):
        decode_answer(bytes(frame))


@pytest.mark.parametrize(
    "frame",
    [
        SHORT_ACCEPTED[:-1],  # cut
        SHORT_ACCEPTED + b"\x00",  # too long
        b"\x03" + SHORT_ACCEPTED[1:],  # no STX
        SHORT_ACCEPTED[:-1] + b"\x33",  # bad LRC
        frame_of(b"01" + b"0" + b"0000125A" + b"1978" + b"0000012345"),  # amount not digits
        frame_of(b"01" + b"0" + b"00001250" + b"1978" + b"00000123\xe9"),  # not ASCII
        frame_of(b"01" + b"0" + b"00001250" + b"1978" + b"0000012\x0345"),  # ETX inside
    ],
)
def test_malformed_answers(frame: bytes) -> None:
    with pytest.raises(FrameError):
        decode_answer(frame)


def test_a_full_card_number_in_rep_is_masked() -> None:
    card = read_rep("4970100000000003 A1B2C3 2512".ljust(55))
    assert card.masked_pan == "497010******0003"
    assert card.authorisation_code == "A1B2C3"
    assert "4970100000000003" not in card.rep
    assert len(card.rep) == 55
    spaced = read_rep("4970 1000 0000 0003 123456".ljust(55))
    assert spaced.masked_pan == "497010******0003"
    assert spaced.authorisation_code == "123456"
    assert "1000 0000" not in spaced.rep
    assert mask_pan("374245455400126") == "374245*****0126"


def test_a_rep_without_card_gives_nothing() -> None:
    card = read_rep(" " * 55)
    assert (card.masked_pan, card.authorisation_code) == (None, None)


def test_card_reader_uri() -> None:
    port = parse_card_reader_uri("serial:///dev/ttyACM0?baudrate=9600")
    assert (port.serial.path, port.serial.baudrate, port.usb_id) == ("/dev/ttyACM0", 9600, None)
    assert (port.serial.bytesize, port.serial.parity, port.serial.stopbits) == (8, "N", 1.0)
    port = parse_card_reader_uri("serial:///dev/ttyACM0?usb-id=079b:0028&baudrate=19200")
    assert port.usb_id == UsbId(0x079B, 0x0028)
    assert str(port.usb_id) == "079B:0028"
    assert port.serial.baudrate == 19200
    assert parse_card_reader_uri("serial:///dev/ttyACM0").serial.baudrate == 9600


@pytest.mark.parametrize(
    "uri",
    [
        "serial:///dev/ttyACM0?usb-id=079B",
        "serial:///dev/ttyACM0?usb-id=079B:00G8",
        "serial:///dev/ttyACM0?usb-id=079B:0028&usb-id=0B00:0080",
        "serial:///dev/ttyACM0?speed=9600",
        "tcp://192.168.1.50:8888",
    ],
)
def test_bad_card_reader_uris(uri: str) -> None:
    with pytest.raises(UnsupportedTransportError):
        parse_card_reader_uri(uri)
