"""Structure-aware chunking: laws by chapter and article, the report by section, tables row by row."""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass

from ingest.clean import MappedText
from rag.lexicon import dictionary_tag
from rag.text import cn_to_int
from rag.types import Chunk, DocumentInfo
from rag.units import is_heading

_ARTICLE = re.compile(r"^(第([零〇一二三四五六七八九十百千\d]+)条)[ \u3000]?")
_CHAPTER = re.compile(r"^第[零〇一二三四五六七八九十百千\d]+[编章节]\S*(?: \S+)?$")
_SENTENCE = re.compile(r"[^。！？；!?;\n]*(?:[。！？；!?;]+[”’」』）)]*|\n+|$)|(?<=\S)\.(?=\s)")
_ENUM_HEADING = re.compile(r"^[一二三四五六七八九十]+是")


@dataclass
class Piece:
    """A span of the cleaned document with the heading context it belongs to."""

    start: int
    end: int
    chapter: str = ""
    article: str = ""
    section: str = ""
    part: str = ""  # the report's numbered part, embedded as context but not shown as the section
    header: str = ""  # table header row, repeated in the context of every row chunk
    kind: str = "text"
    group: int = 0  # pieces of different groups never share a chunk


class Chunker:
    """Split one cleaned document into chunks that follow its structure."""

    def __init__(self, chunk_size: int = 480, chunk_min: int = 120) -> None:
        if chunk_min >= chunk_size:
            raise ValueError(f"chunk_min ({chunk_min}) must be < chunk_size ({chunk_size})")
        self.size = chunk_size
        self.min = chunk_min

    def chunk(self, doc: DocumentInfo, text: MappedText, page_starts: list[int] | None = None) -> list[Chunk]:
        """Chunks in document order; `page_starts` are source offsets where each PDF page begins."""
        body = text.text
        articles = sum(1 for line in body.split("\n") if _ARTICLE.match(line))
        pieces = self._law(body) if articles >= 3 else self._sections(body)
        chunks: list[Chunk] = []
        for piece in self._pack(body, pieces):
            span = body[piece.start : piece.end]
            src = text.origin[piece.start : piece.end]
            page = page_end = 0
            if page_starts:
                page = bisect.bisect_right(page_starts, src[0])
                page_end = bisect.bisect_right(page_starts, src[-1])
            context = " ".join(
                p for p in (f"《{doc.title}》", piece.part, piece.chapter, piece.article, piece.section) if p
            )
            if piece.header:
                context += "\n" + piece.header
            position = len(chunks)
            digest = hashlib.sha256(f"{doc.id}\x1f{position}\x1f{span}".encode()).hexdigest()[:24]
            chunks.append(
                Chunk(
                    id=digest, doc_id=doc.id, position=position, text=span, context=context,
                    start=piece.start, end=piece.end, src_start=src[0], src_end=src[-1] + 1,
                    page=page, page_end=page_end, chapter=piece.chapter, article=piece.article,
                    article_no=cn_to_int(piece.article[1:-1]) if piece.article else 0,
                    section=piece.section, part=piece.part, kind=piece.kind,  # type: ignore[arg-type]
                )
            )
        return chunks

    # -- laws -------------------------------------------------------------------------------------

    def _law(self, body: str) -> list[Piece]:
        pieces: list[Piece] = []
        chapter, pos, group = "", 0, 0
        for line in body.split("\n"):
            start, end = pos, pos + len(line)
            pos = end + 1
            if not line.strip():
                continue
            m = _ARTICLE.match(line)
            if _CHAPTER.match(line) and not m:
                chapter, group = line.strip(), group + 1
                continue
            if m:
                group += 1
                pieces.append(Piece(start, end, chapter=chapter, article=m.group(1), kind="article", group=group))
            elif pieces and pieces[-1].article:
                pieces.append(Piece(start, end, chapter=chapter, article=pieces[-1].article, kind="article", group=group))
            else:
                pieces.append(Piece(start, end, section="题注" if not chapter else chapter, group=group))
        return pieces

    # -- the report and other prose ----------------------------------------------------------------

    def _sections(self, body: str) -> list[Piece]:
        pieces: list[Piece] = []
        part = major = place = minor = ""
        pending_part = False
        group = 0
        for start, end in _paragraphs(body):
            para = body[start:end]
            if re.fullmatch(r"\d{2}", para):
                pending_part = True
                continue
            if "\t" in para:
                group += 1
                rows = [(start + m.start(), start + m.end()) for m in re.finditer(r"[^\n]+", para)]
                header = body[rows[0][0] : rows[0][1]]
                section = _path(major, place, minor)
                pieces.append(Piece(rows[0][0], rows[0][1], section=section, part=_not(part, major), kind="table", group=group))
                for a, b in rows[1:]:
                    pieces.append(Piece(a, b, section=section, part=_not(part, major), header=header, kind="table", group=group))
                group += 1
                continue
            if is_heading(para):
                if pending_part:
                    part, major, place, minor, group = para, para, "", "", group + 1
                elif len(para) >= 8 or _ENUM_HEADING.match(para) or "——" in para:
                    major, place, minor, group = para, "", "", group + 1
                elif len(para) <= 4 and dictionary_tag(para) == "ns":  # a place sub-heading (北京, 上海)
                    place, minor, group = para, "", group + 1
                else:
                    minor = para
                pending_part = False
                pieces.append(Piece(start, end, section=_path(major, place, minor), part=_not(part, major), group=group))
                continue
            pending_part = False
            pieces.append(Piece(start, end, section=_path(major, place, minor), part=_not(part, major), group=group))
        return pieces

    # -- packing pieces into chunks -----------------------------------------------------------------

    def _pack(self, body: str, pieces: list[Piece]) -> list[Piece]:
        """Merge consecutive pieces of a group up to the size; split long ones at sentence ends."""
        out: list[Piece] = []
        for piece in pieces:
            for part in self._split(body, piece):
                last = out[-1] if out else None
                if last is not None and last.group == part.group and part.end - last.start <= self.size:
                    last.end = part.end
                elif last is not None and part.kind != "article" and _only_headings(body[last.start : last.end]):
                    # a heading with nothing under it belongs to what follows
                    out[-1] = Piece(**{**part.__dict__, "start": last.start})
                else:
                    out.append(part)
        return out

    def _split(self, body: str, piece: Piece) -> list[Piece]:
        if piece.end - piece.start <= self.size:
            return [piece]
        parts, start = [], piece.start
        for sentence_end in self._cuts(body, piece.start, piece.end):
            if sentence_end - start >= self.size * 0.6 or sentence_end == piece.end:
                parts.append(Piece(**{**piece.__dict__, "start": start, "end": sentence_end}))
                start = sentence_end
        if start < piece.end:
            parts.append(Piece(**{**piece.__dict__, "start": start, "end": piece.end}))
        return parts

    def _cuts(self, body: str, start: int, end: int) -> list[int]:
        """Sentence ends inside [start, end); an over-long sentence is cut at a comma, never in a number."""
        cuts, pos = [], start
        for m in _SENTENCE.finditer(body, start, end):
            if m.end() <= pos:
                continue
            while m.end() - pos > self.size:
                cut = _safe_cut(body, pos, min(pos + self.size, m.end()))
                cuts.append(cut)
                pos = cut
            cuts.append(m.end())
            pos = m.end()
        return sorted(set(c for c in cuts if start < c <= end))


def _safe_cut(body: str, start: int, limit: int) -> int:
    """The last comma before `limit`, else the last position not inside a number."""
    comma = max(body.rfind(c, start, limit) for c in "，、,")
    if comma > start + 10:
        return comma + 1
    cut = limit
    while cut > start + 1 and re.match(r"[\d.%,]", body[cut - 1]) and re.match(r"[\d.%,年月日亿万元]", body[cut]):
        cut -= 1
    return cut


def _paragraphs(body: str) -> list[tuple[int, int]]:
    """Blank-line separated blocks; a block of lines of table rows stays one block."""
    out = []
    for m in re.finditer(r"(?:[^\n]+\n?)+", body):
        block_start, block_end = m.start(), m.end() - (1 if m.group(0).endswith("\n") else 0)
        lines = [(block_start + lm.start(), block_start + lm.end()) for lm in re.finditer(r"[^\n]+", m.group(0))]
        if any("\t" in body[a:b] for a, b in lines):
            out.append((block_start, block_end))
        else:
            out.extend(lines)
    return out


def _only_headings(span: str) -> bool:
    return all(is_heading(p) or re.fullmatch(r"\d{2}", p) for p in re.split(r"\n+", span) if p)


def _not(part: str, major: str) -> str:
    return "" if part == major else part


def _path(*parts: str) -> str:
    return " > ".join(p for p in parts if p)
