"""The one CSV reader and writer: `validate`, `run` and `prepare --from csv` all read CSV here.

Spreadsheets and help desks export CSV with whatever their locale likes: semicolons or tabs,
cp1252 instead of UTF-8, cells that span lines, 10 MB cells. The delimiter and the encoding are
detected, not assumed, and every fault is reported on the physical line where its record starts,
with advice for that fault.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import DataError, DataIssue, data_error

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SNIFF_CHARS = 64_000
BOMS = (  # UTF-32's little-endian mark starts with UTF-16's: test it first
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
WESTERN = "cp1252"  # Excel's "CSV" on Western-European Windows; a superset of Latin-1's printable range
UNREADABLE_FIX = "Re-save it as UTF-8 (in Excel: Save As > 'CSV UTF-8')."


@dataclass
class CsvTable:
    """A CSV file's header and records, each with the physical line its record starts on."""

    path: Path
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]
    delimiter: str = ","
    encoding: str = "utf-8"

    @property
    def read_as(self) -> str | None:
        """One line saying how the file was read, when that differs from comma-separated UTF-8."""
        if self.delimiter == "," and self.encoding in ("utf-8", "utf-8-sig"):
            return None
        return f"{self.path}: read as {DELIMITERS[self.delimiter]}-separated, encoding {self.encoding}"


def read_csv(path: Path) -> CsvTable:
    """The file's header and records; every malformed record is reported (line, what is wrong, fix)."""
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "not found"
        raise data_error(path, None, None, problem, "Pass the CSV file itself.")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise data_error(
            path, None, None, f"cannot be read ({exc.strerror})", "Check its permissions."
        ) from exc
    text, encoding = _decode(path, raw)
    if not text.strip():
        raise data_error(path, None, None, "file is empty", "Export the data again, with its header row.")
    if "\x00" in text:
        raise data_error(
            path,
            text[: text.index("\x00")].count("\n") + 1,
            None,
            "holds NUL bytes, so it is not a text CSV (a spreadsheet workbook renamed to .csv?)",
            UNREADABLE_FIX,
        )
    lines = io.StringIO(text, newline="")  # splits at \n, \r\n and \r only: a cell may hold \x85 or \u2028
    first = lines.readline()
    delimiter = _declared_delimiter(first)
    skipped = 1 if delimiter else 0  # Excel's `sep=;` line before the header
    if delimiter is None:
        lines.seek(0)
        delimiter = _detect_delimiter(text, first)
    # the largest cell cannot outgrow the file, so no cell hits the csv module's 128 KB default limit
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    issues: list[DataIssue] = []
    columns: list[str] = []
    rows: list[tuple[int, dict[str, str]]] = []
    start = skipped + 1
    try:
        for cells in reader:
            line, start = start, skipped + reader.line_num + 1
            if not cells:  # a blank line
                continue
            if not columns:
                columns = _header(path, line, cells)
                continue
            if len(cells) != len(columns):
                issues.append(_ragged(path, line, len(cells), len(columns), delimiter))
                continue
            rows.append((line, {name: cell for name, cell in zip(columns, cells, strict=True) if name}))
    except csv.Error as exc:
        issues.append(_broken_quote(path, start, skipped + reader.line_num, str(exc), delimiter))
    if issues:
        raise DataError(issues)
    if not columns:
        raise data_error(path, 1, None, "has no header row", "Export the CSV with its column names.")
    if not rows:
        raise data_error(path, None, None, "has a header but no rows", "Export the rows too.")
    return CsvTable(path, [c for c in columns if c], rows, delimiter, encoding)


def _decode(path: Path, raw: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM) or a BOM-marked UTF-16/32; else the legacy encoding that fits."""
    for bom, name in BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(name), name  # these codecs drop their own mark
            except UnicodeDecodeError as exc:
                line = raw[: exc.start].count(b"\n") + 1
                raise data_error(
                    path, line, None, f"starts with a {name} mark but is not {name}", UNREADABLE_FIX
                ) from exc
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    if any(ord(c) > 127 for c in raw.decode("utf-8", errors="ignore")):
        # mostly UTF-8 with a few stray bytes: reading it all as a legacy code page would garble the rest
        line = raw[: utf8_error.start].count(b"\n") + 1
        raise data_error(
            path,
            line,
            None,
            f"mixes UTF-8 with bytes that are not UTF-8 (first at byte offset {utf8_error.start})",
            UNREADABLE_FIX,
        )
    import charset_normalizer

    guesses = list(charset_normalizer.from_bytes(raw))
    if not guesses:
        raise data_error(path, None, None, "is neither UTF-8 nor text in a known encoding", UNREADABLE_FIX)
    # short texts fit several code pages equally well (café reads the same in cp1250 and cp1252):
    # among the equally plausible ones, prefer the one most exports use
    plausible = [m for m in guesses if m.chaos <= guesses[0].chaos + 0.05]
    if any(WESTERN in m.could_be_from_charset for m in plausible):
        return raw.decode(WESTERN), WESTERN
    return str(guesses[0]), guesses[0].encoding


def _declared_delimiter(first_line: str) -> str | None:
    """Excel's `sep=;` first line names the delimiter outright."""
    line = first_line.rstrip("\r\n")
    if line.lower().startswith("sep=") and line[4:] in DELIMITERS:
        return line[4:]
    return None


def _detect_delimiter(text: str, header_line: str) -> str:
    """csv.Sniffer's choice when it splits the header line; else the candidate that splits it most."""
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # a cut line would skew the sniffer's counts
    widths = {d: len(next(csv.reader([header_line], delimiter=d), [])) for d in DELIMITERS}
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = ","
    if widths.get(sniffed, 0) > 1:
        return sniffed
    best = max(DELIMITERS, key=widths.__getitem__)  # ties keep the earlier, more common, delimiter
    return best if widths[best] > 1 else ","


def _header(path: Path, line: int, cells: list[str]) -> list[str]:
    columns = [cell.strip() for cell in cells]
    seen: dict[str, int] = {}
    for number, name in enumerate(columns, start=1):
        if name and name in seen:
            raise data_error(
                path,
                line,
                name,
                f"the header names column '{name}' twice (columns {seen[name]} and {number})",
                "Rename one of them, so every column has its own name.",
            )
        seen[name] = number
    if not any(columns):
        raise data_error(
            path, line, None, "the header row has no column names", "Put the column names first."
        )
    return columns


def _ragged(path: Path, line: int, cells: int, columns: int, delimiter: str) -> DataIssue:
    name = DELIMITERS[delimiter]
    if cells > columns:
        return DataIssue(
            str(path),
            line,
            None,
            f"row has {cells} cells but the header has {columns} columns",
            f"A cell holds a {name} ({delimiter!r}) outside quotes: put that cell in double quotes.",
        )
    return DataIssue(
        str(path),
        line,
        None,
        f"row has {cells} cells but the header has {columns} columns",
        f"Add the missing cells (empty ones too, as in a{delimiter}{delimiter}b); a line break inside a "
        "cell must be inside double quotes.",
    )


def _broken_quote(path: Path, start: int, stopped: int, reason: str, delimiter: str) -> DataIssue:
    where = f" (the reader stopped on line {stopped})" if stopped > start else ""
    if "end of data" in reason:
        return DataIssue(
            str(path),
            start,
            None,
            f"a double quote opened in this record is never closed: the file ends inside it{where}",
            'Close the quote; a quote inside a quoted cell is written twice ("").',
        )
    if "expected after" in reason:
        return DataIssue(
            str(path),
            start,
            None,
            f"a quoted cell is followed by text before the next {DELIMITERS[delimiter]}{where}",
            'Put the whole cell in double quotes and write each quote inside it twice (""); '
            "an unclosed quote earlier in the record causes this too.",
        )
    return DataIssue(str(path), start, None, f"is not valid CSV ({reason}){where}", "Fix the quoting there.")


def format_cell(value: Any) -> str:
    """A row value as CSV text that `parse_cell` reads back: lists and objects as JSON, true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def parse_cell(text: str, kind: type) -> Any:
    """A cell as the schema's type where it reads as one; an empty cell is a missing value.

    Anything else stays text, so validation reports it with its line and the expected type.
    """
    if text == "":
        return None
    if kind is bool and text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            return text
    if kind in (list, dict) and text.lstrip().startswith(("[", "{")):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return text
        return value if isinstance(value, kind) else text
    return text


def write_csv(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """UTF-8, comma-separated, every cell quoted where needed; columns in the order rows first use them."""
    rows = list(rows)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([format_cell(row.get(name)) for name in columns] for row in rows)
    atomic.write_text(path, out.getvalue())
