"""Units: every sentence, heading, list item, table row or wide-table cell is a verbatim slice of its chunk."""

from __future__ import annotations

from rag.types import Chunk
from rag.units import header_of, is_heading, plain, split_units


def chunk(text: str, context: str = "《示例》", kind: str = "text", start: int = 100) -> Chunk:
    return Chunk(id="c1", doc_id="d", position=0, text=text, context=context, start=start, end=start + len(text), kind=kind)  # type: ignore[arg-type]


def test_units_are_verbatim_slices_with_document_offsets() -> None:
    c = chunk("发展目标\n到2025年，产值达到100亿元。企业超过50家；其中龙头企业5家。\n主管部门履行下列职责：\n（一）制定规划；\n（二）组织实施。")
    units = split_units(c)
    assert [u.kind for u in units] == ["heading", "sentence", "sentence", "sentence", "intro", "item", "item"]
    for u in units:
        assert c.text[u.start - c.start : u.end - c.start] == u.text
    assert units[1].text == "到2025年，产值达到100亿元。"


def test_a_short_tail_joins_the_unit_before_it() -> None:
    units = split_units(chunk("产值达到100亿元。好。企业超过50家。"))
    assert [u.text for u in units] == ["产值达到100亿元。好。", "企业超过50家。"]


def test_table_rows_carry_their_header_and_wide_rows_are_read_cell_by_cell() -> None:
    row = chunk("1\t苏州\t120家", context="《示例》 名单\n序号\t城市\t数量", kind="table")
    [u] = split_units(row)
    assert u.kind == "row" and header_of(u, row) == "序号\t城市\t数量"
    wide = "3月 《第一份文件》 6月 《第二份文件：一份名称很长的关于河道治理和水资源保护的规划》\t5月 《第三份文件》\t8月 《第四份》"
    timeline = chunk(wide, context="《示例》 时间线\n2019年\t2020年\t2021年", kind="table")
    cells = split_units(timeline)
    assert [u.kind for u in cells] == ["cell"] * 3
    assert [header_of(u, timeline) for u in cells] == ["2019年", "2020年", "2021年"]
    assert all(timeline.text[u.start - timeline.start : u.end - timeline.start] == u.text for u in cells)


def test_headings_and_their_plain_form() -> None:
    assert is_heading("发展目标") and is_heading("05 市场概况") and not is_heading("12月发布规划")
    assert not is_heading("产值达到100亿元。")
    assert plain("05 市场 概况") == plain("市场概况") == "市场概况"
    assert plain("一是统筹区域发展") == "统筹区域发展"


def test_a_unit_knows_the_heading_line_it_sits_under_inside_its_chunk() -> None:
    from rag.retrieve import UnitIndex

    c = chunk("四川新区规划面积1578平方公里。\n科学城\n规划面积132平方公里。\n规划人口50万人。")
    index = UnitIndex([c], {}, {u.id: [] for u in split_units(c)})
    # the chunk's section cannot name a heading written inside it: the unit does
    assert index.above == ["", "", "科学城", "科学城"]
