"""Bearer-token auth for writes. Reads stay open; every POST/PUT/PATCH/DELETE needs the token."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="API token (API_TOKEN)")


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    expected = request.app.state.settings.api_token.get_secret_value()
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("this operation needs 'Authorization: Bearer <API_TOKEN>'")
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise Unauthorized("the bearer token is not valid")


WriteAuth = Depends(require_token)
