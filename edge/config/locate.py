"""Map key paths of a TOML document to the lines that define them, for error messages."""

from __future__ import annotations

import bisect
import contextlib
import tomllib
from typing import Any

# A key path inside the document, as pydantic reports it: ("printers", 1, "backup").
KeyPath = tuple[str | int, ...]

_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class KeyLines:
    """Line numbers of the tables, array-of-tables entries and keys of a TOML document."""

    def __init__(self, text: str) -> None:
        """Scan `text`, a document tomllib accepted; best effort, never raises."""
        self._lines: dict[KeyPath, int] = {}
        self._scanner = _Scanner(text, self._lines)
        # On a surprise, keep what was found before it.
        with contextlib.suppress(IndexError, ValueError, tomllib.TOMLDecodeError):
            self._scanner.document()

    def line_of(self, path: KeyPath) -> int | None:
        """1-based line of `path`, else of its nearest defined parent (a missing key's table)."""
        for end in range(len(path), 0, -1):
            line = self._lines.get(path[:end])
            if line is not None:
                return line
        return None


class _Scanner:
    """A minimal reader of valid TOML that records where each key path is first defined."""

    def __init__(self, text: str, lines: dict[KeyPath, int]) -> None:
        self.text = text
        self.pos = 0
        self.lines = lines
        self.line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        self.table: KeyPath = ()
        self.aot_index: dict[KeyPath, int] = {}

    def line(self, pos: int) -> int:
        return bisect.bisect_right(self.line_starts, pos)

    def record(self, path: KeyPath, pos: int) -> None:
        self.lines.setdefault(path, self.line(pos))

    def peek(self, count: int = 1) -> str:
        return self.text[self.pos : self.pos + count]

    def skip_blank(self, newlines: bool) -> None:
        """Skip spaces, comments and (if `newlines`) line breaks."""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " \t" or (newlines and char in "\r\n"):
                self.pos += 1
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            else:
                return

    def document(self) -> None:
        while True:
            self.skip_blank(newlines=True)
            if self.pos >= len(self.text):
                return
            if self.peek() == "[":
                self.header()
            else:
                self.key_value(self.table)

    def header(self) -> None:
        start = self.pos
        is_array = self.peek(2) == "[["
        self.pos += 2 if is_array else 1
        keys = self.key()
        self.pos += 2 if is_array else 1
        path = (*self.resolve(keys[:-1]), keys[-1])
        if is_array:
            self.record(path, start)
            index = self.aot_index.get(path, -1) + 1
            self.aot_index[path] = index
            path = (*path, index)
        else:
            path = self.resolve(keys)
        for end in range(1, len(path) + 1):
            self.record(path[:end], start)
        self.table = path

    def resolve(self, keys: tuple[str, ...]) -> KeyPath:
        """Append the current index after every array of tables along `keys`."""
        path: KeyPath = ()
        for key in keys:
            path = (*path, key)
            if path in self.aot_index:
                path = (*path, self.aot_index[path])
        return path

    def key(self) -> tuple[str, ...]:
        """Read a (dotted, maybe quoted) key; tomllib decodes the quoting."""
        start = self.pos
        while True:
            self.skip_blank(newlines=False)
            char = self.peek()
            if char in ('"', "'"):
                self.string()
            elif char in _BARE_KEY or char == ".":
                self.pos += 1
            else:
                break
        decoded: Any = tomllib.loads(self.text[start : self.pos] + "=0")
        keys: list[str] = []
        while isinstance(decoded, dict):
            name = next(iter(decoded))
            keys.append(name)
            decoded = decoded[name]
        return tuple(keys)

    def key_value(self, table: KeyPath) -> None:
        start = self.pos
        keys = self.key()
        for end in range(1, len(keys) + 1):
            self.record((*table, *keys[:end]), start)
        self.skip_blank(newlines=False)
        self.pos += 1  # "="
        self.skip_blank(newlines=False)
        self.value((*table, *keys))

    def value(self, path: KeyPath) -> None:
        char = self.peek()
        if char in ('"', "'"):
            self.string()
        elif char == "[":
            self.array(path)
        elif char == "{":
            self.inline_table(path)
        else:
            while self.pos < len(self.text) and self.text[self.pos] not in ",]}#\r\n":
                self.pos += 1

    def array(self, path: KeyPath) -> None:
        self.pos += 1
        index = 0
        while True:
            self.skip_blank(newlines=True)
            if self.peek() == "]":
                self.pos += 1
                return
            self.record((*path, index), self.pos)
            before = self.pos
            self.value((*path, index))
            if self.pos == before:
                raise ValueError("unexpected character in array")
            self.skip_blank(newlines=True)
            if self.peek() == ",":
                self.pos += 1
            index += 1

    def inline_table(self, path: KeyPath) -> None:
        self.pos += 1
        while True:
            self.skip_blank(newlines=False)
            if self.peek() == "}":
                self.pos += 1
                return
            self.key_value(path)
            self.skip_blank(newlines=False)
            if self.peek() == ",":
                self.pos += 1

    def string(self) -> None:
        quote = self.peek()
        delimiter = quote * 3 if self.peek(3) == quote * 3 else quote
        end = self.pos + len(delimiter)
        while not self.text.startswith(delimiter, end):
            if end >= len(self.text):
                raise ValueError("unterminated string")
            end += 2 if quote == '"' and self.text[end] == "\\" else 1
        end += len(delimiter)
        if len(delimiter) == 3:  # up to two quotes just before the delimiter belong to the content
            for _ in range(2):
                if self.text[end : end + 1] == quote:
                    end += 1
        self.pos = end
