"""Find, read and validate the configuration file; every problem reported with its line."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from edge.config.locate import KeyLines, KeyPath
from edge.config.model import (
    IDENTIFIER_PATTERN,
    Config,
    printer_link_problems,
)
from edge.config.section import CROSS_FIELD_ERROR
from edge.errors import EdgeError

ENV_CONFIG = "EDGE_CONFIG"
ENV_CREDENTIALS = "CREDENTIALS_DIRECTORY"
SYSTEM_CONFIG_PATH = Path("/etc/store-edge/edge.toml")
LOCAL_CONFIG_PATH = Path("edge.toml")

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$|\s*\(at end of document\)$")
_TOML_TYPES = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "float",
    list: "array",
    dict: "table",
}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a configuration file: where it is, which key, what is wrong."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        """`file:line: key: message`, leaving out what is unknown."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return ": ".join(part for part in (where, self.key, self.message) if part)


class ConfigError(EdgeError):
    """The configuration file is missing, unreadable or invalid; `issues` lists every problem."""

    def __init__(self, path: Path, issues: list[ConfigIssue]) -> None:
        """Carry the file and its problems (at least one)."""
        self.path = path
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


def find_config_path(explicit: str | None = None) -> Path:
    """`--config`, else `$EDGE_CONFIG`, else the first of /etc/store-edge/edge.toml, ./edge.toml."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(ENV_CONFIG)
    if from_env:
        return Path(from_env)
    for candidate in (SYSTEM_CONFIG_PATH, LOCAL_CONFIG_PATH):
        if candidate.exists():
            return candidate
    return SYSTEM_CONFIG_PATH


def load_config(path: Path) -> Config:
    """Read and validate `path`; raise ConfigError listing every problem found."""
    file = str(path)
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        line, message = _toml_error_position(err)
        raise ConfigError(path, [ConfigIssue(file, line, "", message)]) from err
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        issues = _issues(file, data, KeyLines(text), err)
        raise ConfigError(path, issues) from err


def read_secret(file_setting: str, credential_name: str) -> str | None:
    """The secret in `file_setting`, else in systemd credential `credential_name`, else None."""
    if "/" in credential_name or credential_name in ("", ".", ".."):
        raise ValueError(f"not a credential name: {credential_name!r}")
    if file_setting:
        path = Path(file_setting)
    else:
        directory = os.environ.get(ENV_CREDENTIALS)
        if not directory or not (Path(directory) / credential_name).is_file():
            return None
        path = Path(directory) / credential_name
    try:
        secret = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = (err.strerror or str(err)) if isinstance(err, OSError) else "not UTF-8 text"
        issue = ConfigIssue(str(path), None, "", f"cannot read secret {credential_name}: {reason}")
        raise ConfigError(path, [issue]) from err
    return secret.rstrip("\r\n")


def _read_text(path: Path) -> str:
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        hint = " (give --config PATH or set $EDGE_CONFIG)" if path == SYSTEM_CONFIG_PATH else ""
        raise ConfigError(path, [ConfigIssue(file, None, "", f"file not found{hint}")]) from err
    except OSError as err:
        issue = ConfigIssue(file, None, "", f"cannot read: {err.strerror or err}")
        raise ConfigError(path, [issue]) from err
    try:
        # utf-8-sig: a byte-order mark left by a Windows editor is not worth an error.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        issue = ConfigIssue(file, line, "", "not valid UTF-8 text")
        raise ConfigError(path, [issue]) from err


def _toml_error_position(err: tomllib.TOMLDecodeError) -> tuple[int | None, str]:
    message = str(err)
    match = _TOML_POSITION.search(message)
    if match is None:
        return None, f"TOML syntax error: {message}"
    message = message[: match.start()]
    if match[1] is None:
        return None, f"TOML syntax error: {message} (at end of file)"
    return int(match[1]), f"TOML syntax error: {message} (column {match[2]})"


def _issues(
    file: str, data: dict[str, Any], lines: KeyLines, err: ValidationError
) -> list[ConfigIssue]:
    found: list[tuple[KeyPath, str]] = []
    for error in err.errors(include_url=False):
        loc: KeyPath = tuple(error["loc"])
        if error["type"] == CROSS_FIELD_ERROR:
            found += [((*loc, *sub), message) for sub, message in error["ctx"]["problems"]]
        else:
            found.append((loc, _message(loc, error)))
    if not any(error["type"] == CROSS_FIELD_ERROR and not error["loc"] for error in err.errors()):
        # Config's own checks did not run (a field failed first): run them on the raw tables.
        printers = data.get("printers")
        if isinstance(printers, list):
            pairs = [
                (p.get("name"), p.get("backup")) if isinstance(p, dict) else (None, None)
                for p in printers
            ]
            found += [problem for problem in printer_link_problems(pairs) if problem not in found]
    issues = [ConfigIssue(file, lines.line_of(loc), format_key(loc), msg) for loc, msg in found]
    return sorted(issues, key=lambda issue: issue.line if issue.line is not None else 1 << 30)


def _message(loc: KeyPath, error: Any) -> str:
    kind: str = error["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return _unknown_key_message(loc)
    value = error["input"]
    if loc == ("printers",) and isinstance(value, dict):
        return "should be an array of tables: write [[printers]], not [printers]"
    if kind in ("model_type", "dict_type"):
        message = "should be a table"
    elif kind == "string_pattern_mismatch" and error["ctx"]["pattern"] == IDENTIFIER_PATTERN:
        message = f"should be 1 to 64 characters from A-Z a-z 0-9 _ . : -, got {value!r}"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    if kind.endswith("_type"):
        message += f", got {_TOML_TYPES.get(type(value), type(value).__name__)}"
        if isinstance(value, str | int | float):
            message += f" {value!r}"
    return message


def _unknown_key_message(loc: KeyPath) -> str:
    known = _known_keys(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key (known: {', '.join(known)})" if known else "unknown key"


def _known_keys(parent: KeyPath) -> list[str]:
    """The keys the schema accepts in the table at `parent`."""
    model: type[BaseModel] | None = Config
    for part in parent:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            return []
        model = next(
            (
                arg
                for arg in (field.annotation, *get_args(field.annotation))
                if isinstance(arg, type) and issubclass(arg, BaseModel)
            ),
            None,
        )
    return list(model.model_fields) if model is not None else []


def format_key(loc: KeyPath) -> str:
    """A key path as written in messages: `printers[1].width`, `cloud.url`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if _BARE_KEY.match(part) else f'"{part}"'
            text += f".{name}" if text else name
    return text
