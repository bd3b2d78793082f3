"""What every dashboard route needs: the request's session, rendering, and the sign-in redirect."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from mana.dashboard.sessions import Session

HERE = Path(__file__).parent


class SignInRequired(Exception):
    """A signed-out visitor asked for a page: send them to the sign-in page, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfFailed(Exception):
    """A form came without this session's CSRF token."""


def csrf_failed_page(request: Request) -> Response:
    return error_page(
        request,
        403,
        "This form has expired",
        "Reload the page and try again (forms stay valid while you are signed in).",
    )


def sign_in_url(next_path: str, **extra: str) -> str:
    return "/signin?" + urlencode({**extra, "next": next_path})


def current_session(request: Request) -> Session:
    # Static files skip the session middleware; their error pages render signed out.
    session: Session | None = getattr(request.state, "session", None)
    return session if session is not None else Session()


def set_session(request: Request, session: Session) -> None:
    """Replace the request's session; the response carries it in the cookie."""
    request.state.session = session
    request.state.session_changed = True


def render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        template,
        {"session": current_session(request), **context},
        status_code=status_code,
    )


def error_page(request: Request, status_code: int, title: str, message: str) -> Response:
    return render(
        request, "error.html", {"title": title, "message": message}, status_code=status_code
    )


def request_path(request: Request) -> str:
    """Path and query of this request: where to come back to after signing in. A form post
    cannot be replayed by a redirect, so it comes back to the overview."""
    if request.method != "GET":
        return "/"
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")
