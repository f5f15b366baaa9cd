"""The delivery evidence of an invitation as a PDF (fpdf2): header, the notice sent, the timeline table.

DejaVu Sans (Debian's fonts-dejavu-core) covers the translated notices; without it the PDF falls back to
Helvetica, which holds Latin-1 only, so other characters are replaced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from fpdf import FPDF

from scheduler.i18n import N_, translate
from scheduler.notice_templates import RenderedNotice

FONT: Final = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_BOLD: Final = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

TITLE: Final = N_("Delivery evidence of invitation %(ref)s")
PRODUCED: Final = N_("Office: %(site)s · produced %(when)s · entries are never changed; corrections are new entries")
NOTICE_SENT: Final = N_("Notice sent (template %(template)s, version %(version)s)")
HEADINGS: Final = (N_("When"), N_("What"), N_("Channel"), N_("By"), N_("Details"))
NO_ENTRIES: Final = N_("No entries yet.")


class _Pdf(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.unicode = FONT.is_file() and FONT_BOLD.is_file()
        if self.unicode:
            self.add_font("evidence", "", str(FONT))
            self.add_font("evidence", "B", str(FONT_BOLD))
        self.family = "evidence" if self.unicode else "helvetica"
        self.set_margins(18, 15, 18)
        self.set_auto_page_break(True, margin=15)

    def clean(self, text: str) -> str:
        """The text as the font can draw it."""
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")


def render(*, lang: str, site_name: str, reference: str, rows: Sequence[Mapping[str, Any]],
           notice: RenderedNotice | None, notice_name: str, created: str) -> bytes:
    """The PDF bytes of one invitation's evidence (texts in the staff member's language, the notice as sent)."""
    pdf = _Pdf()
    pdf.add_page()
    pdf.set_font(pdf.family, "B", 14)
    pdf.multi_cell(0, 7, pdf.clean(translate(lang, TITLE, ref=reference)), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family, "", 8)
    pdf.multi_cell(0, 4.5, pdf.clean(translate(lang, PRODUCED, site=site_name, when=created)),
                   new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font(pdf.family, "", 8.5)
    if rows:
        with pdf.table(col_widths=(26, 44, 23, 26, 55), text_align="LEFT", line_height=4.2, padding=1) as table:
            heading = table.row()
            for title in HEADINGS:
                heading.cell(pdf.clean(translate(lang, title)))
            for row in rows:
                cells = table.row()
                for key in ("when", "what", "channel", "who", "detail"):
                    cells.cell(pdf.clean(str(row.get(key, ""))))
    else:
        pdf.multi_cell(0, 5, pdf.clean(translate(lang, NO_ENTRIES)), new_x="LMARGIN", new_y="NEXT")
    if notice is not None:
        pdf.ln(4)
        pdf.set_font(pdf.family, "B", 10)
        pdf.multi_cell(0, 5, pdf.clean(translate(lang, NOTICE_SENT, template=notice_name,
                                                 version=notice.version)), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(pdf.family, "", 8.5)
        pdf.multi_cell(0, 4.2, pdf.clean(notice.german), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
