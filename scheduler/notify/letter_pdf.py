"""Invitation letters as one PDF per print batch (fpdf2), DIN 5008 form B.

Form B: the address window field starts 45 mm from the top and 20 mm from the left edge and is 85 x 45 mm:
5 mm for the return-address line, 12.7 mm for notes, 27.3 mm for the address. Fold marks at 105 and 210 mm,
the hole mark at 148.5 mm. Page one is German (binding); a second page in the client's language follows when
the invitation's notice template has a translation (marked as help). Each letter names the appointment (date,
time, place, caseworker, concern, what to bring), the notice, the reference code, and a QR code with the
status link printed beside it.

The font is DejaVu Sans (Debian's fonts-dejavu-core, installed by scripts/install-letter-fonts): it covers
Latin with Turkish letters, Cyrillic, Arabic and Persian; Arabic script is shaped and set right to left with
HarfBuzz (uharfbuzz). Without the font the letters fall back to Helvetica (Latin-1 only) and leave out the
second page of a language Helvetica cannot write, so a letter is never garbled.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import asyncpg
import qrcode
from babel.dates import format_date, format_time
from fpdf import FPDF
from qrcode.constants import ERROR_CORRECT_M

from scheduler import concerns, letters, notice_templates, sites
from scheduler.i18n import N_, RIGHT_TO_LEFT, babel_locale, normalise, translate

FONT_DIR: Final = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES: Final = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
LATIN_1_LANGUAGES: Final = frozenset({"de", "de-simple", "en"})

# DIN 5008 form B, in mm.
WINDOW_X, WINDOW_Y, WINDOW_W, WINDOW_H = 20.0, 45.0, 85.0, 45.0
RETURN_LINE_H, NOTES_H = 5.0, 12.7
INFO_X, INFO_Y = 125.0, 50.0
BODY_Y: Final = 98.46
FOLD_MARKS: Final = (105.0, 210.0)
HOLE_MARK: Final = 148.5
QR_SIZE: Final = 32.0

_SOFT_BREAK: Final = re.compile(r"(?<=[^\n.:!?;])\n(?=[^\n])")
PLEASE_BRING: Final = N_("Please bring")
STATUS_LINK: Final = N_("Your status link")
NOTICE: Final = N_("Notice")
LETTER_DATE: Final = N_("Date")
MODES: Final = {"in_person": N_("In person at the Jobcenter"), "phone": N_("By phone"), "video": N_("By video call")}


@dataclass(frozen=True, slots=True)
class LetterContent:
    """Everything one letter prints; made from the database by `contents`, rendered by `render`."""

    reference: str
    status_url: str
    language: str
    kind: str                     # mandatory | voluntary
    address_lines: tuple[str, ...]
    start: datetime | None
    mode: str | None
    room: str | None
    caseworker: str
    concern_labels: Mapping[str, str]
    bring: str
    notice_german: str
    notice_translated: str | None


@dataclass(frozen=True, slots=True)
class Sender:
    name: str
    address: str
    timezone: str
    printed_on: date


def status_url(site: sites.Site, link_token: str | None) -> str:
    """The client's status link (the same as in SMS; pass a `sites.resolved` site); empty when the case has none."""
    return f"{site.public_base_url.rstrip('/')}/r/{link_token}" if link_token else ""


async def contents(conn: asyncpg.Connection, *, site: sites.Site, batch_id: int) -> list[LetterContent]:
    """The letters of a print batch as they will print, with each invitation's notice filled in."""
    found = await letters.batch_letters(conn, site_id=site.id, batch_id=batch_id)
    out = []
    for f in found:
        notice = await notice_templates.notice_for_request(conn, f.request_id)
        out.append(LetterContent(
            reference=f.reference, status_url=status_url(site, f.link_token), language=normalise(f.language),
            kind=notice.kind if notice else f.invitation, address_lines=f.address_lines, start=f.start,
            mode=f.mode, room=f.room, caseworker=f.staff_name or "", concern_labels=f.concern_labels,
            bring=f.bring, notice_german=notice.german if notice else (f.notice_text or ""),
            notice_translated=notice.translated if notice else None))
    return out


async def render_batch(conn: asyncpg.Connection, *, site: sites.Site, batch_id: int, today: date) -> bytes:
    """The PDF of one print batch; the drawing runs in a thread so the event loop keeps serving."""
    items = await contents(conn, site=site, batch_id=batch_id)
    sender = Sender(site.name, site.address, site.timezone, today)
    return await asyncio.to_thread(render, items, sender)


def fonts_available() -> bool:
    """Whether the Unicode font for letters is installed."""
    return all((FONT_DIR / name).is_file() for name in FONT_FILES.values())


class _Letters(FPDF):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.unicode = fonts_available()
        if self.unicode:
            for style, name in FONT_FILES.items():
                self.add_font("letter", style, str(FONT_DIR / name))
        self.shaping = False
        self.family = "letter" if self.unicode else "helvetica"
        self.set_margins(25.0, 20.0, 20.0)
        self.set_auto_page_break(True, margin=20.0)

    def shape(self, on: bool) -> None:
        """HarfBuzz shaping (and right-to-left runs) only where a script needs it: it costs far more per line."""
        if self.unicode and on != self.shaping:
            self.set_text_shaping(on)
            self.shaping = on

    def writable(self, text: str) -> str:
        if self.unicode:
            return text
        return text.encode("latin-1", "replace").decode("latin-1")

    def marks(self) -> None:
        self.set_draw_color(120, 120, 120)
        self.set_line_width(0.2)
        for y in FOLD_MARKS:
            self.line(3.0, y, 8.0, y)
        self.line(3.0, HOLE_MARK, 10.0, HOLE_MARK)


def render(items: Sequence[LetterContent], sender: Sender) -> bytes:
    """One PDF with every letter: the German page, then the translated page where the notice has one."""
    pdf = _Letters()
    pdf.set_title("Einladungen")
    pdf.set_creator("jobcenter-scheduler")
    for item in items:
        _page(pdf, item, sender, "de", item.notice_german, translated=False)
        lang = item.language
        if item.notice_translated and lang != "de" and (pdf.unicode or lang in LATIN_1_LANGUAGES):
            _page(pdf, item, sender, lang, item.notice_translated, translated=True)
    return bytes(pdf.output())


def _when(item: LetterContent, lang: str, tz: str) -> str:
    if item.start is None:
        return "—"
    local = item.start.astimezone(ZoneInfo(tz))
    loc = babel_locale(lang)
    return f"{format_date(local, format='full', locale=loc)}, {format_time(local, format='short', locale=loc)}"


def _where(item: LetterContent, lang: str, sender: Sender) -> str:
    mode = translate(lang, MODES.get(item.mode or "in_person", MODES["in_person"]))
    if item.mode in (None, "in_person"):
        room = translate(lang, "Room %(room)s", room=item.room) if item.room else ""
        return ", ".join(p for p in (mode, sender.name, sender.address, room) if p)
    return mode


def _page(pdf: _Letters, item: LetterContent, sender: Sender, lang: str, notice: str, *, translated: bool) -> None:
    pdf.add_page()
    pdf.marks()
    rtl = lang in RIGHT_TO_LEFT
    pdf.shape(rtl)
    align = "R" if rtl else "L"
    w = pdf.writable
    # Letterhead above the window.
    pdf.set_font(pdf.family, "B", 13)
    pdf.set_xy(WINDOW_X, 18.0)
    pdf.cell(0, 7, w(sender.name))
    pdf.set_font(pdf.family, "", 9)
    pdf.set_xy(WINDOW_X, 25.0)
    pdf.cell(0, 5, w(sender.address))
    # Address window (the German page only carries the address; every page gets it so each can be posted).
    pdf.set_font(pdf.family, "", 7)
    pdf.set_xy(WINDOW_X, WINDOW_Y)
    pdf.cell(WINDOW_W, RETURN_LINE_H, w(f"{sender.name} · {sender.address}"), border="B")
    pdf.set_font(pdf.family, "", 10)
    pdf.set_xy(WINDOW_X, WINDOW_Y + RETURN_LINE_H + NOTES_H)
    pdf.multi_cell(WINDOW_W, 4.5, w("\n".join(item.address_lines[:6])), new_x="LEFT", new_y="NEXT")
    # Information block to the right of the window.
    pdf.set_font(pdf.family, "", 9)
    pdf.set_xy(INFO_X, INFO_Y)
    info = [(translate(lang, "Reference code"), item.reference),
            (translate(lang, LETTER_DATE), str(format_date(sender.printed_on, format="medium",
                                                               locale=babel_locale(lang))))]
    for label, value in info:
        pdf.set_x(INFO_X)
        pdf.cell(65, 5, w(f"{label}: {value}"), new_x="LEFT", new_y="NEXT", align=align)
    # Subject and appointment.
    pdf.set_xy(pdf.l_margin, BODY_Y)
    pdf.set_font(pdf.family, "B", 12)
    title = translate(lang, notice_templates.TITLES.get(item.kind, notice_templates.TITLES["voluntary"]))
    pdf.multi_cell(0, 6, w(title), new_x="LMARGIN", new_y="NEXT", align=align)
    if translated:
        pdf.set_font(pdf.family, "", 9)
        pdf.multi_cell(0, 5, w(translate(lang, notice_templates.HELP_MARK)), new_x="LMARGIN", new_y="NEXT",
                       align=align)
    pdf.ln(2)
    rows = [(translate(lang, "When"), _when(item, lang, sender.timezone)),
            (translate(lang, "Where"), _where(item, lang, sender)),
            (translate(lang, "With"), item.caseworker or "—"),
            (translate(lang, "Concern"), concerns.label(item.concern_labels, lang)),
            (translate(lang, PLEASE_BRING), item.bring.strip() or "—")]
    for label, value in rows:
        pdf.set_font(pdf.family, "B", 10)
        pdf.multi_cell(0, 5, w(label), new_x="LMARGIN", new_y="NEXT", align=align)
        pdf.set_font(pdf.family, "", 10)
        _text(pdf, w(value), 5, align)
    pdf.ln(2)
    if notice:
        pdf.set_font(pdf.family, "B", 10)
        pdf.multi_cell(0, 5, w(translate(lang, NOTICE)), new_x="LMARGIN", new_y="NEXT", align=align)
        pdf.set_font(pdf.family, "", 9)
        _text(pdf, w(notice), 4.5, align)
    _qr_block(pdf, item, lang, align)


@functools.lru_cache(maxsize=4)
def _qr(url: str) -> Any:
    """The QR image of a status link (both pages of a letter share it; a fixed mask skips the mask search)."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=2, mask_pattern=2)
    code.add_data(url)
    return code.make_image().get_image()


def _text(pdf: _Letters, text: str, height: float, align: str) -> None:
    """Paragraphs from the left margin to the right one.

    fpdf2's multi_cell measures a line again for every character it adds, so a long paragraph costs quadratic
    time; without shaping, lines are filled word by word here (each word measured once) and set as cells.
    Shaped text (Arabic script) keeps multi_cell, which knows how to break it.
    """
    width = pdf.w - pdf.r_margin - pdf.l_margin
    space = pdf.get_string_width(" ")
    # A template's line breaks inside a sentence (text wrapped in its editor) are spaces; after a full stop,
    # colon or the like they stay, and an empty line stays a paragraph.
    text = _SOFT_BREAK.sub(" ", text)
    for paragraph in text.split("\n"):
        words = paragraph.split()
        widths = [pdf.get_string_width(word) for word in words]
        if pdf.shaping or not words or max(widths) > width:
            pdf.multi_cell(0, height, paragraph, new_x="LMARGIN", new_y="NEXT", align=align)
            continue
        line: list[str] = []
        used = 0.0
        for word, size in zip(words, widths, strict=True):
            if line and used + space + size > width:
                pdf.cell(width, height, " ".join(line), new_x="LMARGIN", new_y="NEXT", align=align)
                line, used = [], 0.0
            used += (space if line else 0.0) + size
            line.append(word)
        pdf.cell(width, height, " ".join(line), new_x="LMARGIN", new_y="NEXT", align=align)


def _qr_block(pdf: _Letters, item: LetterContent, lang: str, align: str) -> None:
    """QR code with the status link and the reference code beside it; a new page when it no longer fits."""
    if not item.status_url:
        return
    if pdf.get_y() + QR_SIZE + 4 > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.ln(3)
    top = pdf.get_y()
    image = _qr(item.status_url)
    pdf.image(image, x=pdf.l_margin, y=top, w=QR_SIZE, h=QR_SIZE)
    w = pdf.writable
    text_x = pdf.l_margin + QR_SIZE + 5
    pdf.set_xy(text_x, top + 2)
    pdf.set_font(pdf.family, "B", 10)
    pdf.multi_cell(0, 5, w(translate(lang, STATUS_LINK)), new_x="LEFT", new_y="NEXT", align=align)
    pdf.set_font(pdf.family, "", 9)
    pdf.multi_cell(0, 5, item.status_url, new_x="LEFT", new_y="NEXT")
    pdf.multi_cell(0, 5, w(translate(lang, "QR code: scan it with your phone to see the status of your request.")),
                   new_x="LEFT", new_y="NEXT", align=align)
    pdf.multi_cell(0, 5, w(f"{translate(lang, 'Reference code')}: {item.reference}"), new_x="LEFT", new_y="NEXT",
                   align=align)
    pdf.set_y(max(pdf.get_y(), top + QR_SIZE))
