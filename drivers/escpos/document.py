"""A printer-independent ticket document: a flat list of blocks the encoder turns into bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Align = Literal["left", "center", "right"]


@dataclass(frozen=True, slots=True)
class Text:
    """One paragraph, word-wrapped to the line; `hanging_indent` indents continuation lines."""

    text: str
    bold: bool = False
    double_height: bool = False
    double_width: bool = False
    inverse: bool = False
    underline: bool = False
    align: Align = "left"
    hanging_indent: int = 0

    def __post_init__(self) -> None:
        if self.hanging_indent < 0:
            raise ValueError(f"hanging_indent must be >= 0, not {self.hanging_indent}")


@dataclass(frozen=True, slots=True)
class Columns:
    """Left text and right-aligned text on one line (the left part wraps when needed, its
    continuation lines indented by `hanging_indent`); a newline in either counts as a space."""

    left: str
    right: str
    bold: bool = False
    double_height: bool = False
    hanging_indent: int = 0

    def __post_init__(self) -> None:
        if self.hanging_indent < 0:
            raise ValueError(f"hanging_indent must be >= 0, not {self.hanging_indent}")


@dataclass(frozen=True, slots=True)
class Rule:
    """A full-width line drawn with one character."""

    char: str = "-"

    def __post_init__(self) -> None:
        if len(self.char) != 1:
            raise ValueError(f"a rule is drawn with exactly one character, not {self.char!r}")


@dataclass(frozen=True, slots=True)
class Feed:
    """Blank lines."""

    lines: int = 1

    def __post_init__(self) -> None:
        if self.lines < 0:
            raise ValueError(f"cannot feed {self.lines} lines")


@dataclass(frozen=True, slots=True)
class Cut:
    """Feed the paper past the cutter and cut it."""


Block = Text | Columns | Rule | Feed | Cut
