"""The dashboard in a real Chromium: sign-in, refusal, the planted fault, acknowledging, and a
screenshot of every page (saved under .scratch/screenshots/ for a person to look at)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.dashboard.conftest import (
    FAULTY_MODULE,
    HISTORY_DAYS,
    Site,
    charts_drawn,
    days_with_history,
    screenshot,
    sign_in,
)


def test_an_admin_signs_in_and_a_wrong_password_is_refused(page: Page, dashboard: Site) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2F$"))
    screenshot(page, "01-sign-in")

    sign_in(page, dashboard.admin_email, "not-the-password-at-all")
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)

    sign_in(page, dashboard.admin_email)
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(page.get_by_text(dashboard.admin_email)).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("alert")).to_have_text("You have signed out.")
    page.goto("/alerts")
    expect(page).to_have_url(re.compile(r"/signin\?next="))


def test_a_non_admin_is_refused_and_sees_only_the_sign_in_page(page: Page, dashboard: Site) -> None:
    sign_in(page, dashboard.user_email)

    expect(page.get_by_role("alert")).to_have_text("This account is not an administrator.")
    for path in ("/", "/alerts", f"/modules/{FAULTY_MODULE}", "/personas"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/signin\?next="))
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_the_overview_shows_the_planted_fault_and_its_module_chart_has_a_point_per_day(
    page: Page, dashboard: Site
) -> None:
    sign_in(page, dashboard.admin_email)
    charts_drawn(page)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    strip = page.get_by_role("region", name=re.compile("Open alerts"))
    expect(strip).to_be_visible()
    expect(strip.get_by_role("link", name=FAULTY_MODULE).first).to_be_visible()
    card = page.get_by_role("article").filter(has=page.get_by_role("heading", name=FAULTY_MODULE))
    expect(card.get_by_text("my calendar entries did not save").first).to_be_visible()
    screenshot(page, "02-overview")

    card.get_by_role("link", name=FAULTY_MODULE).click()
    expect(page.get_by_role("heading", name=f"Module {FAULTY_MODULE}")).to_be_visible()
    charts_drawn(page)
    points = page.evaluate(
        """() => {
            const chart = Chart.getChart(document.getElementById('daily-ratings'));
            return {labels: chart.data.labels.length,
                    ratings: chart.data.datasets[0].data.filter(v => v !== null).length};
        }"""
    )
    assert points == {"labels": HISTORY_DAYS, "ratings": days_with_history(dashboard.history)}
    # The same days in the table under the chart (the accessible fallback).
    table_rows = page.locator("#daily-ratings-title ~ details tbody tr")
    expect(table_rows).to_have_count(HISTORY_DAYS)
    expect(page.get_by_role("link", name="example tick").first).to_be_visible()
    screenshot(page, "03-module")

    page.get_by_label("Show ratings up to").select_option("2")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"maxRating=2"))
    stars = page.locator(".note .rating").all_inner_texts()
    assert stars, "no notes rated 2 or lower although the fault made personas rate 1 and 2"
    assert all(int(s.split("/")[0]) <= 2 for s in stars), stars


def test_acknowledging_an_alert_sticks_after_reload(page: Page, dashboard: Site) -> None:
    sign_in(page, dashboard.admin_email)
    page.goto("/alerts?status=open")
    unseen = page.locator("tr[data-alert-id]").filter(
        has=page.get_by_role("button", name=re.compile("^Acknowledge"))
    )
    expect(unseen.first).to_be_visible()
    alert_id = unseen.first.get_attribute("data-alert-id")
    row = page.locator(f'tr[data-alert-id="{alert_id}"]')

    # By keyboard, as anyone who does not use a mouse would.
    row.get_by_role("button", name=re.compile("^Acknowledge")).focus()
    with page.expect_navigation():  # the form posts, then redirects back to this list
        page.keyboard.press("Enter")
    page.reload()

    expect(row.get_by_text(f"acknowledged by {dashboard.admin_email}")).to_be_visible()
    expect(row.get_by_role("button", name=re.compile("^Acknowledge"))).to_have_count(0)
    screenshot(page, "04-alerts")

    # The rules run again on demand; the fault still holds, so nothing opens or resolves.
    with page.expect_navigation():
        page.get_by_role("button", name="Evaluate now").click()
    expect(page.get_by_role("status")).to_have_text("Evaluated just now: 0 opened, 0 resolved.")
    expect(page.locator(f'tr[data-alert-id="{alert_id}"]')).to_be_visible()
    screenshot(page, "04b-alerts-evaluated")


def test_persona_and_tick_pages_show_what_happened_and_hold_on_a_phone(
    page: Page, dashboard: Site
) -> None:
    sign_in(page, dashboard.admin_email)
    page.goto("/personas")
    expect(page.get_by_role("heading", name="Personas", level=1)).to_be_visible()
    screenshot(page, "05-personas")

    persona_id = dashboard.history.persona_ids[0]
    page.goto(f"/personas/{persona_id}")
    charts_drawn(page)
    expect(page.get_by_role("heading", name="Ratings by module")).to_be_visible()
    expect(page.get_by_role("heading", name="Ticks over time")).to_be_visible()
    screenshot(page, "06-persona")

    # The newest tick of the first persona: one that used the faulty module.
    page.locator("table").last.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Calls in order")).to_be_visible()
    calls = page.locator("table.calls tbody tr")
    expect(calls).to_have_count(12)
    expect(page.get_by_role("heading", name="Ratings and notes")).to_be_visible()
    screenshot(page, "07-tick")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    charts_drawn(page)
    # Nothing wider than the phone: the page scrolls down, never sideways.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    screenshot(page, "08-overview-phone", full_page=False)
