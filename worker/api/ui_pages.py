"""The HTML of the operators' pages (:mod:`worker.api.ui`): plain HTML, every value escaped.

No inline script or style (the pages' Content-Security-Policy forbids them): the page's
figures sit in elements with ``data-field`` / ``data-count`` names that ``ui.js`` updates,
and the chart is an SVG the script draws into (``#rate-chart``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any, Final
from urllib.parse import quote

from worker.campaign.model import COUNTED_STATES
from worker.identity.principals import Principal

__all__ = ["campaign_page", "list_page", "login_page", "settled"]

_SETTLED: Final = ("succeeded", "failed", "skipped", "cancelled")


def settled(document: Mapping[str, Any]) -> int:
    """Rows of a campaign status document that reached a final state."""
    counts = document.get("counts") or {}
    return sum(int(counts.get(state, 0)) for state in _SETTLED)


def _text(value: object) -> str:
    return "" if value is None else escape(str(value))


def _seconds(value: object) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def _page(title: str, body: str, *, principal: Principal | None = None, csrf: str = "") -> str:
    who = ""
    if principal is not None:
        logout = '<button type="button" id="logout">Log out</button>' if csrf else ""
        who = f'<span class="who">{_text(principal.name)}</span> {logout}'
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="csrf-token" content="{_text(csrf)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_text(title)} - cognito-courier</title>"
        '<link rel="stylesheet" href="/ui/static/ui.css">'
        '<script src="/ui/static/ui.js" defer></script></head>\n'
        f'<body><header><a href="/ui/">cognito-courier</a> {who}</header>\n'
        f"<main>{body}</main></body></html>\n"
    )


def login_page(*, error: str | None = None) -> str:
    """The login form: a bearer token in, a session cookie out."""
    shown = f'<p class="error" role="alert">{_text(error)}</p>' if error else ""
    form = (
        "<h1>Log in</h1>" + shown + '<form method="post" action="/ui/login">'
        '<label for="token">API token</label> '
        '<input type="password" id="token" name="token" autocomplete="current-password" '
        "required> "
        '<button type="submit" id="login">Log in</button></form>'
        "<p>The token is one of COURIER_API_TOKENS or COURIER_API_TOKENS_FILE (under "
        "<code>courier api --dev</code>: the one it printed at start); the page keeps a "
        "session cookie, never the token.</p>"
    )
    return _page("Log in", form)


def list_page(principal: Principal, documents: Sequence[Mapping[str, Any]], *, csrf: str) -> str:
    """The campaigns table (newest first)."""
    rows = []
    for doc in documents:
        ident = _text(doc.get("id"))
        total = int(doc.get("total") or 0)
        rows.append(
            f'<tr><td><a href="/ui/campaigns/{quote(str(doc.get("id")))}">'
            f"{_text(doc.get('name'))}</a><br><small>{ident}</small></td>"
            f'<td class="state-{_text(doc.get("state"))}">{_text(doc.get("state"))}</td>'
            f"<td>{settled(doc)} / {total}</td><td>{_text(doc.get('rate'))}/s</td>"
            f"<td>{_seconds(doc.get('eta_seconds'))}</td><td>{_text(doc.get('created_at'))}</td>"
            "</tr>"
        )
    table = (
        '<table id="campaigns"><thead><tr><th>Campaign</th><th>State</th><th>Settled</th>'
        "<th>Rate</th><th>ETA</th><th>Created</th></tr></thead><tbody>"
        + ("".join(rows) or '<tr><td colspan="6">No campaign stored.</td></tr>')
        + "</tbody></table>"
    )
    return _page("Campaigns", "<h1>Campaigns</h1>" + table, principal=principal, csrf=csrf)


def _counts(document: Mapping[str, Any]) -> str:
    counts = document.get("counts") or {}
    cells = "".join(
        f'<tr><th>{state}</th><td data-count="{state}">{int(counts.get(state, 0))}</td></tr>'
        for state in COUNTED_STATES
    )
    rejected = int(document.get("rejected") or 0)
    cells += f'<tr><th>rejected input</th><td data-field="rejected">{rejected}</td></tr>'
    return f'<table id="counts"><caption>Rows by state</caption>{cells}</table>'


def _errors(errors: Iterable[Mapping[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{_text(e['code'])}</td><td>{_text(e['state'])}</td><td>{int(e['count'])}</td></tr>"
        for e in errors
    )
    return (
        '<table id="errors"><caption>Outcomes by Cognito error code</caption>'
        "<thead><tr><th>Code</th><th>State</th><th>Rows</th></tr></thead>"
        f"<tbody>{rows or '<tr><td colspan=3>none</td></tr>'}</tbody></table>"
    )


def _rejects(rejects: Iterable[tuple[int, str]]) -> str:
    rows = "".join(f"<tr><td>{line}</td><td>{_text(reason)}</td></tr>" for line, reason in rejects)
    return (
        '<table id="rejects"><caption>Rejected input rows (first 1,000)</caption>'
        "<thead><tr><th>Line</th><th>Reason</th></tr></thead>"
        f"<tbody>{rows or '<tr><td colspan=2>none</td></tr>'}</tbody></table>"
    )


def _pause_reason(document: Mapping[str, Any]) -> str:
    reason = document.get("pause_reason")
    if not reason:
        return ""
    code, message, at = (_text(reason.get(k)) for k in ("code", "message", "at"))
    return f"{code}: {message} (at {at})"


def campaign_page(
    principal: Principal,
    document: Mapping[str, Any],
    *,
    errors: Sequence[Mapping[str, Any]],
    rejects: Sequence[tuple[int, str]],
    csrf: str,
) -> str:
    """One campaign: figures, the rate chart, counts, error codes, rejects, controls.

    The controls are shown only when ``principal`` holds the ``campaigns`` scope.
    """
    ident = str(document["id"])
    total = int(document.get("total") or 0)
    done = settled(document)
    share = (document.get("share") or {}).get("rate_per_second")
    controls = ""
    if principal.missing_scope("campaigns") is None:
        controls = (
            '<div id="controls">'
            + "".join(
                f'<button type="button" data-control="{name}">{name.title()}</button> '
                for name in ("pause", "resume", "cancel")
            )
            + '<span id="control-error" class="error" role="alert"></span></div>'
        )
    figures = (
        '<dl id="figures">'
        f'<dt>State</dt><dd data-field="state">{_text(document.get("state"))}</dd>'
        f'<dt>Pause reason</dt><dd data-field="pause_reason">{_pause_reason(document) or "-"}</dd>'
        f'<dt>Settled</dt><dd><span data-field="settled">{done}</span> / '
        f'<span data-field="total">{total}</span></dd>'
        f'<dt>Rate</dt><dd><span data-field="rate">{_text(document.get("rate"))}</span>'
        " calls/s</dd>"
        f'<dt>Budget share</dt><dd><span data-field="share">{_text(share) or "-"}</span> calls/s '
        f'(weight <span data-field="weight">{_text(document.get("weight"))}</span>)</dd>'
        f'<dt>ETA</dt><dd data-field="eta">{_seconds(document.get("eta_seconds"))}</dd>'
        f'<dt>Updated</dt><dd data-field="updated_at">{_text(document.get("updated_at"))}</dd>'
        "</dl>"
    )
    chart = (
        '<figure><svg id="rate-chart" viewBox="0 0 600 200" role="img" '
        'aria-label="calls per second over time, against the budget share">'
        '<line class="axis" x1="40" y1="196" x2="596" y2="196"/>'
        '<line class="axis" x1="40" y1="4" x2="40" y2="196"/>'
        '<polyline id="rate-line" points=""/><polyline id="share-line" points=""/>'
        '<text id="chart-max" x="44" y="14"></text><text id="chart-span" x="520" y="14"></text>'
        "</svg>"
        '<figcaption><span class="key-rate">calls in each second</span> against the '
        '<span class="key-share">budget share</span> (calls/s)</figcaption></figure>'
    )
    body = (
        f'<section id="campaign" data-campaign-id="{_text(ident)}" '
        f'data-live-url="/ui/campaigns/{quote(ident)}/live">'
        f"<h1>{_text(document.get('name'))}</h1><p><small>{_text(ident)}</small></p>"
        f'<progress id="progress" max="{max(total, 1)}" value="{done}"></progress>'
        f"{controls}{figures}{chart}{_counts(document)}{_errors(errors)}{_rejects(rejects)}"
        "</section>"
    )
    return _page(str(document.get("name") or ident), body, principal=principal, csrf=csrf)
