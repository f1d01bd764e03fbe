"""The monitoring report as markdown (the drift issue's body) and self-contained HTML.

The HTML draws its charts as inline SVG and carries its own CSS: no script, no network, so it
opens from a downloaded artifact in any browser, and a Content-Security-Policy forbids the rest.
"""

from __future__ import annotations

from html import escape

from gitops_ml.monitoring.drift import Distribution
from gitops_ml.monitoring.results import FeatureResult, MonitorReport

MAX_CATEGORIES_DRAWN = 20
REFERENCE_COLOUR = "#4c78a8"
CURRENT_COLOUR = "#f58518"
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "—" if value is None else format(value, fmt)


def _p(value: float | None) -> str:
    return "—" if value is None else f"{value:.2g}"


def _status(r: FeatureResult, report: MonitorReport) -> str:
    kinds = [f.kind.replace("_", " ") for f in report.findings if f.subject == r.feature]
    return ", ".join(kinds) if kinds else "ok"


def verdict(report: MonitorReport) -> str:
    """One sentence: drifted or not, and how much of the batch was compared."""
    head = "Drift detected" if report.drift_detected else "No drift detected"
    return (
        f"{head}: {len(report.findings)} finding(s) on {report.n_current:,} current rows "
        f"against {report.n_reference:,} reference rows."
    )


def _feature_rows(report: MonitorReport) -> list[list[str]]:
    rows = []
    for r in sorted(report.features, key=lambda r: (not r.drifted, -(r.psi or 0.0), r.feature)):
        rows.append(
            [
                r.feature,
                r.kind,
                _num(r.psi),
                r.test,
                _p(r.p_adjusted),
                f"{r.missing_reference:.1%} → {r.missing_current:.1%}",
                _status(r, report),
            ]
        )
    return rows


FEATURE_HEADER = ["feature", "kind", "PSI", "test", "p (BH)", "missing", "status"]


def markdown(report: MonitorReport) -> str:
    """The report in GitHub-flavoured markdown."""
    lines = ["## Monitoring report", "", f"**{verdict(report)}**", ""]
    if report.findings:
        lines += ["### Findings", "", *[f"- {_md_text(f.message)}" for f in report.findings], ""]
    if report.prediction is not None:
        p = report.prediction
        lines += [
            "### Prediction drift",
            "",
            f"PSI {p.psi:.3f}, KS p={p.p_value:.2g}; mean score "
            f"{p.mean_reference:.3f} (reference) → {p.mean_current:.3f} (current): "
            f"{'**drifted**' if p.drifted else 'stable'}.",
            "",
        ]
    if report.performance is not None:
        perf = report.performance
        lines += [
            "### Performance (the batch has labels)",
            "",
            f"{perf.metric}: {_num(perf.reference)} (reference) → {perf.current:.3f} "
            f"on {perf.n_labelled:,} labelled rows: "
            f"{'**degraded**' if perf.degraded else 'within threshold'}.",
            "",
        ]
    lines += ["### Features", "", _md_table(FEATURE_HEADER, _feature_rows(report)), ""]
    if report.notes:
        lines += [*[f"> {note}" for note in report.notes], ""]
    t = report.thresholds
    lines += [
        f"Thresholds (params.yaml `monitor`): alpha {t['alpha']} after Benjamini-Hochberg, "
        f"PSI ≥ {t['psi_threshold']}, missing rate +{t['max_missing_increase']}, "
        f"new categories > {t['max_new_category_share']}, out of range > "
        f"{t['max_out_of_range_share']}, {t['performance_metric']} drop > "
        f"{t['max_performance_drop']}. Charts: the HTML report (monitor.html).",
        "",
    ]
    return "\n".join(lines)


def _md_text(text: str) -> str:
    # Values come from the data: shown as text, never as HTML in the issue.
    return escape(text, quote=False).replace("\n", " ")


def _md_cell(text: str) -> str:
    return _md_text(text).replace("|", "\\|")


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# ---- HTML and SVG ----------------------------------------------------------------------------


def _legend(x: float, y: float) -> str:
    return (
        f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{REFERENCE_COLOUR}"/>'
        f'<text x="{x + 14}" y="{y}">reference</text>'
        f'<rect x="{x + 90}" y="{y - 9}" width="10" height="10" fill="{CURRENT_COLOUR}"/>'
        f'<text x="{x + 104}" y="{y}">current</text>'
    )


def histogram_svg(dist: Distribution, title: str) -> str:
    """Overlaid histograms of reference and current shares (equal-width bins)."""
    width, height, left, top, bottom = 640, 240, 48, 28, 36
    plot_w, plot_h = width - left - 12, height - top - bottom
    peak = max([*dist.reference, *dist.current, 1e-9])
    n = len(dist.labels)
    bar_w = plot_w / n
    parts = []
    for shares, colour in ((dist.reference, REFERENCE_COLOUR), (dist.current, CURRENT_COLOUR)):
        for i, share in enumerate(shares):
            h = plot_h * share / peak
            parts.append(
                f'<rect x="{left + i * bar_w:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}" fill-opacity="0.55"/>'
            )
    # Bin labels read "LOW to HIGH": the axis shows the lowest, middle and highest edges.
    edges = [
        (left, "start", dist.labels[0].split(" to ")[0]),
        (left + (n // 2) * bar_w, "middle", dist.labels[n // 2].split(" to ")[0]),
        (left + plot_w, "end", dist.labels[-1].split(" to ")[-1]),
    ]
    labels = "".join(
        f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="{anchor}">{escape(text)}</text>'
        for x, anchor, text in edges
    )
    return _frame(width, height, left, top, plot_w, plot_h, peak, title, "".join(parts) + labels)


def bars_svg(dist: Distribution, title: str) -> str:
    """Grouped horizontal bars of reference and current shares per category."""
    order = sorted(range(len(dist.labels)), key=lambda i: -max(dist.reference[i], dist.current[i]))[
        :MAX_CATEGORIES_DRAWN
    ]
    row_h, left, top = 26, 180, 28
    width, plot_w = 640, 640 - 180 - 60
    height = top + row_h * len(order) + 16
    peak = max([*dist.reference, *dist.current, 1e-9])
    parts = []
    for row, i in enumerate(order):
        y = top + row * row_h
        label = dist.labels[i] if len(dist.labels[i]) <= 28 else dist.labels[i][:27] + "…"
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        for j, (share, colour) in enumerate(
            ((dist.reference[i], REFERENCE_COLOUR), (dist.current[i], CURRENT_COLOUR))
        ):
            w = plot_w * share / peak
            parts.append(
                f'<rect x="{left}" y="{y + 2 + j * 11}" width="{w:.1f}" height="10" '
                f'fill="{colour}"/><text x="{left + w + 4:.1f}" y="{y + 11 + j * 11}" '
                f'font-size="10">{share:.1%}</text>'
            )
    body = "".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
        f'font-size="12"><title>{escape(title)}</title>'
        f'<text x="8" y="16" font-weight="bold">{escape(title)}</text>'
        f"{_legend(width - 210, 16)}{body}</svg>"
    )


def _frame(
    width: int,
    height: int,
    left: int,
    top: int,
    plot_w: int,
    plot_h: int,
    peak: float,
    title: str,
    body: str,
) -> str:
    axis = (
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'stroke="#333"/><line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" '
        f'stroke="#333"/><text x="{left - 4}" y="{top + 4}" text-anchor="end" '
        f'font-size="10">{peak:.0%}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
        f'font-size="12"><title>{escape(title)}</title>'
        f'<text x="8" y="16" font-weight="bold">{escape(title)}</text>'
        f"{_legend(width - 210, 16)}{axis}{body}</svg>"
    )


def charts(report: MonitorReport) -> list[str]:
    """An SVG per drifted or flagged feature, then one of the model's scores."""
    flagged = {f.subject for f in report.findings}
    out = []
    for r in report.features:
        if r.distribution is None or r.feature not in flagged:
            continue
        title = f"{r.feature} — PSI {_num(r.psi)}"
        draw = histogram_svg if r.kind == "numeric" else bars_svg
        out.append(draw(r.distribution, title))
    if report.prediction is not None:
        out.append(histogram_svg(report.prediction.distribution, "model score (P positive)"))
    return out


def _html_table(header: list[str], rows: list[list[str]], *, status: bool = False) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr"
        + (' class="flag"' if status and row[-1] != "ok" else "")
        + ">"
        + "".join(f"<td>{escape(c)}</td>" for c in row)
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.verdict { padding: .6rem 1rem; border-radius: 4px; background: #e8f4ea; }
.verdict.drift { background: #fdecea; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; }
tr.flag td { background: #fff4e5; }
svg.chart { display: block; margin: 1rem 0; max-width: 100%; height: auto; }
"""


def html(report: MonitorReport) -> str:
    """A self-contained HTML page: verdict, findings, charts and the feature table."""
    css_class = "verdict drift" if report.drift_detected else "verdict"
    drawn = charts(report)
    findings = "".join(f"<li>{escape(f.message)}</li>" for f in report.findings)
    sources = "".join(
        f"<li>{escape(k)}: <code>{escape(str(v))}</code></li>"
        for k, v in report.sources.items()
        if v is not None
    )
    notes = "".join(f"<p><em>{escape(n)}</em></p>" for n in report.notes)
    perf = ""
    if report.performance is not None:
        p = report.performance
        perf = (
            "<h2>Performance on the labelled batch</h2>"
            f"<p>{escape(p.metric)}: {_num(p.reference)} (reference) → {p.current:.3f} "
            f"on {p.n_labelled:,} labelled rows.</p>"
            + _html_table(["metric", "current"], [[k, f"{v:.4f}"] for k, v in p.metrics.items()])
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Monitoring report</title><style>{_STYLE}</style></head><body>"
        "<h1>Monitoring report</h1>"
        f'<p class="{css_class}" id="verdict">{escape(verdict(report))}</p>'
        + (f"<h2>Findings</h2><ul>{findings}</ul>" if findings else "")
        + "<h2>Distributions</h2>"
        + ("".join(drawn) or "<p>No feature was flagged and no model scored the batch.</p>")
        + perf
        + "<h2>Features</h2>"
        + _html_table(FEATURE_HEADER, _feature_rows(report), status=True)
        + notes
        + (f"<h2>Sources</h2><ul>{sources}</ul>" if sources else "")
        + "</body></html>\n"
    )
