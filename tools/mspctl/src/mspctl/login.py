"""`mspctl login` / `mspctl logout`: a person signs in with the MSP's identity provider by
the OAuth2 device authorization grant (RFC 8628), so no password ever passes through
mspctl: it prints a link and a code, the person confirms in a browser (with the
provider's own login, MFA and consent), and mspctl receives the tokens.

The tokens are kept in one file readable by the user only (`MSPCTL_TOKEN_FILE`, default
`$XDG_CONFIG_HOME/mspctl/token.json`, i.e. `~/.config/mspctl/token.json`; written with
mode 0600 in a 0700 folder, replaced atomically). Every later command sends the access
token while it is valid and uses the refresh token when it has expired. `MSPCTL_TOKEN`,
when set, still wins.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from mspctl.common import fail, load_settings
from mspctl.settings import CtlSettings

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
EARLY_S = 30
"""A stored access token is refreshed this long before its `expires_at`."""


def token_file(settings: CtlSettings) -> Path:
    if settings.token_file:
        return Path(settings.token_file).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mspctl" / "token.json"


def write_private(path: Path, document: dict[str, Any]) -> None:
    """`document` as JSON at `path`, readable by the user only, replaced atomically (a
    reader never sees half a file; no moment where the tokens are readable by others)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # also when the temporary existed (umask never widens it)
        os.write(fd, json.dumps(document).encode())
    finally:
        os.close(fd)
    os.replace(temporary, path)


def endpoints(settings: CtlSettings, http: httpx.Client) -> tuple[str, str]:
    """(device authorization endpoint, token endpoint) from the issuer's metadata."""
    if not settings.oidc_issuer:
        fail("MSPCTL_OIDC_ISSUER: set the identity provider's issuer to sign in", code=2)
    url = settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = http.get(url)
    except httpx.HTTPError as exc:
        fail(f"MSPCTL_OIDC_ISSUER: {url} is not reachable: {exc}")
    if response.status_code != 200:
        fail(f"MSPCTL_OIDC_ISSUER: {url} answered {response.status_code}")
    metadata = response.json()
    device = metadata.get("device_authorization_endpoint")
    if not isinstance(device, str):
        fail("MSPCTL_OIDC_ISSUER: the provider does not offer the device authorization grant")
    return device, str(metadata["token_endpoint"])


def _stored(document: dict[str, Any], token_url: str, client_id: str) -> dict[str, Any]:
    return {
        "access_token": document["access_token"],
        "refresh_token": document.get("refresh_token"),
        "expires_at": time.time() + float(document.get("expires_in", 300)),
        "token_url": token_url,
        "client_id": client_id,
    }


def stored_token(settings: CtlSettings) -> str | None:
    """The signed-in person's access token (refreshed when it has expired), or None when
    nobody signed in. A refresh the provider refuses ends the command: sign in again."""
    path = token_file(settings)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        fail(f"{path}: unreadable sign-in ({exc}); run `mspctl login` again")
    if float(document.get("expires_at", 0)) - EARLY_S > time.time():
        return str(document["access_token"])
    if not document.get("refresh_token"):
        fail(f"{path}: the sign-in has expired; run `mspctl login` again")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": document["refresh_token"],
        "client_id": document["client_id"],
    }
    try:
        response = httpx.post(document["token_url"], data=form, timeout=settings.http_timeout_s)
    except httpx.HTTPError as exc:
        fail(f"{document['token_url']} is not reachable: {exc}")
    if response.status_code != 200:
        fail(f"the sign-in has expired ({response.text}); run `mspctl login` again")
    refreshed = _stored(response.json(), document["token_url"], document["client_id"])
    write_private(path, refreshed)
    return str(refreshed["access_token"])


def login(
    client_id: Annotated[
        str | None,
        typer.Option("--client-id", help="public client at the provider (MSPCTL_OIDC_CLIENT_ID)"),
    ] = None,
) -> None:
    """Sign in as a person: open the printed link, confirm the code, and mspctl keeps the
    token (user-only file) for the next commands.

    Examples:

      MSPCTL_OIDC_ISSUER=https://sso.example/realms/msp mspctl login --client-id msp-cli

      mspctl login && mspctl incidents list
    """
    settings = load_settings()
    client = client_id or settings.oidc_client_id
    if not client:
        fail("--client-id: give the provider's public client (or MSPCTL_OIDC_CLIENT_ID)", code=2)
    with httpx.Client(timeout=settings.http_timeout_s) as http:
        device_url, token_url = endpoints(settings, http)
        form = {"client_id": client, "scope": settings.oidc_scope or "openid"}
        started = http.post(device_url, data=form)
        if started.status_code != 200:
            fail(f"the provider refused the sign-in: {started.text}")
        grant = started.json()
        link = grant.get("verification_uri_complete") or grant["verification_uri"]
        typer.echo(f"Open {link} and confirm the code {grant['user_code']}", err=True)
        interval = float(grant.get("interval", 5))
        deadline = time.monotonic() + float(grant.get("expires_in", 600))
        poll = {
            "grant_type": DEVICE_GRANT,
            "device_code": grant["device_code"],
            "client_id": client,
        }
        while True:
            if time.monotonic() > deadline:
                fail("the code expired before it was confirmed; run `mspctl login` again")
            time.sleep(interval)  # RFC 8628: poll no faster than the provider's interval
            answer = http.post(token_url, data=poll)
            if answer.status_code == 200:
                break
            error = answer.json().get("error") if answer.content else None
            if error == "slow_down":
                interval += 5
            elif error != "authorization_pending":
                fail(f"sign-in refused: {answer.text}")
    path = token_file(settings)
    write_private(path, _stored(answer.json(), token_url, client))
    typer.echo(f"signed in; token kept in {path}", err=True)


def logout() -> None:
    """Forget the signed-in person's tokens (deletes the token file).

    Examples:

      mspctl logout
    """
    path = token_file(load_settings())
    path.unlink(missing_ok=True)
    typer.echo(f"signed out ({path} removed)", err=True)
