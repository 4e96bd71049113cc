"""Lines no code page holds, drawn as images: fonts found on this machine (or not), the lines
they draw, and the encoder printing as images only those lines."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from drivers.emulator import Raster, decode_job
from drivers.escpos import Block, Columns, FontLibrary, Script, Text, encode, encode_report
from drivers.escpos.fonts import DEFAULT_DIRS, Coverage, font_report, preload_fonts
from drivers.escpos.raster import LineStyle, columns_lines, text_lines

RASTER = b"\x1dv0"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def fonts() -> FontLibrary:
    """This machine's fonts: those scripts/bootstrap installs must be there."""
    library = FontLibrary(DEFAULT_DIRS)
    for choice in library.report():
        if choice.script in (Script.CJK, Script.ARABIC, Script.HEBREW, Script.FALLBACK):
            assert choice.path is not None, f"no {choice.script} font: install {choice.package}"
    return library


def images(data: bytes) -> list[Raster]:
    return [line.image for line in decode_job(data).lines if line.image is not None]


def raster(command: bytes) -> Raster:
    """The image a `GS v 0` command prints."""
    assert command[:4] == RASTER + b"\x00"
    width, height = command[4] | command[5] << 8, command[6] | command[7] << 8
    assert len(command) == 8 + width * height
    return Raster(width, height, command[8:])


def dots(raster: Raster) -> Image.Image:
    """A raster line as an image: a set bit (a printed dot) is white here."""
    return Image.frombytes("1", (raster.width_bytes * 8, raster.height), raster.data)


def ink(raster: Raster) -> tuple[int, int, int, int]:
    box = dots(raster).getbbox()
    assert box is not None, "nothing printed"
    return box


# --- fonts ----------------------------------------------------------------------------------


def test_font_report_names_a_font_or_a_package_per_script(fonts: FontLibrary) -> None:
    report = font_report()
    assert [choice.script for choice in report] == list(Script)
    chosen = {choice.script: choice for choice in report}
    assert chosen[Script.CJK].package == "fonts-noto-cjk"
    assert chosen[Script.FALLBACK].path == DEJAVU
    assert all(choice.path is None or choice.path.is_file() for choice in report)


def test_missing_fonts_are_reported_with_their_package(tmp_path: Path) -> None:
    nothing = FontLibrary([tmp_path], fc_match=False)
    assert {(c.script, c.path, c.package) for c in nothing.report()} == {
        (Script.CJK, None, "fonts-noto-cjk"),
        (Script.ARABIC, None, "fonts-dejavu-core"),
        (Script.HEBREW, None, "fonts-dejavu-core"),
        (Script.THAI, None, "fonts-tlwg-loma-ttf"),
        (Script.FALLBACK, None, "fonts-dejavu-core"),
    }
    data, unprintable = encode_report([Text("Client: 王 - שלום")], fonts=nothing)
    assert RASTER not in data
    assert b"Client: ? - ????\n" in data
    assert unprintable == ["王", "ש", "ל", "ו", "ם"]


def test_a_script_without_font_prints_question_marks_the_others_images(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    shutil.copy(DEJAVU, tmp_path / "sub" / "DejaVuSans.ttf")
    dejavu_only = FontLibrary([tmp_path], fc_match=False)
    found = {c.script: c.path for c in dejavu_only.report()}
    assert found[Script.CJK] is None
    assert found[Script.ARABIC] == tmp_path / "sub" / "DejaVuSans.ttf"
    blocks: list[Block] = [Text("Name: 王小明"), Text("Note: بدون بصل")]
    data, unprintable = encode_report(blocks, fonts=dejavu_only)
    assert b"Name: ???\n" in data
    assert len(images(data)) == 1
    assert unprintable == ["王", "小", "明"]


@pytest.mark.skipif(shutil.which("fc-match") is None, reason="no fontconfig (fc-match)")
def test_fc_match_finds_fonts_outside_the_directories_searched(tmp_path: Path) -> None:
    """A font that only fontconfig knows is used when it has the script (checked, as
    fc-match answers its best font even without the character)."""
    elsewhere = FontLibrary([tmp_path], fc_match=True)
    found = {c.script: c for c in elsewhere.report()}
    cjk = found[Script.CJK]
    assert cjk.path is not None, "fontconfig knows no CJK font: install fonts-noto-cjk"
    assert cjk.package == "fonts-noto-cjk"
    assert found[Script.FALLBACK].path is None  # not asked of fontconfig: any font would do
    face = elsewhere.face_for("王", "王")
    assert face is not None
    assert face.covers("王")


def test_an_unreadable_font_file_counts_as_missing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "DejaVuSans.ttf").write_bytes(b"\x00\x01\x00\x00" + b"\xff" * 40)
    (tmp_path / "NotoSansCJK-Regular.ttc").write_bytes(b"ttcf")
    broken = FontLibrary([tmp_path], fc_match=False)
    with caplog.at_level(logging.WARNING, logger="drivers.escpos.fonts"):
        assert all(choice.path is None for choice in broken.report())
    assert "cannot be read" in caplog.text
    data, _ = encode_report([Text("Name: 王小明")], fonts=broken)
    assert b"Name: ???\n" in data


def test_coverage_is_the_fonts_character_map(fonts: FontLibrary) -> None:
    faces = fonts.faces()
    cjk, fallback = faces[Script.CJK], faces[Script.FALLBACK]
    assert cjk is not None
    assert fallback is not None
    assert all(cjk.covers(c) for c in "王小明Aé、ひカ한")
    assert not cjk.covers("ب")
    assert all(fallback.covers(c) for c in "Aéبשлж")
    assert not fallback.covers("王")
    merged = Coverage.of([(10, 12), (13, 15), (20, 20), (5, 11)])
    assert (merged.starts, merged.ends) == ((5, 20), (15, 20))
    assert "\x0f" in merged
    assert "\x10" not in merged
    assert "\x14" in merged


def test_a_face_is_chosen_for_the_whole_line(fonts: FontLibrary) -> None:
    chinese = fonts.face_for("Customer: 王小明", "王小明")
    assert chinese is not None
    assert chinese.script is Script.CJK
    japanese = fonts.face_for("ラーメン", "ラーメン")
    korean = fonts.face_for("김치", "김치")
    assert chinese.index != japanese.index != korean.index  # type: ignore[union-attr]
    arabic = fonts.face_for("Note: بدون", "بدون")
    assert arabic is not None
    assert arabic.covers("N")
    assert arabic.covers("ب")
    assert fonts.face_for("\ue000", "\ue000") is None


# --- raster lines ---------------------------------------------------------------------------


def test_a_line_is_one_line_high_and_sent_up_to_its_last_dot(fonts: FontLibrary) -> None:
    face = fonts.face_for("王", "王")
    assert face is not None
    for width, paper in ((48, 576), (32, 384)):
        (left,), missing = text_lines("王小明", face, width=width, style=LineStyle())
        assert missing == []
        image = raster(left)
        assert image.height == 30
        assert 3 * 24 <= image.width_bytes * 8 < 3 * 24 + 8  # three CJK characters, 2 columns each
        (right,), _ = text_lines("王", face, width=width, style=LineStyle(align="right"))
        assert raster(right).width_bytes * 8 == paper
        assert ink(raster(right))[2] > paper - 6
    (tall,), _ = text_lines("王", face, width=48, style=LineStyle(double_height=True))
    assert raster(tall).height == 60
    (blank,), _ = text_lines("\u200d", face, width=48, style=LineStyle())
    assert (raster(blank).width_bytes, raster(blank).height) == (1, 30)  # a blank line still feeds


def test_long_cjk_text_wraps_on_characters(fonts: FontLibrary) -> None:
    note = "请不要放葱和香菜谢谢" * 6  # 60 characters, 2 columns each
    data = encode([Text(f"   > {note}", hanging_indent=5)], width=32)
    rasters = images(data)
    assert len(rasters) >= 4  # 120 columns of text on 32-column lines
    assert all(r.width_bytes * 8 <= 384 for r in rasters)
    assert ink(rasters[1])[0] >= 5 * 12  # continuation lines hang
    assert ink(rasters[0])[0] >= 3 * 12  # the indent of the first line


def test_right_to_left_paragraph_starts_at_the_right(fonts: FontLibrary) -> None:
    face = fonts.face_for("بدون بصل", "بدون بصل")
    assert face is not None
    (rtl,), _ = text_lines("بدون بصل", face, width=48, style=LineStyle())
    (ltr,), _ = text_lines("Note: بدون بصل", face, width=48, style=LineStyle())
    rtl_box = ink(raster(rtl))
    ltr_box = ink(raster(ltr))
    assert rtl_box[2] > 576 - 12
    assert rtl_box[0] > 576 // 2
    assert ltr_box[0] < 12  # a left-to-right line with Arabic in it starts at the left


def test_right_to_left_text_is_shaped(fonts: FontLibrary) -> None:
    """Joined Arabic letters are narrower than the same letters drawn apart."""
    face = fonts.face_for("بببب", "بببب")
    assert face is not None
    (joined,), _ = text_lines("بببب", face, width=48, style=LineStyle(align="left"))
    (apart,), _ = text_lines("ب ب ب ب", face, width=48, style=LineStyle(align="left"))
    joined_box, apart_box = ink(raster(joined)), ink(raster(apart))
    assert joined_box[2] - joined_box[0] < (apart_box[2] - apart_box[0]) * 0.7


def test_styles_alignment_and_columns(fonts: FontLibrary) -> None:
    face = fonts.face_for("王", "王")
    assert face is not None
    (left,), _ = text_lines("王", face, width=48, style=LineStyle())
    (center,), _ = text_lines("王", face, width=48, style=LineStyle(align="center"))
    (right,), _ = text_lines("王", face, width=48, style=LineStyle(align="right"))
    (bold,), _ = text_lines("王", face, width=48, style=LineStyle(bold=True))
    (wide,), _ = text_lines("王", face, width=48, style=LineStyle(double_width=True))
    (inverse,), _ = text_lines("王", face, width=48, style=LineStyle(inverse=True))
    boxes = {
        name: ink(raster(line))
        for name, line in [("left", left), ("center", center), ("right", right), ("wide", wide)]
    }
    assert boxes["left"][0] < 6
    assert abs((boxes["center"][0] + boxes["center"][2]) / 2 - 288) < 6
    assert boxes["right"][2] > 570
    assert boxes["wide"][2] - boxes["wide"][0] > 1.8 * (boxes["left"][2] - boxes["left"][0])
    count = dots(raster(left)).histogram()[255]
    assert dots(raster(bold)).histogram()[255] > count
    assert dots(raster(inverse)).histogram()[255] > 4 * count
    (line,), missing = columns_lines("1x 牛肉面", "12,50", face, width=48, style=LineStyle())
    assert missing == []
    box = ink(raster(line))
    assert box[0] < 6
    assert box[2] > 570


def test_only_the_paragraph_the_code_page_lacks_is_an_image() -> None:
    data = encode([Text("Table 4\n王小明\nMerci", bold=True), Text("Crème brûlée")])
    lines = decode_job(data).lines
    assert [line.image is not None for line in lines] == [False, True, False, False]
    assert [lines[n].text for n in (0, 2, 3)] == ["Table 4", "Merci", "Crème brûlée"]
    assert lines[0].bold
    assert lines[2].bold
    assert not lines[3].bold
    assert data.count(RASTER) == 1


def test_what_no_font_draws_in_a_drawn_line_is_a_question_mark() -> None:
    data, unprintable = encode_report([Text("王 \x1b\U000f0000 x")])
    assert len(images(data)) == 1
    assert unprintable == ["\x1b", "\U000f0000"]
    assert b"\x1b@" not in data[2:]  # no control character reached the printer


def test_transliterated_text_stays_text() -> None:
    """What the code page spells acceptably (œ -> oe, € -> EUR) is not worth an image."""
    data = encode([Text("Bœuf 5 € – “bien cuit”")], encoding="cp437")
    assert RASTER not in data
    assert b'Boeuf 5 EUR - "bien cuit"\n' in data


# --- hostile text ---------------------------------------------------------------------------

_styles = st.fixed_dictionaries(
    {
        "bold": st.booleans(),
        "double_height": st.booleans(),
        "double_width": st.booleans(),
        "inverse": st.booleans(),
        "underline": st.booleans(),
        "align": st.sampled_from(["left", "center", "right"]),
        "hanging_indent": st.integers(0, 60),
    }
)
_any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)
_scripts = st.text(st.sampled_from("王小明、。ラーメン김치بدون بصلשלוםข้าวผัด Ж é\u200d\u202e\u2029"))


@PROPERTY
@given(
    texts=st.lists(st.one_of(_any_text, _scripts), min_size=1, max_size=4),
    style=_styles,
    width=st.sampled_from([32, 48]),
    encoding=st.sampled_from(["cp1252", "cp437"]),
)
def test_encode_never_raises_and_never_prints_wider_than_the_paper(
    texts: list[str], style: dict[str, object], width: int, encoding: str
) -> None:
    blocks: list[Block] = [Text(text, **style) for text in texts]  # type: ignore[arg-type]
    blocks.append(Columns(texts[0], texts[-1][:20], hanging_indent=3))
    data, _ = encode_report(blocks, width=width, encoding=encoding)
    decoded = decode_job(data)
    assert decoded.unknown == []
    assert decoded.truncated == b""
    for image in images(data):
        assert image.width_bytes * 8 <= width * 12
        assert image.height in (30, 60)


@PROPERTY
@given(
    text=st.text(st.characters(max_codepoint=0xFF, exclude_categories=["Cs"]), max_size=300),
    style=_styles,
    width=st.sampled_from([32, 48]),
)
def test_latin_1_text_is_never_an_image(text: str, style: dict[str, object], width: int) -> None:
    blocks: list[Block] = [Text(text, **style), Columns(text, text[:10])]  # type: ignore[arg-type]
    assert RASTER not in encode(blocks, width=width, encoding="cp1252")


# --- in the daemon's event loop -------------------------------------------------------------


async def test_fonts_found_in_a_thread_leave_the_event_loop_free() -> None:
    """Finding the fonts reads files (the blocking guard of tests/conftest.py would fail this
    test): done in a thread first, drawing a line in the event loop reads none."""
    library = FontLibrary(DEFAULT_DIRS)
    await asyncio.to_thread(library.faces)
    data, unprintable = encode_report([Text("Customer: 王小明")], fonts=library)
    assert unprintable == []
    assert len(images(data)) == 1
    await asyncio.to_thread(preload_fonts)
    assert len(images(encode([Text("Note: بدون بصل")]))) == 1


def test_a_symbol_alone_does_not_make_a_line_an_image() -> None:
    """Emoji and symbols a font has are drawn in a line that is an image for its words, and
    print "?" in a line that is not."""
    data, unprintable = encode_report([Text("Ana 😀 ★"), Text("王 😀 ★")])
    assert b"Ana ? ?\n" in data
    assert unprintable == ["😀", "★"]
    assert len(images(data)) == 1


def test_the_command_is_python_escpos_raster_image() -> None:
    """`GS v 0` as python-escpos's own printer sends an image (impl="bitImageRaster")."""
    from escpos.printer import Dummy

    from drivers.escpos.raster import gs_v0

    image = Image.new("L", (100, 30), 255)
    image.paste(0, (3, 4, 90, 20))
    printer = Dummy()
    printer.image(image, impl="bitImageRaster")
    assert gs_v0(image) == bytes(printer.output)
