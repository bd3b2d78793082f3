"""The dashboard at scale: its pages beside the findings API call each one makes.

    python -m bench.dashboard_bench                     # 10,000 personas, 1,000,000 actions
    python -m bench.dashboard_bench --personas 1000 --actions 100000 --iterations 5

Loads a throwaway PostgreSQL database like the findings bench (COPY, then failures, notes and
observations made realistic), starts the auth service and the dashboard in processes of their
own, signs in, and measures for the overview (14 days) and the `todo` module page (14 days):

  - the findings API call the page makes (GET with the admin's token), the baseline;
  - the page's time to first byte (response headers) over plain HTTP — the page is rendered
    once its API answer is in, so this is the API call plus the dashboard's own work;
  - the full load in Debian's Chromium: from navigation start until the `load` event and until
    every chart is drawn (the page's own marker, `data-charts-ready`).

Each figure is a median over `--iterations` runs, printed as a ratio to the API call measured
in the same run (these machines are noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import uvicorn
from playwright.sync_api import Page, sync_playwright

from bench.databases import DEFAULT_DSN, postgres_database
from bench.findings_bench import make_realistic
from bench.personas_bench import ADMIN_EMAIL, ADMIN_PASSWORD, auth_server, load, say
from mana.config import Settings
from mana.dashboard.app import create_dashboard_app
from mana.kit.server import free_port, uvicorn_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = [
    ("overview, 14 days", "/?days=14", "/api/v1/admin/findings?days=14"),
    (
        "module todo, 14 days",
        "/modules/todo?days=14",
        "/api/v1/admin/findings/modules/todo?days=14&maxRating=5",
    ),
]


def _serve_dashboard(auth_url: str, port: int) -> None:
    settings = Settings(_env_file=None, auth_url=auth_url)  # type: ignore[call-arg]
    uvicorn.Server(
        uvicorn_config(create_dashboard_app(settings), host="127.0.0.1", port=port)
    ).run()


@contextlib.contextmanager
def dashboard_server(auth_url: str) -> Iterator[str]:
    """The dashboard in a process of its own, like the auth service (no shared GIL)."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_dashboard, args=(auth_url, port)
    )
    process.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if not process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the dashboard did not start")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.join(15)


def median_ms(fn: Callable[[], float], iterations: int, warmup: int = 2) -> tuple[float, float]:
    """Median and p95 of what `fn` returns (seconds), in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = sorted(fn() for _ in range(iterations))
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    return statistics.median(samples) * 1000, p95 * 1000


def _elapsed(call: Callable[[], None]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def signed_in_http(dashboard_url: str) -> httpx.Client:
    client = httpx.Client(base_url=dashboard_url, timeout=300)
    form = client.get("/signin").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf, "no CSRF token on the sign-in page"
    answer = client.post(
        "/signin", data={"csrf": csrf.group(1), "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert answer.status_code == 303, answer.text
    return client


def time_to_first_byte(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    with client.stream("GET", path) as response:
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.status_code
        response.read()
    return elapsed


def browser_load(tab: Page, url: str) -> tuple[float, float]:
    """Seconds from navigation start to the `load` event and to every chart drawn."""
    tab.goto(url, wait_until="load")
    tab.wait_for_function("document.documentElement.dataset.chartsReady === 'true'")
    charts = tab.evaluate("performance.now()") / 1000
    load_end = tab.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000
    return load_end, charts


def measure(auth_url: str, dashboard_url: str, *, iterations: int) -> None:
    with httpx.Client(base_url=auth_url, timeout=300) as anonymous:
        token = anonymous.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        ).json()["token"]
    api = httpx.Client(base_url=auth_url, timeout=300, headers={"Authorization": f"Bearer {token}"})
    pages = signed_in_http(dashboard_url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.goto(f"{dashboard_url}/signin")
        tab.get_by_label("Email").fill(ADMIN_EMAIL)
        tab.get_by_label("Password").fill(ADMIN_PASSWORD)
        tab.get_by_role("button", name="Sign in").click()
        tab.wait_for_load_state()
        try:
            for label, page_path, api_path in PAGES:
                api_ms, api_p95 = median_ms(
                    lambda p=api_path: _elapsed(lambda: api.get(p).raise_for_status()),
                    iterations,
                )
                ttfb_ms, ttfb_p95 = median_ms(
                    lambda p=page_path: time_to_first_byte(pages, p), iterations
                )
                for _ in range(2):  # warm-up: caches, connection pools, the JIT
                    browser_load(tab, f"{dashboard_url}{page_path}")
                loads = [
                    browser_load(tab, f"{dashboard_url}{page_path}") for _ in range(iterations)
                ]
                load_ms = statistics.median(x[0] for x in loads) * 1000
                charts_ms = statistics.median(x[1] for x in loads) * 1000
                say(
                    f"  {label:<22} findings API {api_ms:8.1f} ms (p95 {api_p95:8.1f})   "
                    f"page TTFB {ttfb_ms:8.1f} ms ({ttfb_ms / api_ms:4.2f}x, p95 {ttfb_p95:8.1f})   "
                    f"Chromium load {load_ms:8.1f} ms ({load_ms / api_ms:4.2f}x)   "
                    f"charts drawn {charts_ms:8.1f} ms ({charts_ms / api_ms:4.2f}x)"
                )
        finally:
            browser.close()
            pages.close()
            api.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--personas", type=int, default=10_000)
    parser.add_argument("--actions", type=int, default=1_000_000)
    parser.add_argument("--actions-per-tick", type=int, default=10)
    parser.add_argument(
        "--days", type=int, default=90, help="spread the history over this many days"
    )
    parser.add_argument("--iterations", type=int, default=15, help="samples per figure")
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="PostgreSQL server (admin database)")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        say(f"dashboard bench needs Chromium ({CHROMIUM}): apt-get install -y chromium")
        return 1

    with postgres_database("dashboard-bench", args.dsn) as url:
        if url is None:
            say("dashboard bench needs PostgreSQL; skipped")
            return 0
        say(f"dashboard bench on {url}")
        asyncio.run(
            load(
                url,
                personas=args.personas,
                actions=args.actions,
                per_tick=args.actions_per_tick,
                days=args.days,
            )
        )
        asyncio.run(make_realistic(url))
        with auth_server(url) as auth_url, dashboard_server(auth_url) as dashboard_url:
            say(f"auth service on {auth_url}, dashboard on {dashboard_url} (a process each)")
            measure(auth_url, dashboard_url, iterations=args.iterations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
