"""Card data in the full answer's `rep` field: masked before anything keeps or shows it.

The layout of `rep` is not published. Some terminals put the card number first (pyTeliumManager
reads it so), so any run of 12 to 19 digits (or already-masked digits), spaced or not, is taken
for a card number and masked to its first 6 and last 4. The authorisation code is the first
other word of exactly 6 letters and digits, with a digit: a best effort, to be checked against
a real terminal's answers; None when nothing fits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PAN = re.compile(
    r"(?<![0-9*Xx])(?:[0-9][0-9*Xx]{11,18}|[0-9]{4}(?:[ -][0-9*Xx]{4}){2,3}(?:[ -][0-9]{1,3})?)"
    r"(?![0-9*Xx])"
)
_AUTH = re.compile(r"[A-Z0-9]{6}")


@dataclass(frozen=True, slots=True)
class CardDetails:
    """What `rep` may safely give: the masked card number and the authorisation code."""

    rep: str  # rep with every card number masked
    masked_pan: str | None
    authorisation_code: str | None


def mask_pan(number: str) -> str:
    """`497010******0003` from a card number (spaces and dashes dropped)."""
    digits = re.sub(r"[ -]", "", number)
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def read_rep(rep: str) -> CardDetails:
    """Mask the card numbers in `rep` (keeping its width) and pick out what is kept."""
    pans: list[str] = []

    def masked(match: re.Match[str]) -> str:
        pan = mask_pan(match.group(0))
        pans.append(pan)
        return pan.ljust(len(match.group(0)))

    safe = _PAN.sub(masked, rep)
    auth = next(
        (
            word
            for word in safe.split()
            if _AUTH.fullmatch(word) and any(c.isdigit() for c in word) and "*" not in word
        ),
        None,
    )
    return CardDetails(safe, pans[0] if pans else None, auth)
