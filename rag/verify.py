"""Checks on an answer: citation markers in range, every number found in a cited quote, quotes verbatim."""

from __future__ import annotations

import re

from rag.text import checked_numbers, normalize
from rag.types import Citation, Claim

MARKER = re.compile(r"\[(\d{1,3})\]")
_SENTENCE = re.compile(r"[^。！？!?\n]+(?:[。！？!?]+|$)\n?", re.M)  # a line of a table is one, with its line break


def split_claims(answer: str) -> list[tuple[str, list[int]]]:
    """Sentences of an answer with the citation numbers each one carries (markers may trail the stop; a marker
    also covers the unmarked sentences just before it)."""
    text = re.sub(r"([。！？!?])((?:\s*\[\d{1,3}\])+)", r"\2\1", answer)
    out: list[tuple[str, list[int]]] = []
    pending = 0  # unmarked sentences before a marker: the marker cites the run ("…。…[1]。")
    for m in _SENTENCE.finditer(text):
        sentence = m.group(0).strip(" \t")
        if not sentence.strip():
            continue
        refs = [int(n) for n in MARKER.findall(sentence)]
        out.append((sentence, refs))
        if not refs:
            pending += 1
            continue
        for i in range(len(out) - 1 - pending, len(out) - 1):
            out[i] = (out[i][0], refs)
        pending = 0
    return out


def number_supported(number: str, quotes: list[str]) -> bool:
    """A number (with its unit, if any) occurs in one of the quotes after normalisation."""
    for quote in quotes:
        found = checked_numbers(quote)
        if number in found:
            return True
        value = re.fullmatch(r"([\d.]+)\D*", number)
        # a bare number on either side (a table cell, "共18个") matches on its value alone
        if value and any(f == value.group(1) or (number == value.group(1) and re.match(rf"{re.escape(number)}(?![\d.])", f)) for f in found):
            return True
    return False


def verify_answer(answer: str, citations: list[Citation]) -> tuple[str, list[Claim]]:
    """Drop markers that point nowhere and sentences whose numbers no cited quote contains."""
    valid = {c.n: c for c in citations}
    kept, claims = [], []
    for sentence, refs in split_claims(answer):
        good = [n for n in refs if n in valid]
        clean = MARKER.sub(lambda m: m.group(0) if int(m.group(1)) in valid else "", sentence)
        body = MARKER.sub("", clean)
        nums = checked_numbers(body)
        quotes = [valid[n].quote for n in good] + [valid[n].text for n in good] + [valid[n].header for n in good]
        verified = bool(good) and all(number_supported(x, quotes) for x in nums)
        claims.append(Claim(sentence=clean.strip(), citations=good, numbers=nums, verified=verified))
        if verified or (not nums and good):
            kept.append(clean)
    return "".join(kept), claims


def quote_is_verbatim(quote: str, document_text: str) -> bool:
    return quote in document_text or normalize(quote) in normalize(document_text)
