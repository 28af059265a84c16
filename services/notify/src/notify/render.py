"""A notice shaped for each channel: plain-text email, the signed webhook's JSON body,
Slack's and Microsoft Teams' incoming-webhook messages. Pure functions of the stored
delivery (its notice and the notices grouped into it)."""

from __future__ import annotations

import hashlib
import hmac
import html
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

GROUP_LISTED = 50
"""A grouped message lists this many notices, then says how many more."""
SLACK_HEADER_MAX = 150  # Slack's limit on a header block's text


@dataclass(frozen=True)
class Shaped:
    """What every channel starts from: one title and the text lines."""

    title: str
    lines: tuple[str, ...]
    count: int


def shape(message: dict[str, Any], members: list[dict[str, Any]]) -> Shaped:
    """One notice as is; a group (the first notice plus `members`) as one summary."""
    if not members:
        return Shaped(message["title"], tuple(message["lines"]), 1)
    notices = [message, *members]
    facts = message.get("facts", {})
    where = f"site {facts['site_id']}" if facts.get("site_id") else "one incident"
    label = message["kind"].replace("_", " ")
    title = f"{len(notices)} notices ({label}) at {where} ({message['customer_id']})"
    listed = tuple(f"- {n['title']}" for n in notices[:GROUP_LISTED])
    more = len(notices) - GROUP_LISTED
    tail = (f"... and {more} more.",) if more > 0 else ()
    return Shaped(title, (f"{len(notices)} notices in one message:", *listed, *tail), len(notices))


def webhook_body(
    *, delivery_id: str, event_id: str, message: dict[str, Any], members: list[dict[str, Any]]
) -> dict[str, Any]:
    shaped = shape(message, members)
    return {
        "delivery_id": delivery_id,
        "event_id": event_id,
        "kind": message["kind"],
        "customer_id": message["customer_id"],
        "title": shaped.title,
        "text": "\n".join(shaped.lines),
        "facts": message.get("facts", {}),
        "count": shaped.count,
        "grouped": [m.get("facts", {}) for m in members],
    }


def slack_body(message: dict[str, Any], members: list[dict[str, Any]]) -> dict[str, Any]:
    """Slack incoming webhook: `text` (the notification fallback) and Block Kit blocks."""
    shaped = shape(message, members)
    return {
        "text": shaped.title,
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": shaped.title[:SLACK_HEADER_MAX]},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(shaped.lines)}},
        ],
    }


def teams_body(message: dict[str, Any], members: list[dict[str, Any]]) -> dict[str, Any]:
    """Microsoft Teams incoming webhook (Workflows): a message carrying an Adaptive Card."""
    shaped = shape(message, members)
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": shaped.title, "weight": "Bolder", "wrap": True}
    ]
    body += [{"type": "TextBlock", "text": line, "wrap": True} for line in shaped.lines]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": body,
                },
            }
        ],
    }


def email_message(
    *,
    delivery_id: str,
    sender: str,
    to_name: str,
    to_address: str,
    message: dict[str, Any],
    members: list[dict[str, Any]],
) -> EmailMessage:
    """Plain text; the Message-ID is the delivery id, so a copy resent after a crash
    is recognisable as the same message."""
    shaped = shape(message, members)
    mail = EmailMessage()
    mail["Subject"] = shaped.title
    mail["From"] = sender
    mail["To"] = f"{to_name} <{to_address}>"
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<{delivery_id}@notify.msp>"
    mail["X-MSP-Delivery-Id"] = delivery_id
    mail["X-MSP-Kind"] = message["kind"]
    mail.set_content("\n".join(shaped.lines) + "\n")
    report = message.get("facts", {}).get("report")
    if message["kind"] == "monthly_report" and report is not None:
        mail.add_alternative(report_html(report), subtype="html")
        mail.add_attachment(
            report["csv"].encode(),
            maintype="text",
            subtype="csv",
            filename=f"sla-report-{message['customer_id']}-{report['month']}.csv",
        )
    return mail


def report_html(report: dict[str, Any]) -> str:
    """The monthly report's figures as an HTML page (the event's, i.e. the API's)."""
    e = html.escape
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{e(str(line[k]) if line[k] is not None else '-')}</td>" for k in REPORT_COLUMNS
        )
        + "</tr>"
        for line in report["summary"]
    )
    heads = "".join(f"<th>{e(k.replace('_', ' '))}</th>" for k in REPORT_COLUMNS)
    a = report["availability"]
    breaches = "".join(
        f"<li>{e(b['ticket_id'])} {e(b['metric'])} {e(b['priority'])}: {e(b['reason'])}</li>"
        for b in report["breaches"]
    )
    return (
        f"<html><body><h1>SLA report {e(report['month'])}</h1>"
        f"<p>Time zone {e(report['timezone'])}; figures as of {e(report['as_of'])}; "
        f"{report['clocks']} clocks, {report['breaches_total']} breached.</p>"
        f"<table><tr>{heads}</tr>{rows}</table>"
        f"<p>Mean time to respond: {e(str(report['mean_time_to_respond_seconds']))} s; "
        f"to resolve: {e(str(report['mean_time_to_resolve_seconds']))} s.</p>"
        f"<p>Availability: {e(str(a['measured_percent']))}% "
        f"(target {e(str(a['target_percent']))}%), downtime {a['downtime_seconds']} s "
        f"over {a['incidents']} incidents.</p>"
        f"<ul>{breaches}</ul><p>The CSV attached has one row per clock.</p></body></html>"
    )


REPORT_COLUMNS = (
    "metric",
    "priority",
    "clocks",
    "met",
    "breached",
    "pending",
    "cancelled",
    "met_percent",
    "mean_business_seconds",
)


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """`X-Signature`: HMAC-SHA256 over `<X-Timestamp>.<body>`, hex, prefixed `sha256=`."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: bytes, timestamp: str, body: bytes, presented: str) -> bool:
    """What a receiver does (constant-time comparison)."""
    return hmac.compare_digest(signature(secret, timestamp, body), presented)
