"""What every command shares: settings built at run time, clear failures, HTTP calls to
the services, and printing."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import httpx
import typer
from pydantic import ValidationError

from mspctl.settings import CtlSettings


def fail(message: str, *, code: int = 1) -> NoReturn:
    typer.echo(f"mspctl: {message}", err=True)
    raise typer.Exit(code)


def load_settings() -> CtlSettings:
    try:
        return CtlSettings()
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        fail(f"bad configuration: {fields}", code=2)


def call(
    settings: CtlSettings,
    service: str,
    method: str,
    path: str,
    *,
    ok: Sequence[int] = (200,),
    **kwargs: Any,
) -> httpx.Response:
    """One request to a service's API; a refused connection or an unexpected status ends
    the command with the service's own error text (which names the field at fault)."""
    url = settings.service_url(service) + path
    headers = {**operator_headers(settings), **kwargs.pop("headers", {})}
    try:
        response = httpx.request(
            method, url, timeout=settings.http_timeout_s, headers=headers, **kwargs
        )
    except httpx.HTTPError as exc:
        fail(f"{service} is not reachable at {settings.service_url(service)}: {exc}")
    if response.status_code not in ok:
        fail(f"{service} answered {response.status_code} to {method} {path}: {response.text}")
    return response


_TOKENS: dict[str, str] = {}


def operator_headers(settings: CtlSettings) -> dict[str, str]:
    """The operator's credential: MSPCTL_TOKEN as is, else the person signed in with
    `mspctl login` (device grant), else an access token from the provider's token
    endpoint by the OAuth2 client-credentials grant (once per run), else none (the
    services answer 401, naming the header)."""
    from mspctl.login import stored_token  # login builds on this module

    token = settings.token.get_secret_value() if settings.token is not None else ""
    if token:
        return {"authorization": f"Bearer {token}"}
    signed_in = stored_token(settings)
    if signed_in:
        return {"authorization": f"Bearer {signed_in}"}
    if not (settings.oidc_token_url and settings.oidc_client_id):
        return {}
    if "token" not in _TOKENS:
        secret = settings.oidc_client_secret
        form = {"grant_type": "client_credentials", "client_id": settings.oidc_client_id}
        if secret is not None:
            form["client_secret"] = secret.get_secret_value()
        if settings.oidc_scope:
            form["scope"] = settings.oidc_scope
        try:
            response = httpx.post(settings.oidc_token_url, data=form, timeout=30)
        except httpx.HTTPError as exc:
            fail(f"oidc_token_url: {settings.oidc_token_url} is not reachable: {exc}")
        if response.status_code != 200:
            fail(f"oidc_token_url: the provider refused the client: {response.text}")
        _TOKENS["token"] = str(response.json()["access_token"])
    return {"authorization": f"Bearer {_TOKENS['token']}"}


def answers(url: str) -> bool:
    """True when something answers HTTP at `url` (any status)."""
    try:
        httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return False
    return True


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """A plain aligned text table (stable for scripts and tests; no terminal tricks)."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    typer.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def stderr(message: str) -> None:
    print(message, file=sys.stderr)
