"""The web console (issue 9): server-rendered pages over the gateway's own route functions,
authenticated by the API's bearer tokens held in an HttpOnly cookie."""

from gateway.console.pages import router

__all__ = ["router"]
