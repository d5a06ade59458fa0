"""The admin API over real HTTP: list jobs, run now (admin only), list runs, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from marcus_contracts import Envelope, Event, registry
from scheduler.jobs import run_id
from services.scheduler.tests.support import all_runs
from tests.support.servers import wait_for


async def test_jobs_list_next_run_at_three_in_the_configured_timezone(
    client, admin_headers
) -> None:
    response = await client.get("/api/v1/admin/jobs", headers=admin_headers)

    assert response.status_code == 200, response.text
    jobs = {job["name"]: job for job in response.json()["items"]}
    assert set(jobs) == {"index-rebuild", "views-refresh", "cart-reminders", "stream-retention"}
    rebuild = jobs["index-rebuild"]
    assert rebuild["cron"] == "0 3 * * *" and rebuild["timezone"] == "Europe/Berlin"
    assert rebuild["event_type"] == "scheduler.index.rebuild_requested"
    assert rebuild["reported_by"] == "indexer.index.rebuilt"
    next_run = datetime.fromisoformat(rebuild["next_run_at"])
    assert next_run.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "03:00"
    assert next_run > datetime.now(UTC)
    assert rebuild["last_run"] is None and rebuild["last_outcome"] is None
    views = datetime.fromisoformat(jobs["views-refresh"]["next_run_at"])
    assert (views.minute, views.second) == (0, 0)
    reminders = jobs["cart-reminders"]
    assert reminders["cron"] == "0 * * * *" and reminders["reported_by"] is None
    assert reminders["event_type"] == "scheduler.carts.reminders_requested"
    assert datetime.fromisoformat(reminders["next_run_at"]).minute == 0
    assert response.json()["leader"] is None, "scheduling is off in this app"


async def test_run_now_by_an_admin_emits_the_event(
    client, admin_headers, engine, scheduler_stream
) -> None:
    run = await run_now(client, admin_headers, "index-rebuild")
    assert run["outcome"] == "pending", "waits for indexer.index.rebuilt"
    assert run["id"] == str(run_id("index-rebuild", datetime.fromisoformat(run["fire_time"])))

    envelope, _ = await fired(scheduler_stream, run)
    assert envelope.source == "scheduler" and envelope.type == "scheduler.index.rebuild_requested"

    jobs = (await client.get("/api/v1/admin/jobs", headers=admin_headers)).json()["items"]
    rebuild = next(job for job in jobs if job["name"] == "index-rebuild")
    assert rebuild["last_run"]["id"] == run["id"]
    assert rebuild["last_outcome"] == "pending"


async def test_views_refresh_run_now_is_final_once_emitted(client, admin_headers) -> None:
    response = await client.post("/api/v1/admin/jobs/views-refresh/run", headers=admin_headers)
    assert response.status_code == 202
    assert response.json()["outcome"] == "emitted"
    runs = await client.get("/api/v1/admin/jobs/views-refresh/runs", headers=admin_headers)
    assert [r["id"] for r in runs.json()["items"]] == [response.json()["id"]]


async def test_cart_reminders_run_now_emits_one_event_with_the_thresholds(
    client, admin_headers, engine, scheduler_stream
) -> None:
    run = await run_now(client, admin_headers, "cart-reminders")
    assert run["outcome"] == "emitted", "nobody reports back: orders records cart events"
    envelope, event = await fired(scheduler_stream, run)
    assert envelope.type == "scheduler.carts.reminders_requested"
    assert (event.idle_after_s, event.expire_after_s) == (86_400, 2_592_000)
    [stored] = await all_runs(engine)
    assert (str(stored.id), stored.event_type) == (run["id"], envelope.type)
    runs = await client.get("/api/v1/admin/jobs/cart-reminders/runs", headers=admin_headers)
    assert [r["id"] for r in runs.json()["items"]] == [run["id"]]


async def test_run_now_by_a_customer_is_forbidden_and_changes_nothing(
    client, customer_headers, engine, scheduler_stream
) -> None:
    response = await client.post("/api/v1/admin/jobs/index-rebuild/run", headers=customer_headers)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "admin" in response.json()["detail"]
    assert await all_runs(engine) == []
    assert await scheduler_stream.envelopes() == []


async def test_anonymous_callers_get_401(client) -> None:
    for method, path in (
        ("GET", "/api/v1/admin/jobs"),
        ("POST", "/api/v1/admin/jobs/index-rebuild/run"),
        ("GET", "/api/v1/admin/jobs/index-rebuild/runs"),
    ):
        response = await client.request(method, path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_customers_cannot_read_the_jobs(client, customer_headers) -> None:
    assert (await client.get("/api/v1/admin/jobs", headers=customer_headers)).status_code == 403


async def test_unknown_job_is_404_problem(client, admin_headers, engine) -> None:
    response = await client.post("/api/v1/admin/jobs/backup/run", headers=admin_headers)

    assert response.status_code == 404
    body = response.json()
    assert body["title"] == "Not Found" and "index-rebuild" in body["detail"]
    assert await all_runs(engine) == []
    runs = await client.get("/api/v1/admin/jobs/backup/runs", headers=admin_headers)
    assert runs.status_code == 404


async def test_bad_limit_is_422_with_the_field(client, admin_headers) -> None:
    response = await client.get(
        "/api/v1/admin/jobs/index-rebuild/runs?limit=0", headers=admin_headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "limit"]


async def test_health_and_metrics(client) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).json()["checks"] == {"postgres": "ok", "redis": "ok"}
    assert "outbox_events_published_total" in (await client.get("/metrics")).text


async def run_now(client, admin_headers, job: str) -> dict:
    """`POST .../run` by operator `ops`: the run it answers (202)."""
    response = await client.post(f"/api/v1/admin/jobs/{job}/run", headers=admin_headers)
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["job"] == job and run["requested_by"] == "ops"
    return dict(run)


async def fired(scheduler_stream, run: dict) -> tuple[Envelope, Event]:
    """The one fire on events.scheduler: the run's event, requested by `ops`."""
    [envelope] = await wait_for(scheduler_stream.fires, what="the event on events.scheduler")
    assert str(envelope.id) == run["id"]
    event = registry.decode(envelope)
    assert (event.job, event.requested_by) == (run["job"], "ops")
    return envelope, event
