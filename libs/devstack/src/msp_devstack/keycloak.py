"""A real OIDC provider for the tests: Keycloak's server distribution from Maven Central.

`fetch_keycloak()` unpacks `org.keycloak:keycloak-quarkus-dist` (tar.gz) once with `mvn`
into `.local/keycloak/<version>/` and runs its build step once (`kc.sh build
--db=dev-mem`: an in-memory database, nothing written between runs). Each start uses a
local cache (`--cache=local`), so parallel test sessions never cluster together., so a start is an
`--optimized` start. It runs on the JDK 17 the broker uses.

`LocalKeycloak` starts it on free loopback ports, waits (with a deadline) for the
master realm, then sets up the test realm of `resources/keycloak-realm.json` through
the admin REST API: realm roles, the `mspctl` confidential client (client credentials,
service account with admin/dispatcher/billing) and the `msp-cli` public client
(password and device grants), each with an audience mapper (`aud: msp-api`), and
`msp-cli` with a mapper from the user attribute `customer_ids` to the claim
`customer_ids`. Users and their roles are created after the realm's user profile is
told to keep unmanaged attributes (Keycloak 26 drops them by default). The JSON's
`users`, `serviceAccountRoles` and `password` keys are ours, not Keycloak's.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Generator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from msp_devstack.kafka import FetchError, _file_lock, require_java, require_tool
from msp_devstack.paths import local_dir
from msp_devstack.processes import StartupError, free_port, log_tail, spawn, stop_process_group

log = logging.getLogger("msp_devstack.keycloak")

KEYCLOAK_VERSION = "26.4.7"
REALM = "msp"
AUDIENCE = "msp-api"
ADMIN_USER, ADMIN_PASSWORD = "admin", "admin-test-pass"
HTTP_TIMEOUT_S = 120.0
"""Per request: the first requests after a start (password hashing, class loading) can
take tens of seconds on a loaded 2-core machine."""


def realm_document() -> dict[str, Any]:
    text = resources.files("msp_devstack").joinpath("resources/keycloak-realm.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return document


BUILD_OPTIONS = ("--db=dev-mem", "--health-enabled=false")
"""Built into the distribution once: an in-memory database (nothing kept between runs)."""


def keycloak_home(version: str = KEYCLOAK_VERSION) -> Path:
    return local_dir() / "keycloak" / version


def fetch_keycloak() -> Path:
    """`.local/keycloak/<version>/keycloak-<version>`, unpacked and built once."""
    base = keycloak_home()
    home = base / f"keycloak-{KEYCLOAK_VERSION}"
    marker = base / "built.json"
    wanted = {"version": KEYCLOAK_VERSION, "build": list(BUILD_OPTIONS)}

    def built() -> bool:
        try:
            return bool(json.loads(marker.read_text()) == wanted)
        except (OSError, ValueError):
            return False

    if built() and (home / "bin" / "kc.sh").exists():
        return home
    mvn = require_tool("mvn", "Apache Maven fetches Keycloak from Maven Central once")
    java = require_java()
    base.mkdir(parents=True, exist_ok=True)
    with _file_lock(base / ".fetch.lock"):
        if built() and (home / "bin" / "kc.sh").exists():
            return home
        started = time.monotonic()
        shutil.rmtree(home, ignore_errors=True)
        unpack = [
            mvn, "-q", "-B",
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:unpack",
            f"-Dartifact=org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:tar.gz",
            f"-DoutputDirectory={base}",
            # the plugin skips what its markers say it unpacked: keep them out of the way
            f"-DmarkersDirectory={base / '.markers' / str(time.time_ns())}",
        ]  # fmt: skip
        done = subprocess.run(unpack, capture_output=True, text=True, check=False, cwd=base)
        if done.returncode != 0 or not (home / "bin" / "kc.sh").exists():
            tail = (done.stdout + done.stderr).strip().splitlines()[-20:]
            raise FetchError(f"fetching Keycloak {KEYCLOAK_VERSION} failed:\n" + "\n".join(tail))
        env = {**os.environ, "JAVA": java}
        build = [str(home / "bin" / "kc.sh"), "build", *BUILD_OPTIONS]
        done = subprocess.run(build, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-20:]
            raise FetchError("`kc.sh build` failed:\n" + "\n".join(tail))
        marker.write_text(json.dumps(wanted))
        log.info("fetched and built Keycloak in %.0f s", time.monotonic() - started)
    return home


@dataclass
class LocalKeycloak:
    data_dir: Path
    start_timeout_s: float = 480.0
    """A JVM start: 30-90 s alone, several minutes on a 2-core machine under load."""
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    password: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{REALM}"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "keycloak.log"

    def start(self) -> LocalKeycloak:
        home = fetch_keycloak()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "JAVA": require_java(),
            "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
        argv = [
            str(home / "bin" / "kc.sh"), "start", "--optimized",
            "--http-enabled=true", "--hostname-strict=false", "--http-host=127.0.0.1",
            "--cache=local",
            f"--http-port={self.port}", f"--http-management-port={free_port()}",
        ]  # fmt: skip
        self.proc = spawn(argv, self.log_path, env=env)
        self._wait_until_up()
        self._set_up_realm()
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc, "keycloak", timeout=30)
            self.proc = None

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if self.proc is None or self.proc.poll() is not None:
                raise StartupError(f"Keycloak exited while starting:\n{log_tail(self.log_path)}")
            try:
                r = httpx.get(
                    f"{self.url}/realms/master/.well-known/openid-configuration", timeout=10
                )
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise StartupError(
                    f"Keycloak did not answer within {self.start_timeout_s:.0f} s:\n"
                    f"{log_tail(self.log_path)}"
                )
            time.sleep(0.5)  # poll tick while the JVM starts

    # -- admin REST API ----------------------------------------------------------------
    def admin(self) -> httpx.Client:
        """A client of the admin REST API of the test realm, signed in as the admin (a
        new admin token whenever one expires: they live 60 s, and setting up the realm
        takes longer than that on a loaded machine)."""
        return httpx.Client(
            base_url=f"{self.url}/admin/realms",
            auth=_AdminAuth(f"{self.url}/realms/master/protocol/openid-connect/token"),
            timeout=HTTP_TIMEOUT_S,
        )

    def _set_up_realm(self) -> None:
        document = realm_document()
        users = document.pop("users")
        service_roles: dict[str, list[str]] = document.pop("serviceAccountRoles")
        self.password = document.pop("password")
        with self.admin() as api:
            _ok(api.post("", json=document))
            profile = api.get(f"/{REALM}/users/profile").json()
            profile["unmanagedAttributePolicy"] = "ENABLED"
            _ok(api.put(f"/{REALM}/users/profile", json=profile))
            roles = {r["name"]: r for r in api.get(f"/{REALM}/roles").json()}
            for user in users:
                body = {
                    "username": user["username"],
                    "firstName": user["firstName"],
                    "lastName": user["lastName"],
                    "email": user["email"],
                    "emailVerified": True,
                    "enabled": True,
                    "attributes": {"customer_ids": user["customer_ids"]},
                    "credentials": [
                        {"type": "password", "value": self.password, "temporary": False}
                    ],
                }
                _ok(api.post(f"/{REALM}/users", json=body))
                found = api.get(f"/{REALM}/users", params={"username": user["username"]}).json()
                user_id = found[0]["id"]
                self.users[user["username"]] = {**user, "id": user_id}
                granted = [roles[r] for r in user["roles"]]
                if granted:
                    _ok(api.post(f"/{REALM}/users/{user_id}/role-mappings/realm", json=granted))
            for client_id, names in service_roles.items():
                (client,) = api.get(f"/{REALM}/clients", params={"clientId": client_id}).json()
                account = api.get(f"/{REALM}/clients/{client['id']}/service-account-user").json()
                granted = [roles[n] for n in names]
                _ok(api.post(f"/{REALM}/users/{account['id']}/role-mappings/realm", json=granted))

    # -- tokens ------------------------------------------------------------------------
    def user_token(self, username: str) -> str:
        """An access token by the resource-owner password grant (client `msp-cli`)."""
        return self._token(
            {
                "grant_type": "password",
                "client_id": "msp-cli",
                "username": username,
                "password": self.password,
            }
        )

    def client_token(self, client_id: str = "mspctl", secret: str | None = None) -> str:
        """An access token by the client-credentials grant."""
        if secret is None:
            (client,) = [c for c in realm_document()["clients"] if c["clientId"] == client_id]
            secret = str(client["secret"])
        return self._token(
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        )

    def approve_device(self, link: str, username: str) -> None:
        """What a person does in the browser for the device grant: open `link` (the
        `verification_uri_complete`), sign in as `username`, grant access if asked."""
        with httpx.Client(follow_redirects=True, timeout=HTTP_TIMEOUT_S) as browser:

            def loopback_is_secure(_response: httpx.Response) -> None:
                # Browsers treat loopback http as a secure context and send Keycloak's
                # `Secure` session cookies back to it; the standard cookie jar would not.
                for cookie in browser.cookies.jar:
                    cookie.secure = False

            browser.event_hooks["response"] = [loopback_is_secure]
            page = browser.get(link)
            page.raise_for_status()
            action, fields = _form(page, "kc-form-login")
            fields |= {"username": username, "password": self.password}
            page = browser.post(action, data=fields)
            page.raise_for_status()
            if 'name="accept"' in page.text:  # the consent screen
                action, fields = _form(page, None)
                page = browser.post(action, data={**fields, "accept": "Yes"})
                page.raise_for_status()
            if "kc-form-login" in page.text or "kc-error-message" in page.text:
                raise StartupError(f"device sign-in of {username} was not accepted:\n{page.text}")

    def _token(self, form: dict[str, str]) -> str:
        r = httpx.post(self.token_url, data=form, timeout=HTTP_TIMEOUT_S)
        if r.status_code != 200:
            raise RuntimeError(f"Keycloak refused the grant: {r.status_code} {r.text}")
        return str(r.json()["access_token"])

    def rotate_signing_key(self) -> str:
        """Add a new RS256 key with a higher priority than any (new tokens are signed
        with it) and disable the previous ones; returns the new key's `kid`."""
        with self.admin() as api:
            realm_id = api.get(f"/{REALM}").json()["id"]
            before = api.get(f"/{REALM}/keys").json()["keys"]
            old = [k for k in before if k.get("algorithm") == "RS256" and k["use"] == "SIG"]
            top = max(int(k.get("providerPriority", 0)) for k in old)
            body = {
                "name": f"rotated-{int(time.time() * 1000)}",
                "providerId": "rsa-generated",
                "providerType": "org.keycloak.keys.KeyProvider",
                "parentId": realm_id,
                "config": {"priority": [str(top + 100)], "algorithm": ["RS256"]},
            }
            _ok(api.post(f"/{REALM}/components", json=body))
            for k in old:
                component = api.get(f"/{REALM}/components/{k['providerId']}").json()
                component["config"]["active"] = ["false"]
                _ok(api.put(f"/{REALM}/components/{k['providerId']}", json=component))
            after = api.get(f"/{REALM}/keys").json()["keys"]
            new = [
                k["kid"]
                for k in after
                if k.get("algorithm") == "RS256" and k["kid"] not in {o["kid"] for o in old}
            ]
        return str(new[0])


def _ok(response: httpx.Response) -> None:
    if response.status_code >= 300:
        raise StartupError(
            f"Keycloak admin API: {response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text}"
        )


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class _AdminAuth(httpx.Auth):
    """Bearer auth with the master realm's admin, signing in again on a 401."""

    def __init__(self, token_url: str) -> None:
        self.token_url = token_url
        self.token = ""

    def _sign_in(self) -> None:
        form = {
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD,
        }
        r = httpx.post(self.token_url, data=form, timeout=HTTP_TIMEOUT_S)
        r.raise_for_status()
        self.token = str(r.json()["access_token"])

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self.token:
            self._sign_in()
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            self._sign_in()
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


def _form(page: httpx.Response, form_id: str | None) -> tuple[str, dict[str, str]]:
    """The absolute action URL and the hidden fields of a form of a Keycloak page (the
    one with `form_id`, else the first)."""
    for match in re.finditer(r"<form\b[^>]*>(.*?)</form>", page.text, re.S):
        tag = match.group(0)[: match.group(0).index(">") + 1]
        if form_id is not None and f'id="{form_id}"' not in tag:
            continue
        action = re.search(r'action="([^"]+)"', tag)
        if action is None:
            continue
        hidden = {}
        for field_tag in re.findall(r"<input\b[^>]*>", match.group(1)):
            name = re.search(r'name="([^"]*)"', field_tag)
            value = re.search(r'value="([^"]*)"', field_tag)
            if 'type="hidden"' in field_tag and name:
                hidden[name.group(1)] = html.unescape(value.group(1)) if value else ""
        return str(page.url.join(html.unescape(action.group(1)))), hidden
    raise StartupError(f"no form {form_id or ''} on the page:\n{page.text[:2000]}")
