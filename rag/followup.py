"""Follow-up questions ("那深圳呢？", "研发费用呢？", "它的产值是多少？") rewritten from earlier turns, without an LLM."""

from __future__ import annotations

import re

from rag.query import QueryInfo

_FOLLOW = re.compile(r"^(那么?|那在|还有|另外|and|what about|how about)|[呢]\s*[?？]?$", re.I)
_PRONOUN = re.compile(r"它们|它|其|该市|该法|该条例|这部法律?|这个城市|这座城市|该城市|this law|it")
_ASK = re.compile(r"(是多少|有多少|是什么|有哪些|是哪[一个些]?|多少|什么时候|何时)[^，。]*[?？]?$")


def is_follow_up(question: str, info: QueryInfo) -> bool:
    q = question.strip()
    return bool(_FOLLOW.search(q)) or (len(q) <= 14 and bool(_PRONOUN.search(q)))


def resolve(question: str, info: QueryInfo, previous: str, prev_info: QueryInfo) -> str:
    """A self-contained question built from the follow-up and the previous (resolved) question."""
    q = re.sub(r"^(那么?|还有|另外)\s*", "", question.strip())
    q = re.sub(r"呢\s*[?？]?$", "", q).strip(" ，,?？")
    if _PRONOUN.search(q) and (prev_info.places or prev_info.doc_ids):
        subject = "".join(prev_info.places) or _subject(previous)
        return _PRONOUN.sub(subject, question.strip(), count=1)
    new = previous
    replaced = False
    for old, fresh in ((prev_info.places, info.places), (prev_info.years, info.years)):
        if fresh:
            for o in old:
                new = new.replace(o, fresh[0])
                replaced = True
            if not old:
                new = fresh[0] + new
                replaced = True
    quoted_new, quoted_old = re.findall(r"《[^》]+》", q), re.findall(r"《[^》]+》", previous)
    if quoted_new and quoted_old:
        new = new.replace(quoted_old[0], quoted_new[0])
        replaced = True
    rest = q
    for ent in info.places + info.years + quoted_new:
        rest = rest.replace(ent, "")
    rest = rest.strip(" 年的，,")
    if rest and not replaced:
        # a new topic: keep the previous subject (place, year, document) and question form
        ask = _ASK.search(previous)
        subject = "".join(prev_info.years) + "".join(prev_info.places) + "".join(quoted_old)
        return f"{subject}{rest}{ask.group(0) if ask else '？'}"
    return new


def _subject(previous: str) -> str:
    m = re.search(r"《[^》]+》", previous)
    return m.group(0) if m else ""
