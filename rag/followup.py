"""Follow-up questions ("那深圳呢？", "研发费用呢？", "它的产值是多少？") rewritten from earlier turns, without an LLM."""

from __future__ import annotations

import re

from rag.query import QueryInfo

_FOLLOW = re.compile(r"^(那么?|那在|还有|另外|and|what about|how about)|[呢]\s*[?？]?$", re.I)
_PRONOUN = re.compile(r"它们|它|其|该市|该法|该条例|这部法律?|这个城市|这座城市|该城市|this law|it")
_ASK = re.compile(r"(是多少|有多少|是什么|有哪些|是哪[一个些]?|多少|什么时候|何时)[^，。]*[?？]?$")
_SOURCE_ONLY = re.compile(r"^(是|在)?(哪一?条|第几条|哪个条款|出处|依据|来源)[^，。]{0,6}[?？]?$|^(which article|source)\W*$", re.I)


def is_follow_up(question: str, info: QueryInfo) -> bool:
    q = question.strip()
    bare = not (info.places or info.years or info.doc_ids or "《" in q)
    return (
        bool(_FOLLOW.search(q) or _SOURCE_ONLY.search(q))
        or (len(q) <= 14 and bool(_PRONOUN.search(q)))
        or (bare and len(q) <= 10 and info.kind is not None)  # "同比增长多少？"
    )


def resolve(question: str, info: QueryInfo, previous: str, prev_info: QueryInfo) -> str:
    """A self-contained question built from the follow-up and the previous (resolved) question."""
    if _SOURCE_ONLY.search(question.strip()):
        return previous  # "是哪一条？": the answer to the previous question cites its article
    q = re.sub(r"^(那么?|还有|另外)\s*", "", question.strip())
    q = re.sub(r"呢\s*[?？]?$", "", q).strip(" ，,?？")
    old_doc = _doc_mention(previous, prev_info)
    if _PRONOUN.search(q) and (prev_info.places or old_doc):
        subject = "".join(prev_info.places) or old_doc
        return _PRONOUN.sub(subject, question.strip(), count=1)
    new = previous
    replaced = False
    for old, fresh in ((prev_info.places, info.places), (prev_info.years, info.years)):
        if fresh:
            for o in old:
                new = new.replace(o, fresh[0])
                replaced = True
            if not old:
                new = fresh[0] + ("年" if fresh is info.years else "") + new
                replaced = True
    new_doc = _doc_mention(q, info)
    if new_doc and old_doc and new_doc != old_doc:
        new = new.replace(old_doc, new_doc) if old_doc in new else new.replace(old_doc.strip("《》"), new_doc)
        replaced = True
    rest = q
    for ent in info.places + info.years + [new_doc, new_doc.strip("《》")]:
        rest = rest.replace(ent, "") if ent else rest
    rest = rest.strip(" 年的，,")
    if rest and not replaced:
        # a new topic: keep the previous subject (year, place, document), and its question form if this has none
        subject = "".join(y + "年" for y in prev_info.years) + "".join(prev_info.places) + old_doc
        ask = "" if _ASK.search(rest) else (m.group(0) if (m := _ASK.search(previous)) else "")
        return f"{subject}{rest}{ask}".rstrip("?？") + "？"
    return new


def _doc_mention(question: str, info: QueryInfo) -> str:
    """The document a question names, as 《…》: its quoted title, else the name it used."""
    m = re.search(r"《[^》]+》", question)
    if m:
        return m.group(0)
    return f"《{info.doc_mentions[0]}》" if info.doc_mentions else ""
