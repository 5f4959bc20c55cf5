"""Loading: real PDFs page by page; every bad file gets an error that names it and the problem."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from ingest.load import load
from rag.errors import UnreadableDocument
from tests.conftest import PDFS

MB = 1_000_000


def test_pdf_pages_keep_their_numbers() -> None:
    doc = load(PDFS / "2021-data-security-law.pdf", 20 * MB, 100)
    assert doc.paged and len(doc.pages) == 5
    assert "第五十五条" in doc.pages[4] and "第一条" in doc.pages[0]


def _encrypted(tmp_path: Path) -> Path:
    writer = PdfWriter(clone_from=PdfReader(PDFS / "2021-data-security-law.pdf"))
    writer.encrypt(user_password="secret", owner_password="owner")
    path = tmp_path / "locked.pdf"
    with open(path, "wb") as fh:
        writer.write(fh)
    return path


def _bomb(tmp_path: Path) -> Path:
    writer = PdfWriter()
    for _ in range(300):
        writer.add_blank_page(width=200, height=200)
    buf = io.BytesIO()
    writer.write(buf)
    path = tmp_path / "bomb.pdf"
    path.write_bytes(buf.getvalue())
    return path


CASES = {
    "empty.pdf": (lambda p: p.write_bytes(b""), "empty"),
    "truncated.pdf": (lambda p: p.write_bytes((PDFS / "2021-data-security-law.pdf").read_bytes()[:3000]), "corrupt or truncated"),
    "corrupt.pdf": (lambda p: p.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40), "corrupt"),
    "fake.pdf": (lambda p: p.write_bytes(b"just some text, not a pdf"), "not a PDF"),
    "binary.txt": (lambda p: p.write_bytes(bytes(range(256)) * 100), "binary"),
    "latin1.md": (lambda p: p.write_bytes("café \xff\xfe".encode("latin-1") + b"\x81\xff\xfe\x80"), "not valid UTF-8"),
    "blank.txt": (lambda p: p.write_text("   \n\n  "), "no extractable text"),
    "notes.exe": (lambda p: p.write_bytes(b"MZ"), "unsupported file type"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_files_are_named_with_the_reason(tmp_path: Path, name: str) -> None:
    make, reason = CASES[name]
    path = tmp_path / name
    make(path)
    with pytest.raises(UnreadableDocument) as err:
        load(path, 20 * MB, 100)
    assert name in err.value.message and reason in err.value.message


def test_encrypted_pdf(tmp_path: Path) -> None:
    with pytest.raises(UnreadableDocument, match="locked.pdf: the PDF is encrypted"):
        load(_encrypted(tmp_path), 20 * MB, 100)


def test_pdf_bomb_is_refused_by_page_count(tmp_path: Path) -> None:
    with pytest.raises(UnreadableDocument, match="bomb.pdf: 300 pages is over the 100-page limit"):
        load(_bomb(tmp_path), 20 * MB, 100)


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with open(path, "wb") as fh:
        fh.truncate(30 * MB)
    with pytest.raises(UnreadableDocument, match=r"huge.txt: 30.0 MB is over the 1.0 MB limit"):
        load(path, 1 * MB, 100)


def test_gb18030_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "gbk.txt"
    path.write_bytes("第一条 本法自2021年9月1日起施行。".encode("gb18030"))
    assert "本法自2021年9月1日起施行" in load(path, MB, 10).pages[0]


def test_html_and_docx_are_read(tmp_path: Path) -> None:
    import zipfile

    html = tmp_path / "page.html"
    html.write_text("<html><script>alert(1)</script><h1>标题</h1><p>第一条 内容。</p></html>", encoding="utf-8")
    text = load(html, MB, 10).pages[0]
    assert "第一条 内容。" in text and "alert" not in text
    docx = tmp_path / "doc.docx"
    with zipfile.ZipFile(docx, "w") as zf:
        zf.writestr("word/document.xml", '<w:document><w:body><w:p><w:r><w:t>第二条 规定。</w:t></w:r></w:p></w:body></w:document>')
    assert "第二条 规定。" in load(docx, MB, 10).pages[0]
