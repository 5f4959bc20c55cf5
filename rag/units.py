"""Chunks split into units (sentences, headings, list intros and items, table rows): what evidence scoring
ranks and what answers quote. Deterministic, so ingest (which embeds them) and the query path agree."""

from __future__ import annotations

import re

from rag.text import tokens
from rag.types import Chunk, Unit, UnitKind

_SENTENCE = re.compile(r"[^。！？；!?;]+(?:[。！？；!?;]+[”’」』）)]*|$)")
_NOT_HEADING = re.compile(r"[。；！？，,;!?]|^[-•➤▪*\d(（]|\t|^(资料来源|数据来源|单位)|[:：]")
_NUMBERED = re.compile(r"^\d{1,2}\s*(?=[\u4e00-\u9fff])(?![年月日号个家项条])")
_BULLET = re.compile(r"^[-•➤▪*·]\s*")
_ITEM = re.compile(r"^(?:[（(][一二三四五六七八九十\d]+[）)]|[一二三四五六七八九十]+[、是]|\d+[.、．]|[-•➤▪*·])")
_WIDE_CELL = 40  # a row with a cell this long is read cell by cell
_MIN_UNIT = 6  # a shorter piece joins the unit before it (a lone "。" or "；" is not a unit)


def is_heading(line: str) -> bool:
    """A short line with no sentence punctuation: a section title, not a sentence (a contents line keeps its
    number: "05 市场概况")."""
    line = _NUMBERED.sub("", line)
    return 2 <= len(line) <= 30 and not _NOT_HEADING.search(line) and bool(re.search(r"[\u4e00-\u9fff]", line))


def plain(heading: str) -> str:
    """A heading without numbering or spaces, to match one heading written two ways ("05 市场 概况" in the
    contents, "市场概况" above the section)."""
    return re.sub(r"^(?:\d+|[一二三四五六七八九十]+[是、.]|第[一二三四五六七八九十]+[章节])\s*|\s+", "", heading)


def table_header(chunk: Chunk) -> str:
    """The header row a table-row chunk carries in its context ("" for other chunks)."""
    return chunk.context.split("\n", 1)[1] if chunk.kind == "table" and "\n" in chunk.context else ""


def split_units(chunk: Chunk) -> list[Unit]:
    """The units of a chunk in document order, each a verbatim slice of the chunk text."""
    out: list[Unit] = []
    for para, line in enumerate(re.finditer(r"[^\n]+", chunk.text)):
        text = line.group(0)
        if "\t" in text:
            cells = text.split("\t")
            if table_header(chunk) and len(cells) >= 3 and max(len(c) for c in cells) > _WIDE_CELL:
                # a wide row (a timeline): each cell is a unit of its own, read under its column's header
                pos = line.start()
                for col, cell in enumerate(cells):
                    if len(cell.strip()) >= 2:
                        out.append(_unit(chunk, pos, cell.strip(), "cell", para, col))
                    pos += len(cell) + 1
                continue
            kind: UnitKind = "row" if table_header(chunk) else "header"
            out.append(_unit(chunk, line.start(), text.strip(), kind, para))
            continue
        if is_heading(text.strip()):
            out.append(_unit(chunk, line.start(), text.strip(), "heading", para))
            continue
        pieces: list[tuple[int, str]] = []
        for m in _SENTENCE.finditer(text):
            piece = m.group(0)
            if not piece.strip():
                continue
            if pieces and len(piece.strip()) < _MIN_UNIT:
                start, prev = pieces[-1]
                pieces[-1] = (start, text[start : m.end()])
            else:
                pieces.append((m.start(), piece))
        for i, (start, piece) in enumerate(pieces):
            body = piece.strip()
            bullet = _BULLET.match(body)
            if bullet:
                body = body[bullet.end() :].strip()
            if len(body) < 2:
                continue
            offset = line.start() + start + piece.index(body)
            kind = "intro" if body.endswith(("：", ":")) else "item" if i == 0 and _ITEM.match(text.strip()) else "sentence"
            out.append(_unit(chunk, offset, body, kind, para))
    return out


def _unit(chunk: Chunk, offset: int, text: str, kind: UnitKind, para: int, col: int = -1) -> Unit:
    offset = chunk.text.index(text, offset)
    return Unit(
        id=f"{chunk.id}:{offset}", chunk_id=chunk.id, doc_id=chunk.doc_id, text=text,
        start=chunk.start + offset, end=chunk.start + offset + len(text), kind=kind, para=para, col=col,
    )


def header_of(unit: Unit, chunk: Chunk) -> str:
    """The header a row or cell is read under: the table's header row, or a cell's column header."""
    header = table_header(chunk)
    if unit.kind == "cell":
        cols = header.split("\t")
        return cols[unit.col].strip() if 0 <= unit.col < len(cols) else ""
    return header if unit.kind == "row" else ""


def embed_text(unit: Unit, chunk: Chunk) -> str:
    """What a unit's vector is computed from: where it sits (title, article or section), then its text."""
    where = chunk.context.split("\n", 1)[0]
    header = header_of(unit, chunk)
    return f"{where}\n{header + chr(10) if header else ''}{unit.text}"


def search_tokens(chunks: list[Chunk]) -> dict[str, list[str]]:
    """The BM25 tokens of every chunk (with its heading context) and of every unit, by id.

    Computed at ingest once the lexicon's words are known, stored with the version, and read back on load."""
    cut = {c.id: tokens(c.embed_text()) for c in chunks}
    cut.update((u.id, tokens(u.text)) for c in chunks for u in split_units(c))
    return cut
