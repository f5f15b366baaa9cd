"""The list of a batch invitation: a CSV file or a pasted list, read line by line (scheduler/batch_invitations.py).

Pure: no database. A list too large, without a known column or with too many lines is refused as a whole
(ValidationFailed on `file`); a single bad line is kept with its problem and never sent.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from scheduler import addresses, phones
from scheduler.errors import ValidationFailed
from scheduler.i18n import LANGUAGES

MAX_BYTES: Final = 256 * 1024
MAX_ROWS: Final = 2000
_CUSTOMER_NUMBER = re.compile(r"^[0-9]{3}[A-Z][0-9]{6}$")
# Column names a list may use (English or German), lower case.
COLUMNS: Final = {
    "customer_number": ("customer_number", "kundennummer", "kdnr"), "phone": ("phone", "mobile", "telefon", "handy"),
    "name": ("name",), "language": ("language", "sprache"), "street": ("street", "strasse", "straße"),
    "extra": ("extra", "zusatz"), "postcode": ("postcode", "plz"), "city": ("city", "ort"),
}


class Problem(StrEnum):
    """Why a line is not sent; the staff page says it in the staff member's language."""
    no_identity = "no_identity"            # neither a mobile number nor customer number and name
    phone = "phone"                        # not a mobile number of an allowed country
    customer_number = "customer_number"
    name = "name"
    language = "language"
    address = "address"                    # an address that is incomplete or wrong
    address_needed = "address_needed"      # a letter is needed (no mobile, or mandatory) but no address given
    duplicate = "duplicate"                # the same client twice in one list
    no_time = "no_time"                    # no free time in the window


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    phone: str | None
    customer_number: str | None
    name: str | None
    language: str
    address: addresses.Address | None
    problem: Problem | None = None


def parse_list(text: str, *, countries: Collection[str] = ("DE",)) -> list[Row]:
    """The lines of a CSV file or pasted list (with a header line), each checked on its own.

    The whole list is refused (ValidationFailed on `file`) when it is too large, has no known column or more
    than MAX_ROWS lines; a single bad line only marks that row.
    """
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise ValidationFailed(fields={"file": "too_large"})
    lines = [line for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    if len(lines) < 2:
        raise ValidationFailed(fields={"file": "empty"})
    if len(lines) - 1 > MAX_ROWS:
        raise ValidationFailed(fields={"file": "too_many_rows"})
    delimiter = max((";", ",", "\t"), key=lines[0].count)
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    index = {name: next((header.index(a) for a in aliases if a in header), None) for name, aliases in COLUMNS.items()}
    if index["customer_number"] is None and index["phone"] is None:
        raise ValidationFailed(fields={"file": "no_columns"})
    rows: list[Row] = []
    seen: set[str] = set()
    for number, cells in enumerate(reader, start=2):
        def cell(name: str, cells: list[str] = cells) -> str:
            i = index[name]
            return cells[i].strip()[:200] if i is not None and i < len(cells) else ""
        row = _row(number, cell, countries)
        key = row.customer_number or row.phone
        if row.problem is None and key in seen:
            row = dataclasses.replace(row, problem=Problem.duplicate)
        if key:
            seen.add(key)
        rows.append(row)
    return rows


def _row(line: int, cell: Any, countries: Collection[str]) -> Row:
    name = " ".join(cell("name").split())[:100] or None
    customer = cell("customer_number").replace(" ", "").upper() or None
    language = cell("language").lower() or "de"
    problem: Problem | None = None
    phone = None
    if cell("phone"):
        try:
            phone = phones.normalise(cell("phone"), landline_ok=False, countries=countries)
        except ValidationFailed:
            problem = Problem.phone
    if customer is not None and not _CUSTOMER_NUMBER.match(customer):
        problem = problem or Problem.customer_number
    if language not in LANGUAGES:
        problem = problem or Problem.language
    if phone is None and problem is None and not (customer and name):
        problem = Problem.name if customer else Problem.no_identity
    address = None
    try:
        address = addresses.parse({k: cell(k) for k in ("street", "extra", "postcode", "city")} | {"recipient": ""},
                                  default_recipient=name)
    except ValidationFailed:
        problem = problem or Problem.address
    if phone is None and address is None and problem is None:
        problem = Problem.address_needed
    return Row(line, phone, customer, name, language, address, problem)


