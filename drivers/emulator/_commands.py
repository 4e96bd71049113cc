"""ESC/POS command framing: how many bytes the command or text run at a position spans."""

from __future__ import annotations

import re
from typing import NamedTuple

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10
EOT, ENQ, DC4 = 0x04, 0x05, 0x14
LF, CR, HT = 0x0A, 0x0D, 0x09

TEXT_RUN = re.compile(rb"[\x20-\xff]+")

# Parameter bytes after the command byte, for fixed-length commands.
_ESC_ARGS = {
    **dict.fromkeys(b"@2im<LS\x0c", 0),
    **dict.fromkeys(b"!E-adt3MGJeVR{ rUT%?", 1),
    **dict.fromkeys(b"c$\\", 2),  # ESC c 3/4/5 n
    ord("p"): 3,
    ord("W"): 8,
}
_GS_ARGS = {
    **dict.fromkeys(b"!BbHhwfarI/T", 1),
    **dict.fromkeys(b"LWP$\\", 2),
}
_FS_ARGS = {ord("."): 0, ord("&"): 0, ord("C"): 1, ord("p"): 2}
_CUT_WITH_FEED = frozenset((65, 66, 97, 98, 103, 104))


class Command(NamedTuple):
    """One command or text run: its byte length and whether its meaning is known."""

    length: int
    known: bool = True


def _u16(data: bytes, i: int) -> int:
    return data[i] | data[i + 1] << 8


def _terminated(data: bytes, start: int, limit: int) -> int | None:
    """Length up to and including a NUL found at or after start, within limit bytes."""
    end = data.find(0, start, start + limit)
    if end >= 0:
        return end + 1
    return start + limit if len(data) >= start + limit else None


def _variable(data: bytes, i: int) -> Command | None:
    """Commands whose length depends on their parameters; None when the data ends too soon."""
    prefix, cmd = data[i], data[i + 1]
    have = len(data) - i
    if prefix == ESC and cmd == ord("*"):  # bit image: m nL nH data
        if have < 5:
            return None
        dots = _u16(data, i + 3)
        return Command(5 + dots * (3 if data[i + 2] in (32, 33) else 1))
    if prefix == ESC and cmd == ord("D"):  # tab stops, NUL-terminated
        end = _terminated(data, i + 2, 33)
        return None if end is None else Command(end - i)
    if prefix != GS:
        return Command(3, known=False)
    if cmd == ord("V"):
        if have < 3:
            return None
        return Command(4 if data[i + 2] in _CUT_WITH_FEED else 3)
    if cmd == ord("v"):  # raster image: GS v 0 m xL xH yL yH data
        if have < 8:
            return None
        return Command(8 + _u16(data, i + 4) * _u16(data, i + 6))
    if cmd == ord("("):  # GS ( fn pL pH data (QR codes, graphics, ...)
        return None if have < 5 else Command(5 + _u16(data, i + 3))
    if cmd == ord("8"):  # GS 8 L p1..p4 data
        if have < 7:
            return None
        return Command(7 + int.from_bytes(data[i + 3 : i + 7], "little"))
    if cmd == ord("k"):  # barcode
        if have < 3:
            return None
        if data[i + 2] <= 6:
            end = _terminated(data, i + 3, 256)
            return None if end is None else Command(end - i)
        return None if have < 4 else Command(4 + data[i + 3])
    if cmd == ord("*"):  # downloaded bit image: x y data
        return None if have < 4 else Command(4 + data[i + 2] * data[i + 3] * 8)
    return Command(3, known=False)


def command_at(data: bytes, i: int) -> Command | None:
    """Frame the command or text run starting at data[i]; None when data ends mid-command."""
    first = data[i]
    if first >= 0x20:
        match = TEXT_RUN.match(data, i)
        assert match is not None
        return Command(match.end() - i)
    if first not in (ESC, GS, FS, DLE):
        return Command(1)
    if len(data) - i < 2:
        return None
    cmd = data[i + 1]
    if first == DLE:
        if cmd in (EOT, ENQ):
            return Command(3) if len(data) - i >= 3 else None
        if cmd == DC4:  # DLE DC4 fn ...: fn 8 (clear buffer) has 7 fixed bytes
            if len(data) - i < 3:
                return None
            return Command(10 if data[i + 2] == 8 else 5)
        return Command(1, known=False)
    table = {ESC: _ESC_ARGS, GS: _GS_ARGS, FS: _FS_ARGS}[first]
    args = table.get(cmd)
    command = Command(2 + args) if args is not None else _variable(data, i)
    if command is None or len(data) - i < command.length:
        return None
    return command


def is_cut(data: bytes, i: int) -> bool:
    """Whether the command at data[i] cuts the paper (GS V, or the legacy ESC i / ESC m)."""
    if len(data) - i < 2:
        return False
    return (data[i], data[i + 1]) in ((GS, ord("V")), (ESC, ord("i")), (ESC, ord("m")))
