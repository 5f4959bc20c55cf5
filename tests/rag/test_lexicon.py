"""The lexicon is derived from the corpus: which words are places, which lines are headings."""

from __future__ import annotations

from rag.lexicon import build


def test_places_are_confirmed_by_how_the_corpus_writes_them() -> None:
    text = "杭州市的企业增长很快。英国、韩国、法国、日本等国家竞争激烈。许多留学生回国创业，表达爱国之情。"
    places = set(build([], {"d": text}, []).places)
    assert {"杭州市", "英国", "韩国", "日本"} <= places  # a place-shaped name, and names listed three together
    assert not {"回国", "爱国"} & places  # jieba's dictionary calls them places too; the corpus never lists them so
