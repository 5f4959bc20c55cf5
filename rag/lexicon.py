"""The corpus's own vocabulary, derived at ingest and stored with the index version: document titles and
aliases, place names (jieba's dictionary tags, confirmed by how the corpus uses them), section headings,
and English spellings (pinyin of the places, plus the general glossary in `rag/data/glossary.json`).

Question reading looks names up here instead of in lists written into the code; the lexicon's hash is part
of the index signature, so an index is always read with the vocabulary it was built with.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from rag.types import Chunk, DocumentInfo
from rag.units import plain

SCHEMA = 2  # bump when the way a lexicon is derived changes; old indexes then ask for a rebuild
GLOSSARY = Path(__file__).resolve().parent / "data" / "glossary.json"
_PLACE_SUFFIX = ("市", "省", "县", "区", "州")


@dataclass
class Lexicon:
    titles: dict[str, list[str]] = field(default_factory=dict)  # document id → title and aliases
    places: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    english: dict[str, str] = field(default_factory=dict)  # lower-case English → Chinese

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Lexicon:
        return cls(**json.loads(text))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def words(self) -> list[str]:
        """Names the tokenizer should keep whole."""
        return [n for names in self.titles.values() for n in names] + self.places


def build(docs: list[DocumentInfo], texts: dict[str, str], chunks: list[Chunk]) -> Lexicon:
    """Derive the lexicon from the documents, their cleaned texts and their chunks."""
    corpus = "\n".join(texts.values())
    tagged = _dictionary_places(corpus)
    confirmed = {w for w in tagged if _used_as_place(w, corpus)} | _listed_places(tagged, corpus)
    while True:  # a tagged word listed beside a confirmed place is one too ("北京、上海、武汉")
        more = {w for w in tagged - confirmed if any(re.search(rf"{p}[、和及与]{w}|{w}[、和及与]{p}", corpus) for p in confirmed)}
        if not more:
            break
        confirmed |= more
    places = sorted(confirmed, key=lambda w: (-len(w), w))
    titles = {n for d in docs for n in (d.title, *d.aliases)}
    headings = sorted({
        part for c in chunks for part in (*c.section.split(" > "), c.part)
        if 2 <= len(part) <= 20 and part != "题注" and "《" not in part and part not in titles
    } | {  # a law's chapter ("第六章 浦东新区数据改革"), when its title says more than a common heading ("附则")
        c.chapter.strip() for c in chunks if c.article and len(plain(c.chapter)) >= 5
    })
    english = dict(glossary())
    for place in places:
        english.setdefault(_pinyin(place), place)
    return Lexicon(
        titles={d.id: [n for n in (d.title, *d.aliases) if n] for d in docs},
        places=places, headings=headings, english=english,
    )


@lru_cache(maxsize=1)
def glossary() -> dict[str, str]:
    return dict(json.loads(GLOSSARY.read_text(encoding="utf-8"))["terms"])


@lru_cache(maxsize=1)
def synonyms() -> dict[str, str]:
    """Everyday words → the documents' formal ones (生效 → 施行), from the same data file."""
    return dict(json.loads(GLOSSARY.read_text(encoding="utf-8"))["synonyms"])


@lru_cache(maxsize=1)
def function_words() -> frozenset[str]:
    """The words jieba's dictionary tags adverb, preposition, conjunction, particle, pronoun, modal particle,
    interjection or onomatopoeia (又, 为了, 只是, 这种): about 4,000, read from the dictionary file itself rather
    than through jieba.posseg, whose full tag table costs a second and ~100 MiB in a serving process."""
    import jieba

    text = (Path(jieba.__file__).parent / "dict.txt").read_text(encoding="utf-8")  # "word frequency tag" per line
    return frozenset(re.findall(r"^(\S+) \d+ (?:[dpcryeo]|u[a-z]*)$", text, re.M))


def dictionary_tag(word: str) -> str:
    """jieba's dictionary part-of-speech tag of a word ("ns" for place names), "" if it has none."""
    import jieba.posseg

    from rag.text import quiet_jieba

    quiet_jieba()
    dt = jieba.posseg.dt
    dt.tokenizer.check_initialized()
    return str(dt.word_tag_tab.get(word, ""))


def _dictionary_places(corpus: str) -> set[str]:
    import jieba.posseg

    from rag.text import quiet_jieba

    quiet_jieba()
    tags = jieba.posseg.dt
    found = set()
    for word, flag in tags.cut(corpus, HMM=False):
        if flag == "ns" and len(word) >= 2 and re.fullmatch(r"[\u4e00-\u9fff]+", word):
            found.add(word)
    return found


def _used_as_place(word: str, corpus: str) -> bool:
    """jieba tags many common words ns; keep those the corpus writes as places (杭州市, 浙江省) or that are
    place-shaped themselves (a city, province or county name); others join when listed beside these."""
    if word.endswith(_PLACE_SUFFIX) and len(word) >= 3:
        return True
    return any(word + s in corpus for s in _PLACE_SUFFIX) and word + "市场" not in corpus


def _listed_places(tagged: set[str], corpus: str) -> set[str]:
    """Tagged words the corpus lists three or more together ("英国、韩国、法国、日本等国家"): places, countries
    among them, that no suffix marks."""
    found: set[str] = set()
    for m in re.finditer(r"[\u4e00-\u9fff]+(?:、[\u4e00-\u9fff]+){2,}", corpus):
        items = [x for x in m.group(0).split("、") if x in tagged]
        if len(items) >= 3:
            found |= set(items)
    return found


def _pinyin(word: str) -> str:
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(re.sub(r"[市省县区]$", "", word) or word))
