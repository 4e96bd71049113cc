"""`[menu]`: the menu read from the POS, and what of it is published per brand."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from edge.config.section import Section

Label = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class MenuConfig(Section):
    """`[menu]`: when the POS menu is read, which items are hidden, which go to which brand."""

    sync_interval_h: float = Field(
        default=6.0, gt=0, le=168, description="Hours between two reads of the POS menu."
    )
    hide_labels: list[Label] = Field(
        default=["Hide from delivery", "Masquer"],
        description="POS labels/tags whose items are never published (case-insensitive).",
    )
    brand_labels: dict[Label, Label] = Field(
        default={},
        description='BRAND = "LABEL": an item carrying LABEL goes only to BRAND\'s menu; '
        "items with no brand label go to every brand.",
    )
    links_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="Extension. The POS links summary covers the orders of this many days.",
    )
    sync_timeout_s: float = Field(
        default=900.0,
        gt=0,
        le=86400,
        description="Extension. Deadline of one whole menu read (every page, every retry).",
    )
    retry_initial_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Extension. First wait after a failed sync; doubled on each failure, "
        "up to the sync interval (at most 1 h).",
    )
