"""A single self-contained HTML page for an export: settings, size chart, table.

Charts are embedded, never linked: a size bar chart drawn here as inline SVG (so the CLI's
report has one too), plus any PNG images the window passes in, as base64 ``data:`` URLs.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Mapping

from prune_studio.export.files import atomic_write_bytes
from prune_studio.export.report import ExportReport, class_text

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child, td.note { text-align: left; }
tr.failed td { color: #a00; }
tr.recommended td { background: #e8f5e9; font-weight: 600; }
td.miss { color: #a00; font-weight: 600; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }
dt { font-weight: 600; }
"""


MISS = ' class="miss"'


def format_bytes(n: int | None) -> str:
    """``1234567`` -> ``"1.2 MB"``; empty for None."""
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


TABLE_HEADERS = ("Model", "Size", "Gzipped", "Smaller by", "Non-zeros", "Accuracy", "Change",
                 "ms/sample", "Verified", "Note")


def table_cells(row: dict) -> list[str]:
    """One :meth:`ExportReport.rows` row as display strings, in :data:`TABLE_HEADERS` order."""
    pct = lambda v: "" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    change = row.get("accuracy_change")
    return [
        row["name"], format_bytes(row.get("bytes")), format_bytes(row.get("gzip_bytes")),
        "" if row.get("ratio") is None else f"{row['ratio']:.1f}x",
        "" if row.get("nonzero") is None else f"{row['nonzero']:,}",
        pct(row.get("accuracy")), "" if change is None else f"{100 * change:+.1f} pts",
        "" if row.get("latency_ms") is None else f"{row['latency_ms']:.3f}",
        "yes" if row.get("ok") else "no", row.get("note") or "",
    ]


def size_chart_svg(report: ExportReport, width: int = 640) -> str:
    """Horizontal bars of gzipped size, baseline first, as an SVG string."""
    rows = [r for r in report.rows() if r.get("gzip_bytes")]
    if not rows:
        return ""
    biggest = max(r["gzip_bytes"] for r in rows)
    bar_h, label_w, height = 22, 240, 26 * len(rows) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="12">']
    for i, r in enumerate(rows):
        y = 5 + 26 * i
        w = max(1, (width - label_w - 90) * r["gzip_bytes"] / biggest)
        color = "#888" if i == 0 else "#2b7bb9"
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{html.escape(r["name"])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}"/>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 15}">{format_bytes(r["gzip_bytes"])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_html_report(report: ExportReport, path: str | Path, extra_images: Mapping[str, bytes] | None = None) -> None:
    """Write ``report`` as one HTML file at ``path`` (atomically).

    Args:
        report: the export to describe.
        path: where to write the page.
        extra_images: {title: PNG bytes}, e.g. charts grabbed from the window; embedded.
    """
    esc = html.escape
    body = [f"<h1>Prune Studio export</h1><p>Output folder: <code>{esc(report.out_dir)}</code>"
            + (" (stopped before the end)" if report.stopped else "") + "</p>"]
    body.append("<h2>Settings</h2><dl>")
    for key, value in report.settings.items():
        body.append(f"<dt>{esc(str(key))}</dt><dd>{esc(str(value))}</dd>")
    sp = report.sparsity
    if sp:
        body.append(f"<dt>zeros in kernels</dt><dd>{100 * sp.get('overall', 0):.1f}%</dd>")
    body.append("</dl><h2>Sizes (gzipped)</h2>" + size_chart_svg(report))
    for title, png in (extra_images or {}).items():
        data = base64.b64encode(png).decode("ascii")
        body.append(f'<h2>{esc(title)}</h2><img alt="{esc(title)}" src="data:image/png;base64,{data}">')
    best = report.recommended()
    if best is not None:
        body.append(f'<h2>Recommended</h2><p class="recommended"><b>{esc(best.name)}</b> '
                    f"(<code>{esc(Path(best.path).name)}</code>): {esc(best.advice)}</p>")
    extra = ("Faster by", "Compared with", "Advice")
    body.append("<h2>Comparison</h2><table><tr>" + "".join(f"<th>{h}</th>" for h in TABLE_HEADERS + extra) + "</tr>")
    for row in report.rows():
        cells = table_cells(row)
        klass = ' class="recommended"' if row.get("recommended") else "" if row.get("ok") else ' class="failed"'
        more = ["" if row.get("speedup") is None else f"{row['speedup']:.1f}x", row.get("baseline_label") or "",
                row.get("advice") or ""]
        body.append(f"<tr{klass}>" + "".join(f"<td>{esc(c)}</td>" for c in cells[:-1])
                    + f'<td class="note">{esc(cells[-1])}</td>'
                    + "".join(f'<td class="note">{esc(c)}</td>' for c in more) + "</tr>")
    body.append("</table>")
    if report.samples:
        names = list(report.samples[0].get("preds", {}))
        body.append("<h2>See it work (test samples)</h2><table><tr><th>Sample</th><th>Label</th><th>Baseline</th>"
                    + "".join(f"<th>{esc(n)}</th>" for n in names) + "</tr>")
        for smp in report.samples:
            preds = [smp["preds"].get(n) for n in names]
            body.append(f"<tr><td>{smp['index']}</td><td>{esc(class_text(smp['label']))}</td>"
                        f"<td>{esc(class_text(smp['baseline_pred']))}</td>"
                        + "".join(f"<td{'' if v == smp['label'] else MISS}>{esc(class_text(v))}</td>" for v in preds)
                        + "</tr>")
        body.append("</table>")
    if sp.get("layers"):
        body.append("<h2>Zeros per layer</h2><table><tr><th>Layer</th><th>Zeros</th></tr>")
        body.extend(f"<tr><td>{esc(n)}</td><td>{100 * f:.1f}%</td></tr>" for n, f in sp["layers"].items())
        body.append("</table>")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Prune Studio export</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")
    atomic_write_bytes(path, page.encode("utf-8"))
