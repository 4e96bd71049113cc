"""What every section of the configuration shares: strictness, and cross-field errors."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

from edge.config.locate import KeyPath

CROSS_FIELD_ERROR = "config_cross_field"
HTTP_URL = re.compile(r"^https?://[^\s/]+\S*$")


def cross_field_error(problems: list[tuple[KeyPath, str]]) -> PydanticCustomError:
    """One validation error carrying several cross-field problems, each at its own key path."""
    summary = "; ".join(message for _, message in problems)
    return PydanticCustomError(
        CROSS_FIELD_ERROR, "{summary}", {"summary": summary, "problems": problems}
    )


class Section(BaseModel):
    """A table of the file."""

    # Unknown keys are an error (CONTRACT §1); TOML types are taken as they are, never coerced.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
