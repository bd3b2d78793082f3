"""What every dashboard route needs: the request's session, rendering, and the sign-in redirect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def current_session(request: Request) -> Session:
    session: Session = request.state.session
    return session


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
    """Path and query of this request: where to come back to after signing in."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")
