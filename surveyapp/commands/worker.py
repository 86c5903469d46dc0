"""``surveyapp worker``: run queued background jobs (mail sending) from Redis with RQ."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from surveyapp import jobs


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option(
    "--queue", "queue_names", multiple=True, help="Queue name(s); default: RQ_QUEUE or 'surveyapp'."
)
@click.option("--simple", is_flag=True, help="Run jobs in this process instead of a forked one.")
@with_appcontext
def command(burst: bool, queue_names: tuple[str, ...], simple: bool) -> None:
    """Run background jobs from the Redis queue (needs REDIS_URL)."""
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Queue, SimpleWorker, Worker

    from surveyapp.extensions import db

    url = current_app.config.get("REDIS_URL")
    if not url:
        raise click.ClickException("REDIS_URL is not set: without Redis, jobs run inside the app server.")
    connection = Redis.from_url(str(url))
    try:
        connection.ping()
    except RedisError as exc:
        raise click.ClickException(f"cannot reach Redis at {url}: {exc}") from exc
    queues = [
        Queue(name, connection=connection) for name in (queue_names or (jobs.queue_name(current_app.config),))
    ]
    handed = jobs.hand_over_waiting(current_app._get_current_object())  # type: ignore[attr-defined]
    if handed:
        click.echo(f"{handed} job(s) that waited for the queue handed over")
    # Work horses are forked from this process: they must not share its database connections.
    db.engine.dispose()
    worker_class = SimpleWorker if simple else Worker
    worker = worker_class(queues, connection=connection)
    click.echo(f"worker listening on {', '.join(q.name for q in queues)}")
    worker.work(burst=burst)
