"""Jinja2 rendering: one environment per language (gettext installed once, so rendering is thread-safe), HTML
autoescaping, and the security headers every page gets."""

from __future__ import annotations

from functools import cache
from typing import Any

from babel.dates import format_datetime
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from hospes.web import i18n

# No script at all; styles only from our static files; images only inline (the QR code is inline SVG markup).
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages show personal data and one-time secrets (recovery codes)
}


@cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=PackageLoader("hospes.web", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Added by the i18n extension; newstyle gettext escapes %(name)s values like any other output.
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals["format_datetime"] = lambda value: format_datetime(value, "medium", locale=language)
    return env


def render_html(language: str, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = environment(language).get_template(template).render(lang=language, languages=i18n.NAMES, **context)
    response = HTMLResponse(html, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response
