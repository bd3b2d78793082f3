"""What model calls cost, and the day's spend that the daily budget is checked against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date

from mana.kit.clock import Clock


@dataclass(frozen=True)
class Prices:
    input_usd_per_mtok: float
    output_usd_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok
        ) / 1_000_000


@dataclass(frozen=True)
class Reservation:
    day: date
    amount: float


class DailySpend:
    """Model spend per UTC date, shared by every tick one brain instance runs.

    A call's worst-case cost is reserved before it is made and settled with the real cost
    afterwards, so concurrent ticks cannot all pass the check and then overspend together.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or Clock()
        self._day: date | None = None
        self._spent = 0.0
        self._reserved = 0.0

    @property
    def today(self) -> date:
        today = self._clock.now().astimezone(UTC).date()
        if today != self._day:
            self._day, self._spent, self._reserved = today, 0.0, 0.0
        return today

    @property
    def spent(self) -> float:
        _ = self.today
        return self._spent

    def committed(self) -> float:
        """Spent today plus what calls in flight may still cost."""
        _ = self.today
        return self._spent + self._reserved

    def reserve(self, amount: float) -> Reservation:
        reservation = Reservation(day=self.today, amount=amount)
        self._reserved += amount
        return reservation

    def settle(self, reservation: Reservation, actual: float) -> None:
        if reservation.day == self.today:
            self._reserved = max(0.0, self._reserved - reservation.amount)
        # A call that straddled midnight is paid today: that is when the money went.
        self._spent += actual
