"""Chunking follows the structure: articles, report sections, tables; numbers are never cut; ids are stable."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from ingest.chunk import Chunker
from ingest.clean import clean_pages, clean_text
from ingest.manifest import read_manifest
from rag.types import Chunk
from tests.conftest import CORPUS, PDFS

MANIFEST = read_manifest(CORPUS)


def chunks_of(rel: str, size: int = 480) -> list[Chunk]:
    text = clean_text((CORPUS / rel).read_text(encoding="utf-8"))
    return Chunker(size, min(120, size // 4)).chunk(MANIFEST[rel], text)


def test_law_chunks_follow_articles_and_carry_chapter_and_article() -> None:
    chunks = chunks_of("policies/2021-data-security-law.md")
    art21 = [c for c in chunks if c.article == "第二十一条"]
    assert art21 and art21[0].text.startswith("第二十一条 国家建立数据分类分级保护制度")
    assert art21[0].chapter == "第三章 数据安全制度" and art21[0].article_no == 21
    assert all(c.article for c in chunks if c.kind == "article")
    # no chunk mixes two articles
    for c in chunks:
        assert len(re.findall(r"(?m)^第[一二三四五六七八九十百]+条", c.text)) <= 1


def test_the_embedded_text_names_the_law_so_a_bare_article_is_findable() -> None:
    last = [c for c in chunks_of("policies/2021-data-security-law.md") if c.article == "第五十五条"][0]
    assert "数据安全法" not in last.text
    assert last.embed_text().startswith("《中华人民共和国数据安全法》 第七章 附则 第五十五条")


def test_a_long_article_is_split_at_sentence_ends_with_its_heading_repeated() -> None:
    chunks = chunks_of("policies/2021-personal-information-protection-law.md", size=120)
    parts = [c for c in chunks if c.article == "第十三条"]
    assert len(parts) > 1
    for c in parts:
        assert "第十三条" in c.context
        assert c.text[-1] in "。；：！？" or c is parts[-1]


def test_report_chunks_carry_their_section() -> None:
    chunks = chunks_of("ai-industry-report-2022.txt")
    beijing = [c for c in chunks if "1860亿元" in c.text][0]
    assert beijing.section.startswith("代表城市及区域分析——北京")
    assert "代表城市及区域分析——北京" in beijing.embed_text()
    recs = [c for c in chunks if re.match(r"[一二三四五]是", c.text)]
    assert [c.text[:2] for c in recs] == ["一是", "二是", "三是", "四是", "五是"]
    assert all("策略与建议" in c.context for c in recs)
    assert {c.part for c in recs} == {"我国人工智能产业发展策略与建议"}  # the numbered part they sit in, a heading
    assert beijing.part and not any(c.part == c.section for c in chunks)


def test_every_table_row_keeps_its_header() -> None:
    chunks = chunks_of("ai-industry-report-2022.txt")
    rows = [line for c in chunks if c.kind == "table" for line in c.text.split("\n") if re.match(r"\d+\t.*试验区", line)]
    assert len(rows) == 18
    for c in chunks:
        if c.kind == "table" and "试验区" in c.text:
            assert "序号\t试验区名称\t获批时间\t所属地区" in c.embed_text()


def test_year_timeline_entries_are_citable() -> None:
    chunks = chunks_of("ai-industry-report-2022.txt")
    assert any("2021年9月《新一代人工智能伦理规范》" in c.text for c in chunks)


def test_chunks_are_verbatim_spans_within_the_size_and_ids_are_stable() -> None:
    rel = "ai-industry-report-2022.txt"
    text = clean_text((CORPUS / rel).read_text(encoding="utf-8")).text
    first, again = chunks_of(rel), chunks_of(rel)
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first)
    for c in first:
        assert text[c.start : c.end] == c.text
        assert len(c.text) <= 480


@pytest.mark.parametrize("pdf", ["2021-data-security-law.pdf", "2022-shenzhen-ai-industry-promotion-regulation.pdf"])
def test_every_number_of_a_pdf_survives_cleaning_and_chunking(pdf: str) -> None:
    pages = [p.extract_text() for p in PdfReader(PDFS / pdf).pages]
    mt, starts = clean_pages(pages)
    info = MANIFEST[f"policies/{pdf.replace('.pdf', '.md')}"]
    chunks = Chunker().chunk(info, mt, starts)
    raw_numbers = sorted(re.findall(r"\d+", re.sub(r"(?<=\d) (?=\d)", "", "\n".join(pages))))
    chunk_numbers = sorted(n for c in chunks for n in re.findall(r"\d+", c.text))
    assert chunk_numbers == raw_numbers
    assert chunks[-1].page == len(pages) and chunks[0].page == 1
    assert all(1 <= c.page <= c.page_end <= len(pages) for c in chunks)


def test_pdf_page_numbers_point_at_the_right_page() -> None:
    pages = [p.extract_text() for p in PdfReader(PDFS / "2021-data-security-law.pdf").pages]
    mt, starts = clean_pages(pages)
    info = MANIFEST["policies/2021-data-security-law.md"]
    chunks = {c.article: c for c in Chunker().chunk(info, mt, starts)}
    for article, chunk in chunks.items():
        if article:
            first_words = chunk.text[:12].replace(" ", "")
            assert first_words in pages[chunk.page - 1].replace(" ", "").replace("\n", ""), article


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["据统计，", "2020年北京人工智能相关产值规模达1860.5亿元", "，同比增长9.8%", "。", "；", "\n\n", "第一条 ", "人工智能产业"]), max_size=80))
def test_chunks_cover_the_text_and_never_cut_a_number(parts: list[str]) -> None:
    raw = "".join(parts)
    mt = clean_text(raw)
    info = MANIFEST["ai-industry-report-2022.txt"]
    chunks = Chunker(60, 20).chunk(info, mt)
    covered = "".join(mt.text[c.start : c.end] for c in chunks)
    assert re.sub(r"\s", "", covered) == re.sub(r"\s", "", mt.text)
    for c in chunks:
        assert not (c.start > 0 and mt.text[c.start - 1].isdigit() and mt.text[c.start].isdigit())
        assert "1860.5" in c.text or "1860" not in c.text
