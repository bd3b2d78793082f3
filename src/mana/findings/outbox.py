"""The alert webhook outbox (`auth.alert_notifications`): written with the alert changes, read
by the notifier. Services flush, never commit (the caller owns the transaction).

Claiming a row moves its `next_attempt_at` forward by a lease that covers one delivery with
all its retries, so two auth processes never post the same row at once, and a row whose
process died mid-delivery becomes due again by itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from mana.findings.models import AlertNotification

Body = dict[str, Any]


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        AlertNotification.delivered_at.is_(None),
        AlertNotification.failed_at.is_(None),
        AlertNotification.next_attempt_at <= now,
    )


async def enqueue(
    session: AsyncSession,
    changes: Iterable[tuple[uuid.UUID, str, Body]],
    *,
    now: datetime,
) -> int:
    """Store one notification per (alert id, event, body); how many were stored."""
    rows = [
        AlertNotification(
            alert_id=alert_id, event=event, body=body, created_at=now, next_attempt_at=now
        )
        for alert_id, event, body in changes
    ]
    session.add_all(rows)
    await session.flush()
    return len(rows)


async def claim_next(
    session: AsyncSession, *, now: datetime, lease: timedelta
) -> AlertNotification | None:
    """The oldest due notification, leased to the caller until `now + lease`."""
    row = await session.scalar(
        sa.select(AlertNotification)
        .where(_due(now))
        .order_by(AlertNotification.created_at, AlertNotification.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if row is not None:
        row.next_attempt_at = now + lease
        await session.flush()
    return row


async def finish(
    session: AsyncSession,
    notification_id: uuid.UUID,
    *,
    now: datetime,
    attempts: int,
    error: str | None,
) -> None:
    """Record the outcome of one delivery: delivered, or given up with the last error."""
    values: dict[str, Any] = {"attempts": AlertNotification.attempts + attempts}
    if error is None:
        values["delivered_at"] = now
    else:
        values["failed_at"], values["last_error"] = now, error[:2000]
    await session.execute(
        sa.update(AlertNotification).where(AlertNotification.id == notification_id).values(values)
    )
