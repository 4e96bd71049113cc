"""Hostile input, property-based: the inbound decoders never raise and let through only what the
contract allows (CONTRACT §2, §3, §5); no text a customer typed reaches a printer as a command
(§7).

Deterministic (`derandomize`, no example database): the same examples on every run, so a
failure is reproducible and nothing flakes. Each test stays within a few seconds.
"""

from __future__ import annotations

import copy
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.emulator import decode_job
from drivers.escpos import Block, encode
from edge.cloud.inbound import (
    MAX_PAYLOAD,
    Command,
    EventsAck,
    Inbound,
    InboundSettings,
    apply_batch,
    decode,
)
from edge.cloud.topics import Topics
from edge.commands import CommandContext
from edge.db.migrations import migrate
from edge.orders.intake import Lifecycle
from edge.orders.model import Order
from edge.orders.routing import PrinterRoute
from edge.tickets import Locale, kitchen_ticket
from tests.conftest import FIXTURES, load_order
from tests.support.escpos_audit import (
    ENCODINGS,
    TICKETS,
    layout_commands,
    problems,
    render,
    split_copies,
    too_wide,
)

TOPICS = Topics("stores", "st_test")
IN_TOPICS = [TOPICS.orders, TOPICS.commands, TOPICS.events_ack, TOPICS.settings]
INT64_MAX = 2**63 - 1

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

# ---- hostile text --------------------------------------------------------------------------

# Every C0 control, DEL and every C1 control: on a printer, commands or garbage.
CONTROLS = [chr(c) for c in range(0x20)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]
SPECIALS = [
    *("\ufeff", "\u200b", "\u200c", "\u200d", "\u2060", "\u00ad"),  # BOM, zero-width, soft hyphen
    *("\u200e", "\u200f", "\u061c", "\u202a", "\u202b", "\u202d", "\u202e", "\u2066", "\u2069"),
    *("\u0301", "\u0308", "\u0338", "\u20dd", "e\u0301", "\u0345"),  # combining marks
    *("\u2028", "\u2029", "\u00a0", "\u3000", "\u2007"),  # separators and odd spaces
    *("\ufffd", "\ufffe", "\uffff", "\ue000", "\U0010fffd", "\U000e0041"),  # specials, private use
    *("\U0001f600", "\U0001f469\u200d\U0001f373", "\U0001f1eb\U0001f1f7", "\U0001f44d\U0001f3fd"),
    *("\U00010348", "\U0001d54f", "\U00020bb7"),  # astral letters
    *("é", "È", "ß", "ẞ", "œ", "Œ", "€", "ﬃ", "İ", "ŉ", "Ω", "中", "ا", "א", "ก", "¤", "ÿ", "µ"),
    *("Ã©", "â‚¬", "%s", "{0}", "\\x1b", "&amp;", "<b>"),  # mojibake and template look-alikes
]
# Whole ESC/POS sequences a hostile name could carry.
INJECTIONS = [
    *("\x1b@", "\x1bt\x00", "\x1bt\x02", "\x1b!\x38", "\x1bE\x01", "\x1b-\x02", "\x1ba\x02"),
    *("\x1d!\x77", "\x1dB\x01", "\x1dV\x00", "\x1dVA\x10", "\x1bi", "\x1bm", "\x1bd\xff"),
    *("\x1bp\x00\x19\xfa", "\x10\x14\x01\x00\x05", "\x10\x04\x01", "\x10\x05\x02", "\x1b=\x00"),
    *("\x1c.", "\x1c&", "\x1d(k\x03\x001P0", "\x1b*\x00\x02\x00\xff\xff", "\x1dv0\x00\x01\x00"),
    *("\x1dk\x04123\x00", "\x1b\x1b\x1b", "\x18", "\x07", "\x00", "\r\n", "\r", "\n", "\t", "\x0c"),
]
_pieces = st.one_of(
    st.sampled_from(INJECTIONS),
    st.lists(st.sampled_from([*CONTROLS, *SPECIALS, *"ab -/.'"]), max_size=6).map("".join),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=6),
    st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789"), max_size=12),
)
hostile_text = st.lists(_pieces, max_size=10).map("".join)


def bounded(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """Hostile text cut to a field's maximum length; an empty one is padded to `min_size`."""
    return hostile_text.map(lambda s: (s or "x" * min_size)[:max_size])


printable_id = (
    st.lists(st.sampled_from([c for c in [*SPECIALS, *"A1 -#/"] if c.isprintable()]), max_size=12)
    .map("".join)
    .filter(lambda s: s.isprintable() and s.strip() and len(s) <= 32)
)

# ---- JSON values of every shape ------------------------------------------------------------

KEYS = [
    *("id", "revision", "status", "source", "type", "placed_at", "items", "name", "quantity"),
    *("unit_price", "modifiers", "args", "seq", "from_seq", "order_id", "printer", "partner"),
]
BIG_INTS = [
    *(2**31, 2**53 + 1, INT64_MAX, 2**63, 2**64, 2**70, -(2**63) - 1, -(2**70), 10**30),
    int("9" * 4300),
]
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**80), 2**80),
    st.sampled_from(BIG_INTS),
    st.floats(),  # NaN and infinities too: json.dumps writes them as NaN / Infinity
    hostile_text,
    st.sampled_from(["NaN", "Infinity", "-0", "1e309", "0x10", "1_000", "١٢٣", "", " 1", "true"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), hostile_text), inner, max_size=6),
    ),
    max_leaves=25,
)


# Objects shaped like an order, a command or an ack, with anything in their fields.
shaped_documents = st.fixed_dictionaries(
    {"id": st.one_of(st.sampled_from(["ord_1", "cmd_1", "a" * 64, "a" * 65]), json_scalars)},
    optional=dict.fromkeys(KEYS[1:], json_values),
)


def dumps(value: Any, *, ascii_only: bool = True) -> bytes:
    """JSON bytes as a careless cloud would send them (NaN allowed)."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


# ---- the contract, checked independently of the model ---------------------------------------

_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)
# RFC 3339 date-time: full date, full time, and an offset (Z or ±hh:mm); "t", "z" and the
# space separator are the spellings RFC 3339 §5.6 allows.
_RFC3339 = re.compile(
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"([0-5][0-9]|60)(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def contract_violations(doc: Any) -> list[str]:
    """What the contract forbids in this order document (CONTRACT §3 and the preamble)."""
    if not isinstance(doc, dict):
        return ["not an object"]
    bad: list[str] = []

    def check(ok: bool, what: str) -> None:
        if not ok:
            bad.append(what)

    def identifier(value: Any, what: str, *, optional: bool) -> None:
        if value is None and optional:
            return
        check(isinstance(value, str) and bool(_ID.fullmatch(value)), f"{what}: identifier")

    def optional(value: Any, kind: Callable[[Any], bool], what: str) -> None:
        check(value is None or kind(value), what)

    def money(value: Any, what: str) -> None:
        optional(value, _is_int, f"{what}: money is an integer")

    def timestamp(value: Any, what: str) -> None:
        check(isinstance(value, str) and bool(_RFC3339.fullmatch(value)), f"{what}: RFC 3339")

    identifier(doc.get("id"), "id", optional=False)
    revision = doc.get("revision")
    check(_is_int(revision) and 1 <= revision <= INT64_MAX, "revision: integer >= 1, storable")
    check(doc.get("status") in ("pending", "accepted", "cancelled"), "status")
    check(doc.get("type") in ("delivery", "self_delivery", "pickup", "dine_in"), "type")
    source = doc.get("source")
    if isinstance(source, dict):
        partner = source.get("partner")
        check(isinstance(partner, str) and partner != "", "source.partner")
        display = source.get("display_id")
        check(
            display is None
            or (isinstance(display, str) and 1 <= len(display) <= 32 and display.isprintable()),
            "source.display_id: 1-32 printable characters",
        )
        optional(source.get("partner_order_id"), lambda v: isinstance(v, str), "partner_order_id")
    else:
        bad.append("source: object")
    timestamp(doc.get("placed_at"), "placed_at")
    if doc.get("scheduled_for") is not None:
        timestamp(doc["scheduled_for"], "scheduled_for")
    optional(doc.get("prep_time_min"), lambda v: _is_int(v) and v >= 0, "prep_time_min")
    for key in ("brand", "notes"):
        optional(doc.get(key), lambda v: isinstance(v, str), key)
    allergens = doc.get("allergens", [])
    check(isinstance(allergens, list) and all(isinstance(a, str) for a in allergens), "allergens")
    items = doc.get("items")
    if isinstance(items, list) and 1 <= len(items) <= 200:
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                bad.append(f"items.{n}: object")
                continue
            check(isinstance(item.get("name"), str) and item["name"] != "", f"items.{n}.name")
            quantity = item.get("quantity")
            check(_is_int(quantity) and quantity >= 1, f"items.{n}.quantity >= 1")
            price = item.get("unit_price")
            check(_is_int(price) and price >= 0, f"items.{n}.unit_price >= 0")
            identifier(item.get("id"), f"items.{n}.id", optional=True)
            identifier(item.get("pos_id"), f"items.{n}.pos_id", optional=True)
            optional(item.get("notes"), lambda v: isinstance(v, str), f"items.{n}.notes")
            modifiers = item.get("modifiers", [])
            if not isinstance(modifiers, list):
                bad.append(f"items.{n}.modifiers: list")
                continue
            for m, modifier in enumerate(modifiers):
                where = f"items.{n}.modifiers.{m}"
                if not isinstance(modifier, dict):
                    bad.append(f"{where}: object")
                    continue
                check(isinstance(modifier.get("name"), str), f"{where}.name")
                quantity = modifier.get("quantity", 1)
                check(_is_int(quantity) and quantity >= 1, f"{where}.quantity")
                money(modifier.get("unit_price"), f"{where}.unit_price")
                identifier(modifier.get("id"), f"{where}.id", optional=True)
                identifier(modifier.get("pos_id"), f"{where}.pos_id", optional=True)
    else:
        bad.append("items: 1-200 lines")
    totals = doc.get("totals")
    if isinstance(totals, dict):
        for key in ("subtotal", "tax", "tip", "delivery_fee", "discount", "total"):
            money(totals.get(key), f"totals.{key}")
    else:
        check(totals is None, "totals: object")
    customer = doc.get("customer")
    if isinstance(customer, dict):
        for key in ("name", "phone", "notes"):
            optional(customer.get(key), lambda v: isinstance(v, str), f"customer.{key}")
    else:
        check(customer is None, "customer: object")
    payment = doc.get("payment")
    if isinstance(payment, dict):
        optional(payment.get("paid"), lambda v: isinstance(v, bool), "payment.paid")
    else:
        check(payment is None, "payment: object")
    return bad


def readable_id(doc: Any) -> str | None:
    """The id a rejection must name: the document's `id` when it is a valid identifier."""
    value = doc.get("id") if isinstance(doc, dict) else None
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def decoded_or_fail(topic: str, payload: bytes) -> Any:
    """`decode`, turning any exception into a test failure that shows the payload."""
    try:
        return decode(TOPICS, Inbound(topic, payload))
    except BaseException as err:  # RecursionError, OverflowError, ...
        shown = payload[:120] + (b"..." if len(payload) > 120 else b"")
        pytest.fail(f"decode raised {type(err).__name__}: {err} on {shown!r}", pytrace=False)


def check_rejection(topic: str, doc: Any, decoded: Any, *, may_skip_id: bool = False) -> None:
    """A rejected message: a known reason, and the order or command named when readable
    (`may_skip_id`: behind a BOM, which JSON parsers may refuse, the id may go unread)."""
    assert decoded.reason in ("invalid", "invalid_json", "too_large"), decoded
    assert decoded.errors, decoded
    expected = readable_id(doc)
    allowed = {expected, None} if may_skip_id else {expected}
    if topic == TOPICS.orders:
        assert decoded.order_id in allowed, (decoded.order_id, expected)
    if topic == TOPICS.commands:
        assert decoded.command_id in allowed, (decoded.command_id, expected)


# ---- 1. decoders: any bytes, any JSON, deep nesting ------------------------------------------


@PROPERTY
@given(
    topic=st.sampled_from(IN_TOPICS),
    payload=st.one_of(
        st.binary(max_size=2048),
        st.builds(  # a run of one token, then anything: nesting, BOMs, NULs, invalid UTF-8
            lambda token, times, tail: token * times + tail,
            st.sampled_from(
                [b"[", b'{"a":', b'{"id":"x","a":[', b"\xff", b"\x00", b"\xef\xbb\xbf"]
            ),
            st.integers(0, 3000),
            st.binary(max_size=64),
        ),
    ),
)
def test_decode_never_raises_on_any_bytes(topic: str, payload: bytes) -> None:
    decoded_or_fail(topic, payload)


@PROPERTY
@given(
    topic=st.sampled_from(IN_TOPICS),
    value=st.one_of(json_values, shaped_documents),
    ascii_only=st.booleans(),
    bom=st.booleans(),
)
def test_decode_accepts_only_valid_documents(
    topic: str, value: Any, ascii_only: bool, bom: bool
) -> None:
    payload = (b"\xef\xbb\xbf" if bom else b"") + dumps(value, ascii_only=ascii_only)
    decoded = decoded_or_fail(topic, payload)
    if isinstance(decoded, Order):
        assert contract_violations(value) == []
    elif isinstance(decoded, Command):
        assert isinstance(value, dict)
        assert _ID.fullmatch(decoded.id)
        assert isinstance(value["name"], str)
        assert 1 <= len(value["name"]) <= 64
        assert isinstance(value.get("args", {}), dict)
    elif isinstance(decoded, EventsAck):
        assert isinstance(value, dict)
        assert _is_int(value["seq"])
        assert value["seq"] >= 0
    elif isinstance(decoded, dict):
        assert topic == TOPICS.settings
        assert isinstance(value, dict)
    else:
        check_rejection(topic, value, decoded, may_skip_id=bom)


_OPENERS = ["[", '{"a":', '{"id":"ord_1","items":[', '{"args":{"a":[', "[{}, ["]
_DEPTHS = [*range(195, 205), 254, 255, 256, 500, 990, 999, 1000, 1001, 5000, 50_000, 100_000]


@PROPERTY
@given(
    topic=st.sampled_from(IN_TOPICS),
    opener=st.sampled_from(_OPENERS),
    depth=st.one_of(st.sampled_from(_DEPTHS), st.integers(1, 120_000)),
    closed=st.booleans(),
)
def test_decode_never_raises_on_deep_nesting(
    topic: str, opener: str, depth: int, closed: bool
) -> None:
    still_open = []
    for c in opener:
        if c in "[{":
            still_open.append(c)
        elif c in "]}":
            still_open.pop()
    closer = "".join({"[": "]", "{": "}"}[c] for c in reversed(still_open))
    body = opener * depth + ("1" + closer * depth if closed else "")
    decoded = decoded_or_fail(topic, body.encode())
    if isinstance(decoded, dict):  # settings: any JSON object that parses
        assert topic == TOPICS.settings
    else:
        assert not isinstance(decoded, Order | Command | EventsAck)
        if len(body) > MAX_PAYLOAD:
            assert decoded.reason == "too_large"


# ---- 2. near-valid orders: a valid fixture order, mutated -----------------------------------

BASES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path below the root of a JSON document."""
    if isinstance(node, dict | list):
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            yield (*prefix, key)
            yield from paths(child, (*prefix, key))


def parent_of(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


def value_at(doc: Any, path: tuple[Any, ...]) -> Any:
    return parent_of(doc, path)[path[-1]]


def set_at(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    parent_of(doc, path)[path[-1]] = value


TIMESTAMPS_BAD = [
    *("1700000000", "1700000000000", "0", "-1", "1700000000.5", "17e8", " 1700000000"),
    *("2026-11-23T18:02:11", "2026-11-23T18:02:11.123456", "2026-11-23 18:02:11", "2026-11-23"),
    *("18:02:11Z", "2026-11-23T18:02:11+01", "2026-11-23T18:02:11 Z", "2026-11-23T18:02:11+24:00"),
    *("2026-11-23T24:00:00Z", "2026-02-30T18:02:11Z", "23/11/2026 18:02", "now", "", "null"),
    *("2026-11-23T18:02:11ZZ", "２０２６-11-23T18:02:11Z", "2026-11-23T18:02:11Z\n"),
]
TIMESTAMPS_OK = [
    *("2026-11-23T18:02:11Z", "2026-11-23T18:02:11.5+05:45", "2026-11-23t18:02:11z"),
    *("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-11-23T18:02:11-00:00"),
]
timestamps = st.one_of(
    st.sampled_from(TIMESTAMPS_BAD + TIMESTAMPS_OK),
    st.from_regex(r"\A-?[0-9]{1,20}(\.[0-9]{1,6})?\Z"),  # epoch seconds or ms, as a string
    st.from_regex(
        r"\A20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9])T[01][0-9]:[0-5][0-9]:[0-5][0-9]\Z"
    ),
    st.integers(0, 2**40),
    st.floats(0, 2e9),
)
BAD_IDS = ["ord 1", "ord/1", "x" * 65, "", "ord\x00", "ord_é", "ord_1\n", "*", "ord+1", "../x"]


def mutations(doc: dict[str, Any]) -> st.SearchStrategy[Callable[[dict[str, Any]], None]]:
    """One change that may make a valid order invalid (the change is applied in place)."""
    every = list(paths(doc))
    numbers = [p for p in every if isinstance(value_at(doc, p), int | float)]
    texts = [p for p in every if isinstance(value_at(doc, p), str)]

    def drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
        return lambda d: parent_of(d, path).pop(path[-1])

    def put(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda d: set_at(d, path, value)

    def as_string(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
        return lambda d: set_at(d, path, json.dumps(value_at(d, path)))

    def resize(size: int) -> Callable[[dict[str, Any]], None]:
        return lambda d: d.update(items=[copy.deepcopy(d["items"][0]) for _ in range(size)])

    options = [
        st.sampled_from(every).map(drop),
        st.builds(put, st.sampled_from(every), json_values),
        st.builds(put, st.sampled_from(every), st.sampled_from([*BIG_INTS, 0, -1, 1.0, True])),
        st.builds(put, st.sampled_from([("placed_at",), ("scheduled_for",)]), timestamps),
        st.builds(put, st.sampled_from([("id",), ("items", 0, "id")]), st.sampled_from(BAD_IDS)),
        st.sampled_from([0, 1, 199, 200, 201, 250]).map(resize),
        st.builds(put, st.just(("revision",)), st.sampled_from([*BIG_INTS, "1", 1.0, 0, -1])),
    ]
    if numbers:
        options.append(st.sampled_from(numbers).map(as_string))
    if texts:
        options.append(st.builds(put, st.sampled_from(texts), hostile_text))
    return st.one_of(options)


@st.composite
def near_valid_orders(draw: st.DrawFn) -> dict[str, Any]:
    doc = load_order(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        items = doc.get("items")
        if not (isinstance(items, list) and items):
            break
        draw(mutations(doc))(doc)
    return doc


def check_order_decode(doc: dict[str, Any], ascii_only: bool = True) -> Any:
    decoded = decoded_or_fail(TOPICS.orders, dumps(doc, ascii_only=ascii_only))
    if isinstance(decoded, Order):
        assert contract_violations(doc) == [], "accepted an order the contract forbids"
    else:
        check_rejection(TOPICS.orders, doc, decoded)
    return decoded


@PROPERTY
@given(doc=near_valid_orders(), ascii_only=st.booleans())
def test_near_valid_orders_are_accepted_only_when_the_contract_allows(
    doc: dict[str, Any], ascii_only: bool
) -> None:
    check_order_decode(doc, ascii_only)


@PROPERTY
@given(
    base=st.sampled_from(BASES),
    field=st.sampled_from(["placed_at", "scheduled_for"]),
    value=timestamps,
)
def test_timestamps_must_be_rfc3339_with_an_offset(base: str, field: str, value: Any) -> None:
    check_order_decode(load_order(base, **{field: value}))


@PROPERTY
@given(data=st.data(), base=st.sampled_from(BASES), value=st.sampled_from(BIG_INTS))
def test_out_of_range_integers_are_rejected_or_storable(
    data: st.DataObject, base: str, value: int
) -> None:
    doc = load_order(base)
    ints = [p for p in paths(doc) if _is_int(value_at(doc, p))]
    set_at(doc, data.draw(st.sampled_from(ints)), value)
    check_order_decode(doc)


# ---- 3. decode + apply in one transaction: nothing the cloud sends stops the daemon -----------

CTX = CommandContext(store_id="st_test", version="0.0.test", routes=(PrinterRoute("kitchen"),))
INBOUND = InboundSettings(
    topics=TOPICS,
    life=Lifecycle(CTX.routes, release_lead_s=1800.0),
    retention_s=7 * 24 * 3600.0,
    retention_max=100_000,
    commands=CTX,
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path_factory.mktemp("hostile") / "edge.db", isolation_level=None)
    conn.row_factory = sqlite3.Row
    migrate(conn)
    yield conn
    conn.close()


def _command(name: str, **args: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"id": st.sampled_from(["cmd_1", "cmd_2"]), "name": st.just(name)},
        optional={"args": st.fixed_dictionaries({}, optional=args)},
    )


_hostile_ints = st.one_of(st.sampled_from(BIG_INTS), json_values)
hostile_commands = st.one_of(
    _command("replay", from_seq=_hostile_ints),
    _command(
        "reprint", order_id=st.one_of(st.just("ord_ue_0001"), _hostile_ints), printer=json_values
    ),
    _command("print_test", printer=json_values),
    _command("status"),
    st.builds(
        lambda name, args: {"id": "cmd_3", "name": name, "args": args}, hostile_text, json_values
    ),
)
orders_with_big_ints = st.builds(
    lambda base, revision: load_order(base, revision=revision),
    st.sampled_from(BASES),
    st.sampled_from([1, 2, *BIG_INTS]),
)


@PROPERTY
@given(
    messages=st.lists(
        st.one_of(
            st.one_of(near_valid_orders(), orders_with_big_ints).map(
                lambda d: (TOPICS.orders, dumps(d))
            ),
            st.builds(lambda v: (TOPICS.events_ack, dumps({"seq": v})), json_scalars),
            hostile_commands.map(lambda c: (TOPICS.commands, dumps(c))),
            st.builds(lambda v: (TOPICS.settings, dumps(v)), json_values),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_decode_and_apply_never_raise(
    db: sqlite3.Connection, messages: list[tuple[str, bytes]]
) -> None:
    """What the cloud link does with a batch: an exception here means no PUBACK, forever."""
    batch = [(m, decoded_or_fail(m.topic, m.payload)) for m in (Inbound(*t) for t in messages)]
    db.execute("BEGIN IMMEDIATE")
    try:
        apply_batch(db, INBOUND, batch, lambda m: TOPICS.replies)
    except BaseException as err:
        kinds = [(t.rsplit("/", 1)[1], p[:200]) for t, p in messages]
        pytest.fail(f"apply_batch raised {type(err).__name__}: {err} on {kinds}", pytrace=False)
    finally:
        db.execute("ROLLBACK")


# ---- 4. tickets: hostile text never becomes a printer command -------------------------------

MONEY = st.one_of(st.integers(0, 10**6), st.just(INT64_MAX))
TIMES = st.sampled_from([*TIMESTAMPS_OK, "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"])


@st.composite
def hostile_orders(draw: st.DrawFn) -> dict[str, Any]:
    """A valid order (CONTRACT §3) whose every free-text field is hostile."""

    def text(max_size: int, min_size: int = 0) -> str | None:
        strategy = bounded(max_size, min_size)
        return draw(strategy if min_size else st.one_of(st.none(), strategy))

    def modifier() -> dict[str, Any]:
        return {
            "group": text(500),
            "name": text(200, 1),
            "quantity": draw(st.integers(1, 999)),
            "unit_price": draw(MONEY),
        }

    items = [
        {
            "name": text(200, 1),
            "quantity": draw(st.integers(1, 999)),
            "unit_price": draw(MONEY),
            "modifiers": [modifier() for _ in range(draw(st.integers(0, 2)))],
            "notes": text(500),
        }
        for _ in range(draw(st.integers(1, 3)))
    ]
    return {
        "id": "ord_1",
        "revision": 1,
        "status": "accepted",
        "source": {
            "partner": text(64, 1),
            "partner_order_id": text(128),
            "display_id": draw(st.one_of(st.none(), printable_id)),
        },
        "brand": text(100),
        "type": draw(st.sampled_from(["delivery", "self_delivery", "pickup", "dine_in"])),
        "placed_at": draw(TIMES),
        "scheduled_for": draw(st.one_of(st.none(), TIMES)),
        "customer": {
            "name": text(500),
            "phone": text(64),
            "address": {
                "line1": text(500),
                "line2": text(500),
                "city": text(500),
                "postal_code": text(32),
            },
            "notes": text(500),
        },
        "items": items,
        "totals": {
            key: draw(st.one_of(st.none(), MONEY))
            for key in ("subtotal", "tax", "tip", "delivery_fee", "discount", "total")
        }
        | {"currency": draw(st.sampled_from([None, "EUR", "USD", "GBP", "JPY", "KWD", "XXX"]))},
        "payment": {"method": text(32), "paid": draw(st.sampled_from([None, True, False]))},
        "notes": text(500),
        "allergens": draw(st.lists(bounded(64), max_size=4)),
    }


def assert_clean(data: bytes, *, encoding: str, width: int, copies: int = 1) -> None:
    jobs = split_copies(data)
    assert len(jobs) == copies
    for one in jobs:
        assert problems(one, encoding, layout_commands()) == []
        assert too_wide(one, width) == []
    assert len(set(jobs)) == 1, "copies differ"


@PROPERTY
@given(
    doc=hostile_orders(),
    locale=st.sampled_from(["fr", "en"]),
    width=st.sampled_from([32, 48]),
    encoding=st.sampled_from(ENCODINGS),
    copies=st.integers(1, 2),
    meant_for=st.sampled_from([None, "bar"]),
)
def test_hostile_text_never_reaches_the_printer_as_a_command(
    doc: dict[str, Any], locale: str, width: int, encoding: str, copies: int, meant_for: str | None
) -> None:
    order_json = json.dumps(doc, ensure_ascii=False)
    Order.model_validate_json(order_json)  # the generator makes only valid orders
    for ticket, reprint in TICKETS:
        data = render(
            order_json,
            ticket,
            reprint,
            locale=locale,
            width=width,
            encoding=encoding,
            copies=copies,
            meant_for=meant_for,
        )
        assert_clean(data, encoding=encoding, width=width, copies=copies)


@PROPERTY
@given(
    doc=hostile_orders(),
    reason=bounded(300),
    store_name=bounded(100),
    locale=st.sampled_from(["fr", "en"]),
    encoding=st.sampled_from(ENCODINGS),
)
def test_hostile_manual_entry_reason_and_store_name_stay_text(
    doc: dict[str, Any], reason: str, store_name: str, locale: Locale, encoding: str
) -> None:
    """A manual-entry reason quotes line names; the store name comes from the config."""
    order = Order.model_validate_json(json.dumps(doc))
    blocks: list[Block] = kitchen_ticket(
        order, kind="manual_entry", locale=locale, timezone="Europe/Paris", reason=reason
    )
    assert_clean(encode(blocks, width=32, encoding=encoding), encoding=encoding, width=32)
    data = render(json.dumps(doc), "receipt", False, encoding=encoding, store_name=store_name)
    assert_clean(data, encoding=encoding, width=48)


def test_the_audit_catches_a_smuggled_command() -> None:
    """The check above can fail: text bytes put through raw, as a careless encoder would."""
    clean = render((FIXTURES / "ubereats_delivery.json").read_text("utf-8"), "kitchen", False)
    assert problems(clean, "cp1252", layout_commands()) == []
    for smuggled in (b"\x1bp\x00\x19\xfa", b"\x1dV\x00", b"\x10\x14\x01\x00\x05", b"\x07", b"\x7f"):
        dirty = clean.replace(b"Cheeseburger", b"Cheese" + smuggled + b"burger")
        assert problems(dirty, "cp1252", layout_commands()), smuggled


def test_layout_commands_are_few_and_known() -> None:
    allowed = layout_commands()
    assert b"\n" in allowed
    assert b"\x1bt\x10" in allowed
    assert b"\x1dV\x00" in allowed
    assert not any(c.startswith((b"\x1bp", b"\x10")) for c in allowed)


def test_far_timestamps_still_print() -> None:
    """Regression: a valid order near year 1 or 9999, shifted to the store's time zone, went
    past what Python's datetime holds (OverflowError) and the ticket was unprintable."""
    for placed, scheduled in [
        ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00+23:59"),
        ("0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"),
    ]:
        order_json = json.dumps(
            load_order("ubereats_delivery", placed_at=placed, scheduled_for=scheduled)
        )
        Order.model_validate_json(order_json)
        for ticket, reprint in TICKETS:
            data = render(order_json, ticket, reprint)
            assert_clean(data, encoding="cp1252", width=48)
        kitchen = decode_job(render(order_json, "kitchen", False)).text
        assert "Placed at 23:59" in kitchen or "Placed at 00:00" in kitchen
