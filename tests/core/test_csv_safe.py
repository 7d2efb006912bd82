import csv
import io

import pytest

from core.csv_safe import csv_text, csv_text_read

DANGEROUS = ["=HYPERLINK(\"http://x\",\"点我\")", "+86 138 0013 8000", "-2+3", "@SUM(A1:A2)", "\tcmd", "\r=1+1"]
HARMLESS = ["冻虾仁", "1kg/袋", "", "a=b", "海丰-水产", "12.50"]
QUOTED_ALREADY = ["'", "'abc", "'=1+1", "''=1", "'-5", "'\t"]


@pytest.mark.parametrize("text", DANGEROUS)
def test_a_cell_a_spreadsheet_would_run_gets_a_quote_in_front(text):
    assert csv_text(text) == "'" + text


@pytest.mark.parametrize("text", HARMLESS)
def test_harmless_text_is_written_as_it_is(text):
    assert csv_text(text) == text


def test_none_is_an_empty_cell():
    assert csv_text(None) == ""


@pytest.mark.parametrize("text", DANGEROUS + HARMLESS + QUOTED_ALREADY)
def test_reading_back_what_was_written_is_lossless_through_a_real_csv_file(text):
    buffer = io.StringIO()
    csv.writer(buffer).writerow([csv_text(text)])
    [cell] = next(csv.reader(io.StringIO(buffer.getvalue(), newline="")))

    assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r")
    assert csv_text_read(cell) == text


@pytest.mark.parametrize("typed", ["'abc", "'", "'12"])
def test_a_quote_before_ordinary_text_is_written_and_read_as_it_is(typed):
    assert csv_text(typed) == typed
    assert csv_text_read(typed) == typed


@pytest.mark.parametrize("text, written", [("'=1+1", "''=1+1"), ("''", "'" * 3), ("'\t", "''\t")])
def test_a_quote_before_a_formula_start_gets_one_more_so_reading_keeps_it(text, written):
    assert csv_text(text) == written
