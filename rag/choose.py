"""Which candidate answers, before composing: the best one about the asked item, a close runner-up that opens a
list, the section with the most evidence for a summary, and whether a law chapter's articles answer; with the
keys that say which section or article a passage sits in."""

from __future__ import annotations

import math

from rag.evidence import Evidence, says_item
from rag.question import Ask, Reading
from rag.types import Chunk


def about_a_chapter(reading: Reading, ranked: list[Evidence]) -> bool:
    """Whether a question naming a law's chapter is answered by its articles: an open one always; one that asks
    which things (哪些安排) unless its answer is a list one article gives ("…有下列情形之一的：")."""
    return reading.intent == "open" or (
        reading.intent == "list" and runner_up_opening_a_list(ranked[0], ranked).unit.kind not in ("intro", "item")
    )


def runner_up_opening_a_list(best: Evidence, ranked: list[Evidence], margin: float = 1.0) -> Evidence:
    """For a question that asks for several things, a close runner-up that opens a list ("…有下列情形之一的：")
    answers better than a lone sentence of a neighbouring article: the list is what is asked for."""
    if best.unit.kind in ("intro", "item", "heading"):
        return best
    return next((e for e in ranked[1:6] if e.unit.kind == "intro" and e.score >= best.score - margin), best)


def heaviest_section(best: Evidence, ranked: list[Evidence], top: int = 20, margin: float = 1.0) -> Evidence:
    """For a summary, of the sections whose best unit is close to the best, the one with the most evidence (the
    expected number of its units that answer, a unit's score being a logit), not merely the section that holds
    the single best sentence (a definition beside a city's section)."""
    mass: dict[tuple[str, str], float] = {}
    for e in ranked[:top]:
        key = section_key(e.chunk)
        if key in mass or e.score >= best.score - margin:
            mass[key] = mass.get(key, 0.0) + 1 / (1 + math.exp(-e.score))
    heaviest = max(mass, key=lambda k: mass[k])
    return next(e for e in ranked if section_key(e.chunk) == heaviest)


def about_focus(ask: Ask, ranked: list[Evidence], margin: float = 2.0) -> Evidence:
    """For one item of "A和B分别…", the best unit that names that item, unless it is far behind the best."""
    if ask.focus:
        named = [e for e in ranked[:5] if says_item(ask.focus, e.unit.text)]
        if named and named[0].score >= ranked[0].score - margin:
            return named[0]
    return ranked[0]


def section_key(chunk: Chunk) -> tuple[str, str]:
    return chunk.doc_id, chunk.article or chunk.section or chunk.chapter


def within(chunk: Chunk, key: tuple[str, str]) -> bool:
    """Whether a chunk sits in a section or in a sub-section of it ("深圳 > 发展红利" in "深圳")."""
    own = section_key(chunk)
    return own[0] == key[0] and (own[1] == key[1] or own[1].startswith(key[1] + " > "))
