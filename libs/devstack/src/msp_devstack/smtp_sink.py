"""A local SMTP server (aiosmtpd) that keeps every message it accepts as a file: what
`make run` starts so the simulated month's emails can be counted, and what the notify
tests send to (a real SMTP conversation, STARTTLS and AUTH included).

    python -m msp_devstack.smtp_sink --port N --out DIR [--tls] [--auth USER:PASSWORD]

`--tls` offers STARTTLS with a self-signed certificate made at start-up; `--auth`
requires AUTH (after STARTTLS). Each message is written to DIR as `<n>.eml`;
`count_messages(DIR)` counts them by notify's `X-MSP-Kind` header."""

from __future__ import annotations

import argparse
import datetime as dt
import email
import email.policy
import ssl
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Keep:
    """aiosmtpd handler: each accepted message as a numbered .eml file."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.count = len(list(out.glob("*.eml")))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += 1
            name = self.out / f"{self.count:07d}.eml"
        tmp = name.with_suffix(".tmp")
        tmp.write_bytes(envelope.original_content or envelope.content)
        tmp.rename(name)  # readers never see half a message
        return "250 Message accepted for delivery"


def self_signed(folder: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


def count_messages(out: Path, header: str = "X-MSP-Kind") -> dict[str, int]:
    """Messages in `out` by the value of `header` (`?` when absent)."""
    counts: dict[str, int] = {}
    for path in sorted(out.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        kind = str(message.get(header, "?"))
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def serve(port: int, out: Path, *, tls: bool, auth: str | None, host: str = "127.0.0.1") -> None:
    out.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {}
    if tls:
        options["tls_context"] = self_signed(Path(tempfile.mkdtemp(prefix="smtp-sink-")))
        options["require_starttls"] = auth is not None
    if auth is not None:
        user, _, password = auth.partition(":")

        def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            ok = isinstance(data, LoginPassword) and (
                data.login.decode() == user and data.password.decode() == password
            )
            return AuthResult(success=ok)

        options.update(authenticator=check, auth_required=True, auth_require_tls=tls)
    controller = Controller(Keep(out), hostname=host, port=port, server_kwargs=options)
    controller.start()
    print(f"smtp sink listening on {host}:{port}, messages in {out}", flush=True)
    try:
        while True:
            time.sleep(3600)  # the server runs in the controller's thread
    finally:
        controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--auth")
    args = parser.parse_args()
    serve(args.port, args.out, tls=args.tls, auth=args.auth)


if __name__ == "__main__":
    main()
