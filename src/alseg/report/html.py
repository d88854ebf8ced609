"""The report as one self-contained HTML page (tables inline, figures linked beside it)."""

from __future__ import annotations

from html import escape

from alseg.report.tables import Section, TableData

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 0.3em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
p.note { font-size: 0.85em; color: #555; margin-top: 0; }
img { max-width: 48%; margin: 0.3em; border: 1px solid #eee; }
"""


def html_table(table: TableData) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    rows = []
    for row in table.rows:
        cells = "".join(
            f"<td><b>{escape(text)}</b></td>"
            if bold and text != "-"
            else f"<td>{escape(text)}</td>"
            for text, bold in row
        )
        rows.append(f"<tr>{cells}</tr>")
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return (
        f"<h3>{escape(table.title)}</h3>\n<table>\n<thead><tr>{head}</tr></thead>\n"
        f"<tbody>\n" + "\n".join(rows) + f"\n</tbody>\n</table>\n{note}\n"
    )


def html_document(title: str, sections: list[Section]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    for section in sections:
        parts.append(f"<h2>{escape(section.title)}</h2>")
        if section.text:
            parts.append(f"<p>{escape(section.text)}</p>")
        parts += [html_table(table) for table in section.tables]
        parts += [
            f'<a href="{escape(f)}"><img src="{escape(f)}" alt="{escape(f)}"></a>'
            for f in section.figures
        ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
