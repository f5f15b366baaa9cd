import pytest

from scheduler.notify.segments import GSM_BASIC, GSM_EXTENSION, SegmentInfo, count_segments


def test_alphabet_tables_have_gsm_sizes() -> None:
    assert len(GSM_BASIC) == 127  # 128 codes minus ESC
    assert len(GSM_EXTENSION) == 10
    assert not GSM_BASIC & GSM_EXTENSION


def test_german_with_umlauts_is_gsm() -> None:
    text = "Ihr Termin am Dienstag: Größe Übergabe, Äpfel, Öl, ß. Bitte Ausweis mitbringen!"
    info = count_segments(text)
    assert info == SegmentInfo("GSM-7", len(text), 1)


@pytest.mark.parametrize("ch", list("äöüÄÖÜß"))
def test_each_german_letter_is_one_septet(ch: str) -> None:
    assert count_segments(ch) == SegmentInfo("GSM-7", 1, 1)


def test_euro_and_brackets_cost_two_septets() -> None:
    assert count_segments("5 €") == SegmentInfo("GSM-7", 4, 1)
    assert count_segments("[x]{y}|~^\\") == SegmentInfo("GSM-7", 8 * 2 + 2, 1)


def test_letters_outside_gsm_switch_to_ucs2() -> None:
    assert count_segments("Straße ç").encoding == "UCS-2"  # only capital Ç is in GSM 03.38


@pytest.mark.parametrize(
    "text",
    [
        "Ваш запис підтверджено на вівторок о 10:00.",  # Ukrainian
        "تم تأكيد موعدك يوم الثلاثاء الساعة 10:00",  # Arabic
    ],
)
def test_cyrillic_and_arabic_are_ucs2(text: str) -> None:
    info = count_segments(text)
    assert info.encoding == "UCS-2"
    assert info.units == len(text)
    assert info.segments == 1


def test_ucs2_costs_more_segments_than_the_same_length_in_gsm() -> None:
    assert count_segments("a" * 100).segments == 1
    assert count_segments("ї" * 100).segments == 2


@pytest.mark.parametrize(
    ("length", "segments"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)]
)
def test_gsm_boundaries(length: int, segments: int) -> None:
    assert count_segments("a" * length) == SegmentInfo("GSM-7", length, segments)


@pytest.mark.parametrize(("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_boundaries(length: int, segments: int) -> None:
    assert count_segments("д" * length) == SegmentInfo("UCS-2", length, segments)


def test_extension_characters_count_towards_the_160_limit() -> None:
    assert count_segments("a" * 158 + "€") == SegmentInfo("GSM-7", 160, 1)
    assert count_segments("a" * 159 + "€") == SegmentInfo("GSM-7", 161, 2)


def test_emoji_count_two_utf16_units() -> None:
    assert count_segments("👍") == SegmentInfo("UCS-2", 2, 1)
    assert count_segments("a" * 68 + "👍") == SegmentInfo("UCS-2", 70, 1)
    assert count_segments("a" * 69 + "👍") == SegmentInfo("UCS-2", 71, 2)


def test_escape_pair_is_not_split_across_segments() -> None:
    # 306 septets fit 2 x 153 arithmetically, but the euro would straddle the boundary.
    text = "a" * 152 + "€" + "a" * 152
    assert count_segments(text) == SegmentInfo("GSM-7", 306, 3)


def test_surrogate_pair_is_not_split_across_segments() -> None:
    text = "д" * 66 + "👍" + "д" * 66
    assert count_segments(text) == SegmentInfo("UCS-2", 134, 3)


def test_empty_text_has_no_segments() -> None:
    assert count_segments("") == SegmentInfo("GSM-7", 0, 0)


def test_line_breaks_are_gsm() -> None:
    assert count_segments("Zeile 1\nZeile 2\r\n") == SegmentInfo("GSM-7", 17, 1)
