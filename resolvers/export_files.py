"""The files an employer's Party organisation receives: a workbook to file and a PDF to print.

Both are made from plain data (`Sheet`) and nothing else, so that what was sent can be kept byte
for byte beside the record of sending it. The PDF embeds the glyphs it uses of a Chinese font
shipped with the project (`resolvers/fonts/`), or of the font `QILIJIA_EXPORT_FONT` names.

fpdf2 (with the font tools and the cryptography it loads) and openpyxl are imported when the first
file is made: importing them costs every server process and every command a third of a second at
start, for files that are made now and then.
"""

from __future__ import annotations

import functools
import io
import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from models.evaluation import GRADE_NAMES, Grade
from models.participation_rules import Summary

CHINA = ZoneInfo("Asia/Shanghai")
FONT = Path(__file__).parent / "fonts" / "wqy-microhei-gb2312.ttf"
#: where a fuller font may be named, for names with characters beyond GB 2312
FONT_VARIABLE = "QILIJIA_EXPORT_FONT"
TITLE = "在职党员参与社区治理评价鉴定反馈"
#: what stands in the PDF for a character its font lacks (the workbook keeps the character)
MISSING = "□"
MISSING_NOTE = (
    f"注：本页有字符超出 PDF 所用字库，以{MISSING}代替，请以同时发送的 Excel 文件为准"
    "（部署时可用 QILIJIA_EXPORT_FONT 指定更全的字库）。"
)
CHECK_HINT = (
    "查验（无需登录）：以校验码调用綦理家的公开接口 verifyEvaluationExport，可核对导出的名单与等次、"
    "导出时间和导出人，并可比对文件的 SHA-256。"
)


@dataclass(frozen=True)
class Member:
    name: str
    employer: str | None
    compound: str
    grade: Grade
    version: int
    comment: str
    confirmed_at: datetime
    totals: Summary
    #: (first day of the month, that month's totals), in order
    months: list[tuple[date, Summary]]


@dataclass(frozen=True)
class Sheet:
    community: str
    period: str
    starts_on: date
    ends_on: date
    party_org: str
    code: str
    made_at: datetime
    made_by: str
    members: list[Member]


def _day(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d")


def _minute(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


minute = _minute


def _span(sheet: Sheet) -> str:
    last = sheet.ends_on - timedelta(days=1)
    return f"{sheet.period}（{sheet.starts_on:%Y-%m-%d} 至 {last:%Y-%m-%d}）"


def _heading(sheet: Sheet) -> list[tuple[str, str]]:
    return [
        ("社区", sheet.community),
        ("期间", _span(sheet)),
        ("所在单位党组织", sheet.party_org),
        ("党员人数", str(len(sheet.members))),
        ("校验码", sheet.code),
        ("导出时间", _minute(sheet.made_at)),
        ("导出人", sheet.made_by),
    ]


SUMMARY_COLUMNS = (
    "序号",
    "姓名",
    "工作单位",
    "报到小区",
    "等次",
    "志愿服务时长（小时）",
    "出席会议（次）",
    "志愿服务（次）",
    "办结事项（件）",
    "调解纠纷（件）",
    "担任职务（期）",
    "积分",
    "评语",
    "确认日期",
    "版本",
)
MONTH_COLUMNS = (
    "姓名",
    "月份",
    "志愿服务时长（小时）",
    "出席会议（次）",
    "志愿服务（次）",
    "办结事项（件）",
    "调解纠纷（件）",
    "担任职务（期）",
    "积分",
)


def _illegal_characters() -> re.Pattern[str]:
    """The characters a spreadsheet cannot store (openpyxl's list)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE


def _cell(value: object) -> object:
    """A value a workbook cell may hold: control characters (which a spreadsheet cannot store, and
    which no name or comment needs) are left out."""
    return _illegal_characters().sub("", value) if isinstance(value, str) else value


def _counts(s: Summary) -> list[float | int]:
    return [float(s.hours), s.meetings, s.shifts, s.tasks, s.disputes, s.positions, float(s.points)]


def workbook(sheet: Sheet) -> bytes:
    """Two sheets: each member's evaluation on a line (评价汇总) and their record by month
    (按月参与), under the community, the period, the organisation and the verification code."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.properties.creator = "綦理家"
    book.properties.title = f"{sheet.community}{sheet.period}{TITLE}"
    book.properties.created = book.properties.modified = sheet.made_at.astimezone(CHINA).replace(tzinfo=None)
    summary = book.active
    summary.title = "评价汇总"
    summary.append([_cell(f"{sheet.community} {TITLE}")])
    summary["A1"].font = Font(bold=True, size=14)
    for label, value in _heading(sheet):
        summary.append([label, _cell(value)])
    summary.append([])
    summary.append(list(SUMMARY_COLUMNS))
    header = summary.max_row
    for cell in summary[header]:
        cell.font = Font(bold=True)
    for n, m in enumerate(sheet.members, 1):
        who = [n, m.name, m.employer or "", m.compound, GRADE_NAMES[m.grade]]
        summary.append(
            [_cell(v) for v in (*who, *_counts(m.totals), m.comment, _day(m.confirmed_at), m.version)]
        )
        summary.cell(summary.max_row, len(SUMMARY_COLUMNS) - 2).alignment = Alignment(wrap_text=True)
    widths = (6, 10, 22, 14, 10, 12, 10, 10, 10, 10, 10, 8, 40, 12, 6)
    for column, width in enumerate(widths, 1):
        summary.column_dimensions[get_column_letter(column)].width = width
    summary.freeze_panes = summary.cell(header + 1, 1)
    months = book.create_sheet("按月参与")
    months.append(list(MONTH_COLUMNS))
    for cell in months[1]:
        cell.font = Font(bold=True)
    for m in sheet.members:
        for first, totals in m.months:
            months.append([_cell(m.name), f"{first:%Y-%m}", *_counts(totals)])
    for column, width in enumerate((10, 10, 12, 10, 10, 10, 10, 10, 8), 1):
        months.column_dimensions[get_column_letter(column)].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class _Pdf:
    """What our PDFs add to fpdf2's `FPDF`: the class of a document (`_pdf_class`) is both."""

    code = ""
    #: the characters of the font, and whether the current page replaced any it lacks
    glyphs: frozenset[int] = frozenset()
    replaced = False

    def printable(self, text: str) -> str:
        """`text` as the font can print it: control characters left out, a character the font
        lacks shown as □ (and the page says so, instead of silently dropping it)."""
        out = []
        for ch in _illegal_characters().sub("", text):
            if ch in "\n\r\t" or ord(ch) in self.glyphs:
                out.append(ch)
            else:
                out.append(MISSING)
                self.replaced = True
        return "".join(out)

    def footer(self: Any) -> None:
        self.set_y(-14)
        self.set_font(size=8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 6, f"校验码 {self.code}    第 {self.page_no()} 页，共 {{nb}} 页", align="C")
        self.set_text_color(0, 0, 0)


@functools.cache
def _pdf_class() -> type[Any]:
    from fpdf import FPDF

    return type("_Pdf", (_Pdf, FPDF), {})


def font_path() -> Path:
    named = os.environ.get(FONT_VARIABLE)
    return Path(named) if named else FONT


def document(title: str, author: str, made_at: datetime | None = None) -> _Pdf:
    """An A4 PDF in the project's Chinese font (`font_path`), its metadata set: the files the API
    hands out are all made on it."""
    doc = _pdf_class()(format="A4")
    doc.set_title(title)
    doc.set_author(author)
    doc.set_creator("綦理家")
    if made_at is not None:
        doc.set_creation_date(made_at)
    doc.add_font("qilijia", fname=str(font_path()))
    doc.set_font("qilijia", size=11)
    doc.glyphs = frozenset(doc.current_font.cmap)
    doc.set_auto_page_break(auto=True, margin=18)
    return doc


def pdf(sheet: Sheet) -> bytes:
    """A cover page naming the community, the period, the organisation and the code, then one
    page per member: their evaluation, their totals and a bar chart of their points by month."""
    doc = document(f"{sheet.community}{sheet.period}{TITLE}", sheet.community, sheet.made_at)
    doc.code = sheet.code

    doc.add_page()
    doc.set_font_size(18)
    doc.cell(0, 16, TITLE, align="C", new_x="LMARGIN", new_y="NEXT")
    doc.ln(4)
    doc.set_font_size(12)
    for label, value in _heading(sheet):
        _row(doc, label, value, width=40)
    doc.ln(6)
    doc.set_font_size(10)
    doc.multi_cell(0, 6, CHECK_HINT)
    doc.ln(4)
    listed = "名单：" + "、".join(f"{m.name}（{GRADE_NAMES[m.grade]}）" for m in sheet.members)
    doc.multi_cell(0, 6, doc.printable(listed), new_x="LMARGIN", new_y="NEXT")
    _note_replacements(doc)

    for m in sheet.members:
        doc.add_page()
        doc.set_font_size(16)
        title = doc.printable(f"{m.name} {sheet.period} 评价鉴定")
        doc.cell(0, 12, title, align="C", new_x="LMARGIN", new_y="NEXT")
        doc.ln(2)
        doc.set_font_size(11)
        for label, value in (
            ("工作单位", m.employer or "（未填写）"),
            ("所在单位党组织", sheet.party_org),
            ("报到社区、小区", f"{sheet.community} {m.compound}"),
            ("评价期间", _span(sheet)),
            ("等次", GRADE_NAMES[m.grade]),
            ("确认日期", f"{_day(m.confirmed_at)}（第 {m.version} 版）"),
        ):
            _row(doc, label, value, width=36)
        doc.ln(3)
        t = m.totals
        _row(
            doc,
            "参与情况",
            f"志愿服务 {t.shifts} 次共 {_hours(t.hours)} 小时，出席会议 {t.meetings} 次，"
            f"办结事项 {t.tasks} 件，调解纠纷 {t.disputes} 件，担任职务 {t.positions} 期，积分 {_hours(t.points)}。",
            width=36,
        )
        _row(doc, "评语", m.comment or "（无）", width=36)
        doc.ln(4)
        _chart(doc, m.months)
        _note_replacements(doc)
    return bytes(doc.output())


def _note_replacements(doc: _Pdf) -> None:
    if doc.replaced:
        doc.ln(2)
        doc.set_x(doc.l_margin)
        doc.set_font_size(9)
        doc.multi_cell(0, 5, MISSING_NOTE, new_x="LMARGIN", new_y="NEXT")
        doc.replaced = False


note_replacements = _note_replacements


def _hours(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:.2f}".rstrip("0")


def _row(doc: _Pdf, label: str, value: str, *, width: float) -> None:
    doc.set_x(doc.l_margin)
    doc.cell(width, 8, label + "：")
    doc.multi_cell(0, 8, doc.printable(value), new_x="LMARGIN", new_y="NEXT")


row = _row


def _chart(doc: _Pdf, months: list[tuple[date, Summary]]) -> None:
    """Points earned each month as bars, each labelled with its points and hours."""
    doc.set_font_size(11)
    doc.cell(0, 8, "按月参与情况（积分，取自导出时的参与记录）", new_x="LMARGIN", new_y="NEXT")
    height, top = 45.0, doc.get_y() + 4
    base = top + height
    left, room = doc.l_margin + 8, doc.epw - 16
    most = max((float(s.points) for _, s in months), default=0.0) or 1.0
    slot = room / max(len(months), 1)
    bar = min(slot * 0.6, 18.0)
    doc.set_draw_color(120, 120, 120)
    doc.line(left - 2, base, left + room, base)
    doc.set_font_size(8)
    for i, (first, s) in enumerate(months):
        x = left + slot * i + (slot - bar) / 2
        tall = max(float(s.points), 0.0) / most * height
        if tall > 0:
            doc.set_fill_color(196, 30, 36)
            doc.rect(x, base - tall, bar, tall, style="F")
        doc.set_xy(x - 4, base - tall - 5)
        doc.cell(bar + 8, 4, _hours(s.points), align="C")
        doc.set_xy(x - 6, base + 1)
        doc.cell(bar + 12, 4, f"{first.month}月", align="C")
        doc.set_xy(x - 6, base + 5)
        doc.cell(bar + 12, 4, f"{_hours(s.hours)}小时", align="C")
    doc.set_xy(doc.l_margin, base + 12)
