"""Follow-up resolution: a turn that leans on the one before ("那深圳呢？", "它的产值是多少？", "是哪一条？")
becomes a self-contained question from the previous, already resolved one."""

from __future__ import annotations

import re

from rag.question import Ask

_FOLLOW = re.compile(r"^(那么?|那在|还有|另外|and\b|what about|how about)|[呢]\s*[?？]?$", re.I)
_PRONOUN = re.compile(r"它们|它|其|该市|该法|该条例|这部法律?|这个城市|这座城市|该城市|\bthis law\b|\bit\b", re.I)
_SOURCE_ONLY = re.compile(r"^(是|在)?(哪一?条|第几条|哪个条款|出处|依据|来源)[^，。]{0,6}[?？]?$|^(which article|source)\W*$", re.I)


def is_follow_up(question: str, ask: Ask) -> bool:
    """A turn that leans on the one before: "那深圳呢？", "它的产值是多少？", "同比增长多少？"."""
    q = question.strip()
    bare = not (ask.places or ask.years or ask.doc_ids or "《" in q)
    return bool(_FOLLOW.search(q) or _SOURCE_ONLY.search(q)) or (len(q) <= 14 and bool(_PRONOUN.search(q))) or (
        bare and len(q) <= 10 and ask.kind is not None
    )


def resolve(question: str, ask: Ask, previous: str, prev: Ask, names: dict[str, list[str]]) -> str:
    """A self-contained question from a follow-up and the previous (resolved) question."""
    if _SOURCE_ONLY.search(question.strip()):
        return previous  # "是哪一条？": the previous answer cites its article
    q = re.sub(r"^(那么?|还有|另外)\s*", "", question.strip())
    q = re.sub(r"呢\s*[?？]?$", "", q).strip(" ，,?？")
    old_doc = _doc_name(previous, prev, names)
    if _PRONOUN.search(q) and (prev.places or old_doc):
        return _PRONOUN.sub("".join(prev.places) or old_doc, question.strip(), count=1)
    new, replaced = previous, False
    for old, fresh, suffix in ((prev.places, ask.places, ""), (prev.years, ask.years, "年")):
        if fresh:
            for o in old:
                new = new.replace(o, fresh[0])
            if not old:
                new = fresh[0] + suffix + new
            replaced = True
    new_doc = _doc_name(q, ask, names)
    if new_doc and old_doc and new_doc != old_doc:
        new = new.replace(old_doc, new_doc)
        replaced = True
    rest = q
    for name in ask.places + ask.years + [new_doc]:
        rest = rest.replace(name, "") if name else rest
    rest = rest.strip(" 年的，,")
    if rest and not replaced:
        # a new attribute of the same subject: keep the previous year, place and document
        subject = "".join(y + "年" for y in prev.years) + "".join(prev.places) + old_doc
        asks = re.search(r"(是多少|有多少|是什么|有哪些|是哪[一个些]?|多少|什么时候|何时)[^，。]*[?？]?$", rest)
        tail = "" if asks else (m.group(0) if (m := re.search(r"(是多少|有多少|是什么|有哪些|多少|什么时候|何时)[^，。]*[?？]?$", previous)) else "")
        return f"{subject}{rest}{tail}".rstrip("?？") + "？"
    return new


def _doc_name(question: str, ask: Ask, names: dict[str, list[str]]) -> str:
    m = re.search(r"《[^》]+》", question)
    if m:
        return m.group(0)
    said = [n for d in ask.doc_ids for n in names.get(d, []) if n in question]
    return f"《{max(said, key=len)}》" if said else ""
