"""Text cells that are safe to open in Excel and WPS (CSV/formula injection).

A cell whose text starts with = + - @, a tab or a carriage return is read as a formula by
Excel and WPS; `=HYPERLINK(...)` in a restaurant name would become a live link in the back
office's spreadsheet. OWASP's advice is to prefix such a cell with a single quote, which the
spreadsheet shows as text.

Only text cells go through `csv_text`: numbers, dates and yes/no words are written by the
program itself and must stay numbers (a quoted price would no longer sum in Excel).

The catalogue re-imports its own export, so the prefix must come off again without loss: on
import one leading quote is removed when the next character is a formula start or another
quote, and export adds a quote to any text that import would otherwise change ("'=x" is
written "''=x"). Therefore `csv_text_read(csv_text(s)) == s` for every s, and an ordinary
"'abc" is written and read as it is.
"""

FORMULA_STARTS = frozenset("=+-@\t\r")
QUOTE = "'"
_QUOTED_STARTS = FORMULA_STARTS | {QUOTE}


def csv_text(value) -> str:
    """The text of a cell, with a quote in front when a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    return QUOTE + text if text[:1] in FORMULA_STARTS or csv_text_read(text) != text else text


def csv_text_read(cell: str) -> str:
    """Undo `csv_text` on a cell read back from an exported file."""
    if cell[:1] == QUOTE and cell[1:2] in _QUOTED_STARTS:
        return cell[1:]
    return cell
