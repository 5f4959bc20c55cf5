"""Read a corpus file (PDF, TXT, MD, HTML, DOCX) into page texts, or say plainly why it cannot be read."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

from rag.errors import UnreadableDocument

log = logging.getLogger(__name__)
SUPPORTED = {".pdf", ".txt", ".md", ".markdown", ".html", ".htm", ".docx"}


@dataclass(frozen=True)
class RawDocument:
    """Extracted text of one file: one string per page (a single page for formats without pages)."""

    path: Path
    pages: list[str]
    sha256: str
    paged: bool


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load(path: Path, max_bytes: int, max_pages: int) -> RawDocument:
    """Load one file; raise UnreadableDocument naming the problem."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise UnreadableDocument(f"{path.name}: unsupported file type '{suffix}' (use PDF, TXT, MD, HTML or DOCX)")
    size = path.stat().st_size
    if size == 0:
        raise UnreadableDocument(f"{path.name}: the file is empty")
    if size > max_bytes:
        raise UnreadableDocument(f"{path.name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.1f} MB limit")
    data = path.read_bytes()
    digest = file_hash(data)
    if suffix == ".pdf":
        pages, paged = _pdf(path.name, data, max_pages), True
    elif suffix == ".docx":
        pages, paged = [_docx(path.name, data)], False
    else:
        text = _decode(path.name, data)
        pages, paged = [_html_text(text) if suffix in {".html", ".htm"} else text], False
    if not any(re.search(r"\w", p) for p in pages):
        raise UnreadableDocument(f"{path.name}: no extractable text (a scanned PDF or an empty document?)")
    return RawDocument(path, pages, digest, paged)


def _pdf(name: str, data: bytes, max_pages: int) -> list[str]:
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise UnreadableDocument(f"{name}: not a PDF file (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument(f"{name}: the PDF is encrypted with a password")
        count = len(reader.pages)
        if count > max_pages:
            raise UnreadableDocument(f"{name}: {count} pages is over the {max_pages}-page limit")
        return [page.extract_text() or "" for page in reader.pages]
    except UnreadableDocument:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        if "encrypt" in str(exc).lower() or "decrypt" in str(exc).lower():
            raise UnreadableDocument(f"{name}: the PDF is encrypted and cannot be read") from exc
        raise UnreadableDocument(f"{name}: corrupt or truncated PDF ({type(exc).__name__})") from exc


def _decode(name: str, data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030; binary content is refused."""
    sample = data[:65536]
    if b"\x00" in sample or sum(b < 9 or 13 < b < 32 for b in sample) > len(sample) * 0.01:
        raise UnreadableDocument(f"{name}: binary content, not text")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableDocument(f"{name}: not valid UTF-8 or GB18030 text")


class _TextExtractor(HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")
        elif tag in {"td", "th"}:
            self.parts.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html)
    return re.sub(r"\n[\t ]+", "\n", "".join(parser.parts))


def _docx(name: str, data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            xml = zf.read("word/document.xml").decode("utf-8")
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
        raise UnreadableDocument(f"{name}: corrupt DOCX ({type(exc).__name__})") from exc
    paragraphs = re.findall(r"<w:p[ >].*?</w:p>", xml, flags=re.S)
    texts = ["".join(re.findall(r"<w:t(?: [^>]*)?>([^<]*)</w:t>", p)) for p in paragraphs]
    return "\n\n".join(t for t in texts if t.strip())
