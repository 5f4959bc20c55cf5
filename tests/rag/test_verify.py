"""The number check and citation parsing, on hand-made answers."""

from __future__ import annotations

import pytest

from rag.text import checked_numbers, cn_to_int, int_to_cn, numbers
from rag.types import Citation
from rag.verify import number_supported, split_claims, verify_answer


def cite(n: int, quote: str) -> Citation:
    return Citation(n=n, chunk_id=f"c{n}", document_id="d", title="t", quote=quote, text=quote, start=0, end=len(quote))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("达到82亿美元，占9.6%", ["82亿美元", "9.6%"]),
        ("峰值4,130.27亿元", ["4130.27亿元"]),
        ("１．８万亿美元", ["1.8万亿美元"]),
        ("自2021年9月1日起", ["2021年", "9月", "1日"]),
        ("是中国1.6倍，约1500家", ["1.6倍", "1500家"]),
        ("9.60%", ["9.6%"]),

    ],
)
def test_numbers_keep_unit(text: str, expected: list[str]) -> None:
    assert numbers(text) == expected


def test_chinese_numerals_round_trip() -> None:
    for n in (1, 10, 11, 21, 55, 99, 100, 103, 110):
        assert cn_to_int(int_to_cn(n)) == n


def test_a_number_needs_the_same_unit() -> None:
    assert number_supported("82亿美元", ["规模达到82亿美元"])
    assert not number_supported("82亿元", ["规模达到82亿美元"])
    assert not number_supported("8.2亿美元", ["规模达到82亿美元"])
    assert number_supported("18个", ["18\t哈尔滨国家新一代人工智能创新发展试验区"])


def test_counting_chinese_numerals_are_checked_but_not_article_numbers() -> None:
    assert checked_numbers("约占全国总数的三成，位居全球第三位") == ["3成", "第3位"]
    assert checked_numbers("《数据安全法》第五十五条规定，一体化") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("并处五千万元以下或者营业额百分之五以下罚款", ["5000万元", "5%"]),
        ("处二百万元以上一千万元以下罚款", ["200万元", "1000万元"]),
        ("提供服务之日起十个工作日内；三十日内答复", ["10个", "30日"]),
        ("年满16周岁；不满十四周岁未成年人", ["16岁", "14岁"]),  # an age, 周岁 and 岁 alike
    ],
)
def test_chinese_amounts_durations_and_percentages_read_as_their_arabic_spelling(text: str, expected: list[str]) -> None:
    assert checked_numbers(text) == expected


def test_a_law_penalty_in_chinese_numerals_checks_an_arabic_answer() -> None:
    quote = [cite(1, "由有关主管部门处二百万元以上一千万元以下罚款")]
    assert verify_answer("处200万元以上1000万元以下罚款[1]。", quote)[0] == "处200万元以上1000万元以下罚款[1]。"
    assert verify_answer("处200万元以上5000万元以下罚款[1]。", quote)[0] == ""


def test_chinese_numerals_are_checked_too() -> None:
    quote = [cite(1, "中国保持较快发展势头，人工智能创新指数连续2年排名第二。")]
    assert verify_answer("中国排名第二[1]。", quote)[0] == "中国排名第二[1]。"
    assert verify_answer("中国排名第一[1]。", quote)[0] == ""


def test_unsupported_sentences_and_bad_markers_are_dropped() -> None:
    citations = [cite(1, "2020年北京人工智能相关产值规模达1860亿元，同比增长9.8%。")]
    text, claims = verify_answer("产值规模达1860亿元[1]。同比增长15.3%[1]。另见[5]。", citations)
    assert text == "产值规模达1860亿元[1]。"
    assert [c.verified for c in claims] == [True, False, False]


def test_markers_after_the_full_stop_belong_to_the_sentence() -> None:
    assert split_claims("规模达82亿美元。[1] 占9.6%。[2]") == [("规模达82亿美元[1]。", [1]), ("占9.6%[2]。", [2])]


def test_a_sentence_without_any_citation_is_not_kept() -> None:
    text, _ = verify_answer("规模达82亿美元。", [cite(1, "规模达82亿美元")])
    assert text == ""


def test_a_marker_covers_the_unmarked_sentences_just_before_it() -> None:
    quote = "本条例自2021年3月1日起施行。《浙江省信息化促进条例》同时废止。"
    text, claims = verify_answer("本条例自2021年3月1日起施行。《浙江省信息化促进条例》同时废止[1]。", [cite(1, quote)])
    assert text == "本条例自2021年3月1日起施行。《浙江省信息化促进条例》同时废止[1]。"
    assert [c.citations for c in claims] == [[1], [1]]
    text, _ = verify_answer("本条例自2022年3月1日起施行。《浙江省信息化促进条例》同时废止[1]。", [cite(1, quote)])
    assert text == "《浙江省信息化促进条例》同时废止[1]。"


def test_a_table_keeps_its_header_and_every_row_on_their_own_lines() -> None:
    rows = ["16\t郑州试验区\t2021年11月13日\t郑州", "17\t沈阳试验区\t2021年11月13日\t沈阳"]
    table = "| 序号 | 名称 | 获批时间 | 城市 |\n|---|---|---|---|\n| 16 | 郑州试验区 | 2021年11月13日 | 郑州 |\n| 17 | 沈阳试验区 | 2021年11月13日 | 沈阳 |[1][2]"
    text, claims = verify_answer(f"{table}\n另有一句[1]。", [cite(1, rows[0]), cite(2, rows[1])])
    assert text.startswith(table + "\n") and text.endswith("另有一句[1]。")
    assert [c.citations for c in claims[:4]] == [[1, 2]] * 4 and all(c.verified for c in claims)
