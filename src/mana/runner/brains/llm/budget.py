"""What model calls cost, and the day's spend that the daily budget is checked against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date

from mana.kit.clock import Clock

# What the providers charge for cached prompt tokens, relative to plain input (their price lists,
# 2025): Anthropic writes a 5-minute cache entry at 1.25x and reads it at 0.1x; OpenAI's
# automatic caching costs nothing extra to write and reads at 0.1x (gpt-5 family; older models
# 0.25-0.5x, which this overestimates slightly).
ANTHROPIC_CACHE_WRITE_RATIO = 1.25
ANTHROPIC_CACHE_READ_RATIO = 0.1
OPENAI_CACHE_READ_RATIO = 0.1


@dataclass(frozen=True)
class Prices:
    """USD per million tokens. `input_tokens` everywhere is the whole prompt; the cached part
    of it (written to or read from the provider's prompt cache) is priced apart."""

    input_usd_per_mtok: float
    output_usd_per_mtok: float
    cache_write_usd_per_mtok: float | None = None  # None: as plain input
    cache_read_usd_per_mtok: float | None = None

    @classmethod
    def with_cache_ratios(
        cls, input_usd: float, output_usd: float, *, write_ratio: float, read_ratio: float
    ) -> Prices:
        return cls(input_usd, output_usd, input_usd * write_ratio, input_usd * read_ratio)

    @property
    def cache_write(self) -> float:
        return (
            self.input_usd_per_mtok
            if self.cache_write_usd_per_mtok is None
            else (self.cache_write_usd_per_mtok)
        )

    @property
    def cache_read(self) -> float:
        return (
            self.input_usd_per_mtok
            if self.cache_read_usd_per_mtok is None
            else (self.cache_read_usd_per_mtok)
        )

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        *,
        cache_write_tokens: int = 0,
        cache_read_tokens: int = 0,
    ) -> float:
        uncached = max(0, input_tokens - cache_write_tokens - cache_read_tokens)
        return (
            uncached * self.input_usd_per_mtok
            + cache_write_tokens * self.cache_write
            + cache_read_tokens * self.cache_read
            + output_tokens * self.output_usd_per_mtok
        ) / 1_000_000

    def worst_case(self, input_tokens: int, output_tokens: int) -> float:
        """Before a call: every prompt token may be new and written to the cache (the dearest
        way to pay for it), and the model may write its maximum."""
        per_input = max(self.input_usd_per_mtok, self.cache_write)
        return (input_tokens * per_input + output_tokens * self.output_usd_per_mtok) / 1_000_000


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
