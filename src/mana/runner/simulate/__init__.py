"""`mana simulate`: every persona lives N days in a few minutes, its history dated on those days.

The simulation plays the days in time order as *slots* (one simulated hour each). Each persona
ticks as its cadence says: `daily` once a day at its own hour, `weekdays` the same on Monday to
Friday only, `hourly` once an hour for `hourly_cap` consecutive hours from 08:00 (a real hourly
persona would tick 24 times a day, which no person does and which would make a two-week run
cost hours). A tick runs the ordinary runner code (`run_tick`): a real login, real tokens, a
real MCP session. Only the clock is simulated: the runner's clock (and so `DayContext.today`)
reads the slot's time, and the tick is started with `startedAt`, so the auth service dates all
it writes on the simulated day (`mana.personas.ingest.tick_time`).

Deterministic with the scripted brain: each tick's seed comes from (seed, email, slot time),
and personas that share a space never tick at the same moment — within a slot they go one
after another in email order (they read what the other wrote), while unrelated personas run
side by side.

Modules: `plan` (the schedule and the simulated clock; cheap to import, so the CLI checks its
input before loading the service stack), `summary` (the figures of a run), `run` (playing the
slots with the runner's own tick code).
"""
