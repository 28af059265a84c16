"""The dispatch order of `GET /v1/queue`: which open ticket a technician takes next.

Rule, in this order:
1. priority (P1 first);
2. tier at equal priority: managed VIP, then managed, then on-demand (seed 004: VIP
   pays for head-of-line service, managed customers go before on-demand ones);
3. time left to breach: the earliest deadline among the ticket's running clocks first;
   a ticket with no running clock (paused, no target) after those that have one;
4. then the oldest ticket, then ticket id (a total, stable order).
`dispatch_key` is the rule; `QUEUE_SQL` orders the same way in Postgres.
"""

from __future__ import annotations

from datetime import datetime

TIER_RANK = {"managed_vip": 0, "managed": 1, "on_demand": 2}
PRIORITY_RANK = {"P1": 1, "P2": 2, "P3": 3, "P4": 4, "P5": 5}
FAR = datetime.max.replace(tzinfo=None)


def dispatch_key(
    *,
    priority: str | None,
    tier: str | None,
    next_due_at: datetime | None,
    opened_at: datetime | None,
    ticket_id: str,
) -> tuple[int, int, int, float, float, str]:
    return (
        PRIORITY_RANK.get(priority or "", 9),
        TIER_RANK.get(tier or "", 9),
        0 if next_due_at is not None else 1,
        next_due_at.timestamp() if next_due_at else 0.0,
        opened_at.timestamp() if opened_at else 0.0,
        ticket_id,
    )


QUEUE_SQL = """
SELECT t.customer_id, t.ticket_id, t.priority, t.tier, t.opened_at,
       min(c.due_at) FILTER (WHERE c.state = 'running') AS next_due_at
FROM tickets t LEFT JOIN clocks c USING (customer_id, ticket_id)
WHERE t.open AND t.opened_at IS NOT NULL AND ($2::text IS NULL OR t.customer_id = $2)
  AND ($3::text[] IS NULL OR t.customer_id = ANY($3))
GROUP BY t.customer_id, t.ticket_id
ORDER BY coalesce(array_position(ARRAY['P1','P2','P3','P4','P5'], t.priority), 9),
         coalesce(array_position(ARRAY['managed_vip','managed','on_demand'], t.tier) - 1, 9),
         min(c.due_at) FILTER (WHERE c.state = 'running') ASC NULLS LAST,
         t.opened_at, t.ticket_id
LIMIT $1
"""
