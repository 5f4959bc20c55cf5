"""Chinese-aware cleaning that keeps, for every output character, its offset in the source text."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_PUNCT = r"\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u201c\u201d\u2018\u2019\u2014\u2026"
_WIDE = r"[" + CJK + CJK_PUNCT + r"]"
STRUCTURE = re.compile(
    r"(第[零〇一二三四五六七八九十百千\d]+[编章节条款]|[（(][一二三四五六七八九十\d]+[)）]"
    r"|[一二三四五六七八九十]+[、是]|\d{1,2}[.、．]\D|[-•·➤▪*]\s)"
)
_HEADING_MARK = re.compile(r"第[零〇一二三四五六七八九十百千\d]+[编章节条]$")
_TERMINAL = "。！？；：!?;:"
_MIN_WRAPPED_LINE = 20
_FULLWIDTH = {chr(c): chr(c - 0xFEE0) for c in range(0xFF10, 0xFF1A)}
_FULLWIDTH.update({chr(c): chr(c - 0xFEE0) for c in range(0xFF21, 0xFF3B)})
_FULLWIDTH.update({chr(c): chr(c - 0xFEE0) for c in range(0xFF41, 0xFF5B)})
_FULLWIDTH.update({"％": "%", "\u3000": " ", "\u00a0": " ", "\t": "\t"})
_FULLWIDTH.update({chr(c): " " for c in range(0x2002, 0x200B)})
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ENTITIES = {"&nbsp;": " ", "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'"}
_YEAR = re.compile(r"^\d{4}年$")


@dataclass
class MappedText:
    """Text plus, for each character, the offset of the source character it came from."""

    text: str
    origin: list[int]

    @classmethod
    def of(cls, text: str) -> MappedText:
        return cls(text, list(range(len(text))))

    def __len__(self) -> int:
        return len(self.text)

    def slice(self, start: int, end: int) -> MappedText:
        return MappedText(self.text[start:end], self.origin[start:end])

    def sub(self, pattern: re.Pattern[str] | str, repl: str | Callable[[re.Match[str]], str]) -> MappedText:
        """re.sub that keeps the map: replacement characters point into the match they replace."""
        text, origin, pos = [], [], 0
        for m in re.finditer(pattern, self.text):
            text.append(self.text[pos : m.start()])
            origin.extend(self.origin[pos : m.start()])
            new = repl(m) if callable(repl) else m.expand(repl)
            if new:
                span = self.origin[m.start() : m.end()] or [self._anchor(m.start())]
                if new == m.group(0)[: len(new)]:
                    origin.extend(span[: len(new)])
                else:
                    origin.extend(span[min(i, len(span) - 1)] for i in range(len(new)))
                text.append(new)
            pos = m.end()
        text.append(self.text[pos:])
        origin.extend(self.origin[pos:])
        return MappedText("".join(text), origin)

    def _anchor(self, pos: int) -> int:
        if pos < len(self.origin):
            return self.origin[pos]
        return self.origin[-1] + 1 if self.origin else 0

    @staticmethod
    def join(parts: Iterable[MappedText | tuple[str, int]]) -> MappedText:
        """Concatenate mapped pieces and literal strings anchored at a source offset."""
        text, origin = [], []
        for part in parts:
            if isinstance(part, MappedText):
                text.append(part.text)
                origin.extend(part.origin)
            else:
                text.append(part[0])
                origin.extend([part[1]] * len(part[0]))
        return MappedText("".join(text), origin)

    def lines(self) -> list[MappedText]:
        out, pos = [], 0
        for m in re.finditer("\n", self.text):
            out.append(self.slice(pos, m.start()))
            pos = m.end()
        out.append(self.slice(pos, len(self.text)))
        return out


def clean_text(raw: str) -> MappedText:
    """Clean one document's extracted text (TXT, MD, HTML or one string of PDF pages)."""
    return clean(MappedText.of(raw))


def clean_pages(pages: list[str]) -> tuple[MappedText, list[int]]:
    """Clean PDF pages: drop repeated headers/footers and bare page numbers, then clean the joined text.

    Returns the cleaned text (origins index the pages joined with "\\n") and each page's source start.
    """
    starts, pos = [], 0
    for page in pages:
        starts.append(pos)
        pos += len(page) + 1
    joined = MappedText.of("\n".join(pages))
    drop = _furniture_lines(pages)
    keep = []
    for i, line in enumerate(joined.lines()):
        keep.append(line if i not in drop else MappedText("", []))
    mt = MappedText.join(_interleave(keep, joined))
    return clean(mt), starts


def _interleave(lines: list[MappedText], whole: MappedText) -> list[MappedText | tuple[str, int]]:
    parts: list[MappedText | tuple[str, int]] = []
    for i, line in enumerate(lines):
        if i:
            parts.append(("\n", line.origin[0] - 1 if line.origin else whole._anchor(0)))
        parts.append(line)
    return parts


def _furniture_lines(pages: list[str]) -> set[int]:
    """Line numbers (in the joined text) of page numbers and headers/footers repeated on many pages."""
    def key(line: str) -> str:
        return re.sub(r"\d+", "#", line.strip())

    edges: Counter[str] = Counter()
    page_lines = [p.split("\n") for p in pages]
    for lines in page_lines:
        nonblank = [ln for ln in lines if ln.strip()]
        edges.update({key(ln) for ln in nonblank[:1] + nonblank[-1:] if len(ln.strip()) <= 40})
    repeated = {k for k, n in edges.items() if k and len(pages) >= 3 and n >= max(3, len(pages) * 0.6)}
    drop, base = set(), 0
    for lines in page_lines:
        idx = [i for i, ln in enumerate(lines) if ln.strip()]
        for i in idx[:1] + idx[-1:]:
            line = lines[i].strip()
            bare = re.fullmatch(r"(第\s*)?[-–—]?\s*\d{1,4}\s*[-–—]?(\s*页)?(\s*/\s*\d+)?", line)
            if bare or key(line) in repeated:
                drop.add(base + i)
        base += len(lines)
    return drop


def clean(mt: MappedText) -> MappedText:
    """The cleaning steps, in order; idempotent, and never changes the digits of a number."""
    mt = mt.sub(r"\r\n?", "\n")
    mt = mt.sub(_INVISIBLE, "")
    mt = mt.sub("[" + "".join(_FULLWIDTH) + "]", lambda m: _FULLWIDTH[m.group(0)])
    mt = mt.sub(r"(?<=\d)．(?=\d)", ".")  # "９．６" is a decimal point, not a sentence end
    mt = mt.sub(r"<!--.*?-->", "")
    mt = mt.sub(re.compile(r"^#{1,6}[ ]+", re.M), "")
    mt = mt.sub(r"\*\*([^*\n]+)\*\*", r"\1")
    mt = _tables(mt)
    mt = mt.sub(r"</?[a-zA-Z][^<>\n]*>", " ")
    mt = mt.sub("|".join(_ENTITIES), lambda m: _ENTITIES[m.group(0)])
    mt = mt.sub(r"[ ]{2,}", " ")
    mt = _squeeze_cjk_spaces(mt)
    mt = mt.sub(re.compile(r"^[ ]+|[ ]+$", re.M), "")
    mt = _join_wrapped_lines(mt)
    mt = mt.sub(r"\n{3,}", "\n\n")
    return mt.sub(r"^\s+|\s+$", "")


def _squeeze_cjk_spaces(mt: MappedText) -> MappedText:
    """Remove spaces PDF extraction puts between CJK characters, and between numbers and CJK units."""
    pattern = re.compile(rf"(?<=[{CJK}{CJK_PUNCT}0-9%])[ ]+(?=[{CJK}{CJK_PUNCT}0-9%])")

    def repl(m: re.Match[str]) -> str:
        left, right = mt.text[m.start() - 1], mt.text[m.end()]
        if left.isdigit() and right.isdigit() or left == "%" and right.isdigit():
            return m.group(0)
        if not re.match(_WIDE, left) and not re.match(_WIDE, right):
            return m.group(0)
        line_start = mt.text.rfind("\n", 0, m.start()) + 1
        if _HEADING_MARK.search(mt.text[line_start : m.start()]):
            return " "
        return ""

    return mt.sub(pattern, repl)


def _join_wrapped_lines(mt: MappedText) -> MappedText:
    """Join hard line breaks inside a Chinese sentence, without a space."""
    lines = mt.lines()
    parts: list[MappedText | tuple[str, int]] = []
    current = lines[0]
    for line in lines[1:]:
        if _continues(current.text, line.text):
            current = MappedText.join([current, line])
        else:
            parts += [current, ("\n", current._anchor(len(current)) if current.origin else 0)]
            current = line
    parts.append(current)
    return MappedText.join(parts)


def _continues(prev: str, nxt: str) -> bool:
    if len(prev) < _MIN_WRAPPED_LINE or not nxt or "\t" in prev or "\t" in nxt:
        return False
    last, first = prev[-1], nxt[0]
    if last in _TERMINAL or prev.endswith(("。”", "！”", "？”")):
        return False
    if last.isdigit() and first.isdigit():
        return False
    if not re.match(rf"[{CJK}0-9（(《“]", first) or not re.match(rf"[{CJK}{CJK_PUNCT}0-9%）)]", last):
        return False
    return not STRUCTURE.match(nxt)


def _tables(mt: MappedText) -> MappedText:
    """Tab-separated blocks: strip HTML inside cells; a one-row table becomes header → value lines."""
    lines = mt.lines()
    parts: list[MappedText | tuple[str, int]] = []
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and "\t" in lines[j].text:
            j += 1
        block, sep = (lines[i:j] if j > i else [lines[i]]), "\n"
        if j > i:
            rows = [_cells(line) for line in block]
            if len(rows) == 2 and len(rows[0]) == len(rows[1]) >= 2:
                # one fact per paragraph, so the lines are never joined back together
                block, sep = _one_row_table(rows[0], rows[1]), "\n\n"
            else:
                block = [_tabbed(row) for row in rows]
        for line in block:
            if parts:
                parts.append((sep, line._anchor(0) - 1 if line.origin else 0))
            parts.append(line)
        i = max(j, i + 1)
    return MappedText.join(parts)


def _cells(line: MappedText) -> list[MappedText]:
    cells, pos = [], 0
    for m in re.finditer("\t", line.text + "\t"):
        cell = line.slice(pos, m.start())
        cell = cell.sub(r"</p>\s*<p>", "").sub(r"</?[a-zA-Z][^<>\n]*>", " ").sub(r"\s{2,}", " ")
        cells.append(cell.sub(r"^\s+|\s+$", ""))
        pos = m.end()
    while cells and not cells[-1].text:
        cells.pop()
    return cells


def _tabbed(cells: list[MappedText]) -> MappedText:
    parts: list[MappedText | tuple[str, int]] = []
    for k, cell in enumerate(cells):
        if k:
            parts.append(("\t", cell._anchor(0)))
        parts.append(cell)
    return MappedText.join(parts)


def _one_row_table(header: list[MappedText], row: list[MappedText]) -> list[MappedText]:
    """Each column becomes "header：value"; a header of years becomes one line per dated entry."""
    out = []
    years = all(_YEAR.match(h.text) for h in header)
    for head, cell in zip(header, row, strict=True):
        if years:
            out.extend(_dated_entries(head, cell))
        elif cell.text:
            out.append(MappedText.join([head, ("：", head.origin[-1] if head.origin else 0), cell]))
    return out


def _dated_entries(year: MappedText, cell: MappedText) -> list[MappedText]:
    """"7月 《A》 《B》 9月 《C》" under 2017年 → 2017年7月《A》, 2017年7月《B》, 2017年9月《C》."""
    out, month = [], None
    for m in re.finditer(r"(\d{1,2}月)|《[^》]+》", cell.text):
        if m.group(1):
            month = cell.slice(m.start(), m.end())
            continue
        title = cell.slice(m.start(), m.end())
        out.append(MappedText.join([year, *([month] if month else []), title]))
    return out
