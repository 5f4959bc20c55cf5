"""Tables in answers: rows shown under their header, a table's row count, the rows holding an asked date.

A row is a unit (verbatim document text); its header travels with it and is only ever shown as a table's
header line, never inside a quote.
"""

from __future__ import annotations

import re

from rag.evidence import Evidence
from rag.question import Ask
from rag.retrieve import UnitIndex
from rag.types import Chunk, Unit
from rag.units import table_header

Rows = list[tuple[Unit, Chunk]]


def as_table(header: str, *rows: str) -> str:
    """Tab-separated rows under their header, as a small Markdown table ("｜"-joined when the widths differ)."""
    cells = [h.strip() for h in header.split("\t")] if header else []
    values = [[v.strip() for v in row.split("\t")] for row in rows]
    if not cells or any(len(cells) != len(v) for v in values):
        return "\n".join("｜".join(v) for v in values)
    return "\n".join(["| " + " | ".join(cells) + " |", "|" + "---|" * len(cells)] + ["| " + " | ".join(v) + " |" for v in values])


def table_rows(units: UnitIndex, row: Evidence) -> Rows:
    """Every row of the table a row belongs to (a table may span several chunks under one header)."""
    header = table_header(row.chunk)
    return [
        (units.units[i], c) for c in units.chunk_of.values()
        if c.doc_id == row.chunk.doc_id and c.kind == "table" and table_header(c) == header
        for i in units.positions.get(c.id, []) if units.units[i].kind == "row"
    ]


def rows_dated_alike(units: UnitIndex, best: Evidence, ask: Ask) -> Rows:
    """A list question landing on a table row that holds the asked date ("2021年11月获批的…有哪几个"): every row
    of the table holding it, when there are several."""
    if best.unit.kind != "row" or not ask.years:
        return []
    dates = re.findall(r"\d{4}年(?:\d{1,2}月(?:\d{1,2}日)?)?", ask.text) or [f"{y}年" for y in ask.years]
    if not all(d in best.unit.text for d in dates):
        return []
    rows = [(u, c) for u, c in table_rows(units, best) if all(d in u.text for d in dates)]
    return rows if len(rows) >= 2 else []


def table_total(units: UnitIndex, best: Evidence) -> tuple[str, Rows] | None:
    """"一共有多少个" over a numbered table: the number of its last row, citing that row."""
    if best.unit.kind != "row" or not re.match(r"\d+\t", best.unit.text):
        return None
    rows = [(u, c) for u, c in table_rows(units, best) if re.match(r"\d+\t", u.text)]
    last, chunk = max(rows, key=lambda r: int(r[0].text.split("\t")[0]))
    n = last.text.split("\t")[0]
    return f"共{n}个，表中最后一行为：\n{as_table(table_header(chunk), last.text)}", [(last, chunk)]
