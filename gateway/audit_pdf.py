"""The access trail as a PDF report for auditors and inspectors (Chinese and English).

What the PDF shows is what the ledger answered: the query, the counts, the flagged patterns
(:mod:`gateway.audit_flags`) and every record. Its last page carries the SHA-256 of the
records as canonical JSON (RFC 8785), the same digest ``/audit/trail`` data gives when hashed
the same way, so a printed report can be tied back to the ledger.

Chinese needs a font: the report embeds WenQuanYi Zen Hei (Debian's fonts-wqy-zenhei,
installed by scripts/install) so every reader shows the same glyphs; without it the report
uses the Adobe-GB1 font every PDF reader knows (STSong-Light, not embedded).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from gateway.audit_flags import Flag
from schemas.canonical import canonical_json
from schemas.ledger import AccessRecord

EMBEDDED_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
_FONT = "EvnetCJK"
_ROWS_PER_TABLE = 400  # reportlab splits long tables in quadratic time; keep each short


def _font() -> str:
    """Register the report's font once; its name."""
    if _FONT in pdfmetrics.getRegisteredFontNames():
        return _FONT
    if EMBEDDED_FONT.is_file():
        pdfmetrics.registerFont(TTFont(_FONT, str(EMBEDDED_FONT), subfontIndex=0))
        return _FONT
    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


@dataclass(frozen=True)
class TrailReport:
    """What one report covers."""

    org: str  # the department whose node produced it
    auditor: str
    generated_at: dt.datetime
    query: dict[str, str]  # the filters, as given
    records: Sequence[AccessRecord]
    flags: Sequence[Flag]
    truncated: bool  # more records matched than the report holds


def records_digest(records: Sequence[AccessRecord]) -> str:
    """SHA-256 of the records as one canonical JSON array."""
    doc = [r.model_dump(mode="json") for r in records]
    return hashlib.sha256(canonical_json(doc)).hexdigest()


def render(report: TrailReport) -> bytes:
    """The report as PDF bytes (A4 landscape)."""
    font = _font()
    body = ParagraphStyle("body", fontName=font, fontSize=8, leading=10, wordWrap="CJK")
    head = ParagraphStyle("head", parent=body, fontSize=14, leading=18, spaceAfter=4)
    sub = ParagraphStyle("sub", parent=body, fontSize=10, leading=13, spaceBefore=6)

    def p(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(text), style)

    granted = sum(1 for r in report.records if r.outcome.value == "granted")
    story: list[Flowable] = [
        p("访问记录审计报告 · Access trail audit report", head),
        p(f"部门 Department: {report.org}    审计员 Auditor: {report.auditor}"),
        p(f"生成时间 Generated: {report.generated_at.isoformat(timespec='seconds')}"),
        p("查询 Query: " + ", ".join(f"{k}={v}" for k, v in report.query.items() if v)),
        p(
            f"记录 Records: {len(report.records)} (准许 granted {granted}, "
            f"拒绝 denied {len(report.records) - granted})"
            + ("  — 已截断 TRUNCATED: narrow the query" if report.truncated else "")
        ),
        Spacer(1, 4 * mm),
        p("异常模式 Flagged patterns", sub),
    ]
    if report.flags:
        rows = [["code", "accessor", "org", "count", "first", "last"]] + [
            [f.code, f.accessor, f.accessor_org, str(f.count), f.first_at, f.last_at]
            for f in report.flags
        ]
        story.append(_table(rows, body, [40, 70, 40, 15, 45, 45], highlight=None))
    else:
        story.append(p("无 none"))
    story += [Spacer(1, 4 * mm), p("访问记录 Access records", sub)]
    header = ["time (UTC)", "org", "accessor", "role", "kind", "target", "outcome", "reason"]
    cells = [
        [
            r.at,
            r.accessor_org,
            r.accessor.split("::", 1)[0][:60],
            r.role,
            f"{r.kind.value}/{r.purpose}",
            f"{r.target.value} {r.target_id}" + (f" → {r.shared_with}" if r.shared_with else ""),
            r.outcome.value,
            r.reason,
        ]
        for r in report.records
    ]
    widths = [40, 32, 48, 16, 30, 52, 16, 40]
    for start in range(0, max(len(cells), 1), _ROWS_PER_TABLE):
        chunk = cells[start : start + _ROWS_PER_TABLE]
        if chunk:
            story.append(_table([header, *chunk], body, widths, highlight="denied"))
    story += [
        Spacer(1, 4 * mm),
        p("完整性 Integrity", sub),
        p(
            "SHA-256 of the records above as canonical JSON (RFC 8785): "
            + records_digest(report.records)
        ),
    ]
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=landscape(A4),
        leftMargin=10 * mm,
        rightMargin=10 * mm,
        topMargin=10 * mm,
        bottomMargin=12 * mm,
        title="Access trail audit report",
        author=f"{report.auditor} ({report.org})",
        creator="EvidenceNet gateway",
    )

    def footer(canvas: Canvas, document: BaseDocTemplate) -> None:
        canvas.setFont(font, 7)
        canvas.drawString(
            10 * mm,
            6 * mm,
            f"EvidenceNet · {report.org} · {report.generated_at.isoformat(timespec='seconds')}"
            f" · page {document.page}",
        )

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _table(
    rows: list[list[str]], style: ParagraphStyle, widths_mm: list[int], highlight: str | None
) -> Table:
    # Denied accesses in red, as on the console's audit page.
    red = ParagraphStyle("red", parent=style, textColor=colors.HexColor("#b00020"))
    data = [
        [Paragraph(escape(c), red if highlight is not None and highlight in row else style)
         for c in row]
        for row in rows
    ]  # fmt: skip
    table = Table(data, colWidths=[w * mm for w in widths_mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table
