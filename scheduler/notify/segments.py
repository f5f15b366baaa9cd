"""SMS segment counting: GSM 03.38 (7-bit) or UCS-2, as carriers bill it."""

from __future__ import annotations

from typing import Final, Literal, NamedTuple

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 default alphabet, in table order (0x00-0x7F); 0x1B (ESC) is left out because it only
# introduces the extension table.
GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Extension table: each character is sent as ESC + code, so it costs two septets.
GSM_EXTENSION: Final = frozenset("\f^{}\\[~]|€")

SINGLE_LIMIT: Final[dict[Encoding, int]] = {"GSM-7": 160, "UCS-2": 70}
# A concatenated message spends part of each segment on the user data header.
PART_LIMIT: Final[dict[Encoding, int]] = {"GSM-7": 153, "UCS-2": 67}


class SegmentInfo(NamedTuple):
    encoding: Encoding
    units: int
    segments: int


def _unit_costs(text: str) -> tuple[Encoding, list[int]]:
    if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text):
        return "GSM-7", [2 if ch in GSM_EXTENSION else 1 for ch in text]
    # UCS-2 as sent on the wire is UTF-16: characters outside the BMP (emoji) take two code units.
    return "UCS-2", [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def count_segments(text: str) -> SegmentInfo:
    """Return the encoding, the length in septets or UTF-16 code units, and the billed segments."""
    encoding, costs = _unit_costs(text)
    units = sum(costs)
    if units == 0:
        return SegmentInfo(encoding, 0, 0)
    if units <= SINGLE_LIMIT[encoding]:
        return SegmentInfo(encoding, units, 1)
    # Packed greedily: an escape pair or a surrogate pair is never split across two segments,
    # so a long message can need one more segment than ceil(units / part_limit).
    limit = PART_LIMIT[encoding]
    segments, used = 1, 0
    for cost in costs:
        if used + cost > limit:
            segments, used = segments + 1, 0
        used += cost
    return SegmentInfo(encoding, units, segments)
