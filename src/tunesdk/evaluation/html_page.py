"""The comparison as one self-contained HTML page (inline CSS, every text escaped)."""

from __future__ import annotations

import re
from html import escape as _escape

from tunesdk.evaluation.comparison import ComparisonReport, ComparisonRow

#: C0/C1 control characters (not tab or newline): invalid in HTML; an untrained model emits them
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape(text: str) -> str:
    """HTML-escaped text with control characters shown as U+FFFD."""
    return _escape(visible(text))


def visible(text: str) -> str:
    """``text`` with control characters replaced by U+FFFD (safe in HTML and spreadsheets)."""
    return _CONTROL.sub("\ufffd", text)


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1f2328; }
h1 { font-size: 20px; margin-bottom: 4px; }
.meta { color: #57606a; margin: 2px 0; font-size: 14px; }
.summary { margin: 12px 0 18px; padding: 10px 14px; background: #f6f8fa; border-radius: 6px; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { border: 1px solid #d0d7de; padding: 8px 10px; vertical-align: top; text-align: left; }
th { background: #f6f8fa; position: sticky; top: 0; }
td { white-space: pre-wrap; word-wrap: break-word; font-size: 14px; }
col.id { width: 4em; } col.judge { width: 22%; }
.win { background: #dafbe1; }
.reference { color: #57606a; font-size: 13px; margin-top: 6px; border-top: 1px dashed #d0d7de;
  padding-top: 4px; }
.verdict { font-weight: 600; }
.tag { display: inline-block; font-size: 11px; color: #57606a; border: 1px solid #d0d7de;
  border-radius: 10px; padding: 0 6px; margin-left: 4px; }
"""


_VERDICTS = {"tuned": "tuned better", "base": "base better", "tie": "tie"}


def comparison_html(report: ComparisonReport) -> str:
    """The page: a header with the models and the win rate, then one row per prompt."""
    judge = report.judge is not None
    header = "".join(
        f"<th>{escape(name)}</th>"
        for name in ("#", "Prompt", "Base", "Tuned", *(["Judge"] if judge else []))
    )
    cols = '<col class="id"><col><col><col>' + ('<col class="judge">' if judge else "")
    rows = "\n".join(_row(row, judge) for row in report.rows)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Base vs tuned: {escape(report.tuned)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Base vs tuned model</h1>
<p class="meta">base: <code>{escape(report.base)}</code></p>
<p class="meta">tuned: <code>{escape(report.tuned)}</code></p>
<p class="meta">judge: <code>{escape(report.judge or "none")}</code> · A/B order randomised with \
seed {report.seed}</p>
<div class="summary">{escape(report.summary())}</div>
<table>
<colgroup>{cols}</colgroup>
<thead><tr>{header}</tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


def _row(row: ComparisonRow, judge: bool) -> str:
    prompt = escape(row.prompt)
    if row.reference:
        prompt += f'<div class="reference">reference: {escape(row.reference)}</div>'
    base_class = ' class="win"' if row.winner == "base" else ""
    tuned_class = ' class="win"' if row.winner == "tuned" else ""
    cells = [
        f"<td>{escape(row.id)}</td>",
        f"<td>{prompt}</td>",
        f"<td{base_class}>{escape(row.base)}</td>",
        f"<td{tuned_class}>{escape(row.tuned)}</td>",
    ]
    if judge:
        verdict = _VERDICTS.get(row.winner or "", "unreadable verdict")
        shown = f'<span class="tag">tuned shown as {row.tuned_position}</span>'
        reason = escape(row.reason or "")
        cells.append(f'<td><span class="verdict">{verdict}</span>{shown}\n{reason}</td>')
    return "<tr>" + "".join(cells) + "</tr>"


__all__ = ["comparison_html", "escape", "visible"]
