"""Templates (Jinja2, autoescaped) and the page language: ``?lang=en`` switches and is kept
in a cookie; Chinese otherwise."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from gateway.console.i18n import DEFAULT, STRINGS, term

LANG_COOKIE = "evnet_lang"
_HERE = Path(__file__).parent


@functools.cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def language(request: Request) -> str:
    """The language asked for in the query, else the cookie's, else Chinese."""
    for lang in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if lang in STRINGS:
            return lang
    return DEFAULT


def page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    lang: str | None = None,
) -> HTMLResponse:
    """Render ``template``; ``t`` is the language's strings, ``session`` None unless given."""
    lang = lang or language(request)
    html = (
        _templates()
        .get_template(template)
        .render(
            {
                "t": STRINGS[lang],
                "term": functools.partial(term, lang),
                "lang": lang,
                "path": request.url.path,
                "session": None,
                **context,
            }
        )
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' blob:; media-src 'self' blob:; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.query_params.get("lang") == lang:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 86400, path="/console", samesite="strict"
        )
    return response
