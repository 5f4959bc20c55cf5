"""Document metadata: the shipped manifest is complete; a new document describes itself."""

from __future__ import annotations

from ingest.manifest import guess_info, read_manifest
from tests.conftest import CORPUS


def test_every_corpus_file_has_a_complete_manifest_entry() -> None:
    manifest = read_manifest(CORPUS)
    files = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.suffix in {".md", ".txt"} and p.name != "SOURCES.md"}
    assert set(manifest) == files and len(files) == 11
    for info in manifest.values():
        assert info.id and info.title and info.type in {"report", "law", "regulation", "rules"} and info.issuer and info.level
        assert info.adopted[:4].isdigit()


def test_a_document_without_an_entry_gets_metadata_from_its_text() -> None:
    text = "# 杭州市人工智能产业促进条例\n\n2023年3月1日 杭州市第十四届人民代表大会常务委员会第十次会议通过\n\n第一条 ……\n\n第六十条 本条例自2023年7月1日起施行。"
    info = guess_info("uploads/hz-ai.md", text)
    assert (info.id, info.title, info.type, info.level) == ("hz-ai", "杭州市人工智能产业促进条例", "regulation", "city")
    assert (info.adopted, info.in_force) == ("2023-03-01", "2023-07-01")
    law = guess_info("x.md", "中华人民共和国示例法\n\n第一条 本法自2030年1月1日起施行。")
    assert (law.type, law.level, law.aliases) == ("law", "national", ["示例法"])
