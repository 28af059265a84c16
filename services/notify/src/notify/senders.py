"""How a delivery leaves: SMTP for email, HTTP POST for signed webhooks, Slack and
Teams. Each send returns an `Outcome`; it never raises for the receiver's answer.

Per channel, what a crash between sending and recording costs (the worker resends a
delivery left 'sending' once its lease runs out):
* webhook: the resend carries the same `Idempotency-Key` (the delivery id): a receiver
  that honours it sees one delivery (effectively once); one that ignores it may see two.
* Slack, Teams: they ignore idempotency keys: at least once (a crash in that window can
  post twice).
* email: at least once; the resend has the same Message-ID (the delivery id), so a mail
  client or a deduplicating MTA shows one message.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
import time
from dataclasses import dataclass

import httpx

from notify import render
from notify.service import Claimed
from notify.settings import NotifySettings

RETRYABLE_HTTP = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Outcome:
    ok: bool
    http_status: int | None = None
    error: str | None = None
    permanent: bool = False
    """A refusal that retrying cannot change (a 4xx, a rejected mailbox)."""


class Senders:
    def __init__(self, settings: NotifySettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self.secret = settings.webhook_secret.get_secret_value().encode()

    async def send(self, delivery: Claimed) -> Outcome:
        if delivery.channel == "email":
            return await asyncio.to_thread(self._send_email, delivery)
        if delivery.channel == "webhook":
            body = render.webhook_body(
                delivery_id=delivery.delivery_id,
                event_id=delivery.event_id,
                message=delivery.message,
                members=delivery.members,
            )
        elif delivery.channel == "slack":
            body = render.slack_body(delivery.message, delivery.members)
        elif delivery.channel == "teams":
            body = render.teams_body(delivery.message, delivery.members)
        else:
            return Outcome(False, error=f"unknown channel {delivery.channel!r}", permanent=True)
        return await self._post(delivery, json.dumps(body, separators=(",", ":")).encode())

    async def _post(self, delivery: Claimed, body: bytes) -> Outcome:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": delivery.delivery_id,
            "X-Timestamp": timestamp,
            "X-Signature": render.signature(self.secret, timestamp, body),
            "User-Agent": "msp-notify/0.1",
        }
        try:
            response = await self.http.post(
                delivery.address,
                content=body,
                headers=headers,
                timeout=self.settings.http_timeout_s,
            )
        except httpx.HTTPError as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {exc}")
        code = response.status_code
        if 200 <= code < 300:
            return Outcome(True, http_status=code)
        permanent = 400 <= code < 500 and code not in RETRYABLE_HTTP
        return Outcome(False, http_status=code, error=f"HTTP {code}", permanent=permanent)

    def _send_email(self, delivery: Claimed) -> Outcome:
        """Blocking (runs in a thread): STARTTLS when the server offers it (required
        with `smtp_require_tls`), AUTH when a username is set."""
        s = self.settings
        mail = render.email_message(
            delivery_id=delivery.delivery_id,
            sender=s.smtp_from,
            to_name=delivery.recipient_name,
            to_address=delivery.address,
            message=delivery.message,
            members=delivery.members,
        )
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    context = ssl.create_default_context()
                    if not s.smtp_verify_tls:
                        context.check_hostname = False
                        context.verify_mode = ssl.CERT_NONE
                    smtp.starttls(context=context)
                    smtp.ehlo()
                elif s.smtp_require_tls:
                    return Outcome(False, error="the SMTP server offers no STARTTLS")
                if s.smtp_username:
                    password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                    smtp.login(s.smtp_username, password)
                smtp.send_message(mail)
        except smtplib.SMTPResponseException as exc:
            return Outcome(
                False,
                error=f"SMTP {exc.smtp_code}: {exc.smtp_error!r}",
                permanent=500 <= exc.smtp_code < 600,
            )
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return Outcome(
                False,
                error=f"recipient refused: {exc.recipients!r}",
                permanent=all(500 <= c < 600 for c in codes),
            )
        except (smtplib.SMTPException, OSError) as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {exc}")
        return Outcome(True)
