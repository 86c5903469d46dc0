#!/usr/bin/env python3
"""Soak test: moderate load for a long time, sampling the gunicorn workers' memory from /proc.

    .venv/bin/python benchmarks/soak.py                    # 30 minutes, 1 questionnaire/s
    .venv/bin/python benchmarks/soak.py --minutes 3        # a quick look
    .venv/bin/python benchmarks/soak.py --minutes 30 --rate 2 --max-requests 5000   # as deployed

It sets up like benchmarks/load.py (a fresh database, ``surveyapp db upgrade``, a wave with enough
invitations, gunicorn with ``gunicorn.conf.py``), then lets virtual respondents arrive at
``--rate`` questionnaires per second (at most ``--concurrency`` at a time, ``--think`` seconds
between their requests) for ``--minutes``, each answering the whole questionnaire. Every
``--interval`` seconds it samples each worker's RSS, PSS and private memory from /proc and the
requests, completions, errors and p95 latency of the interval. At the end it prints the series,
the least-squares slope of the workers' memory (MB per minute: all samples, after the warm-up
minute in which caches fill and copy-on-write pages get copied, and the second half), and
checks the database like load.py (one response per completed respondent, nothing lost).

Worker recycling is OFF by default (``--max-requests 0``) so that a leak shows as a slope instead
of being hidden by restarts; ``--max-requests 5000`` soaks the deployed setting instead.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import load  # benchmarks/load.py, next to this file

MB = 1024.0


@dataclass
class Sample:
    minute: float
    memory: dict[int, dict[str, int]]  # worker pid → rss/pss/private in kB
    requests: int
    completed: int
    failed: int
    p95_ms: float

    def total(self, kind: str) -> float:
        return sum(m.get(kind, 0) for m in self.memory.values()) / MB

    def mean(self, kind: str) -> float:
        return self.total(kind) / max(1, len(self.memory))


@dataclass
class Progress:
    completed: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (NaN with fewer than two points)."""
    if len(points) < 2:
        return math.nan
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return math.nan
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx


def run_soak(args: argparse.Namespace) -> int:
    storage = args.ratelimit_storage if load.redis_available(args.ratelimit_storage) else "memory://"
    invitations = math.ceil(args.rate * args.minutes * 60 * 1.2) + 2 * args.concurrency + 20
    with tempfile.TemporaryDirectory(prefix="surveyapp-soak-") as folder_name:
        folder = Path(folder_name)
        (folder / "instance").mkdir()
        db_url = load.recreate_database(args.server_url, args.database)
        try:
            load.upgrade(db_url, folder / "instance")
            wave = load.seed(db_url, folder / "instance", invitations, args.seed, slug="soak")
            env = load.server_env(args, db_url, storage)
            settings = load.gunicorn_settings(env)
            with load.Gunicorn("wsgi:app", env, folder, name="soak", workers=settings["workers"]) as server:
                print(
                    f"soak: {args.minutes:g} min, {args.rate:g} questionnaires/s arriving, at most "
                    f"{args.concurrency} at a time, think {args.think:g} s; "
                    f"{load.describe_settings(settings)}; "
                    f"{invitations} invitations; memory every {args.interval:g} s",
                    flush=True,
                )
                samples, progress, stats, elapsed = drive(server, wave, args)
                log = server.log_text()
            check = load.check_database(db_url, wave, progress.completed, list(progress.failed))
        finally:
            if not args.keep_database:
                load.drop_database(args.server_url, args.database)

    print_series(samples, args.warmup_minutes)
    print(
        f"\ncompleted {len(progress.completed)} questionnaires in {elapsed / 60:.1f} min "
        f"({len(progress.completed) / elapsed:.2f}/s), {stats.requests} requests, "
        f"{len(progress.failed)} failed respondents, 429 retried {stats.rate_limited}"
    )
    latencies = stats.all_latencies()
    print("latency ms " + "  ".join(f"p{q} {load.percentile(latencies, q) * 1000:.0f}" for q in (50, 95, 99)))
    for message in list(dict.fromkeys(progress.failed.values()))[:5]:
        print(f"  failure: {message[:300]}")
    print("database check: " + ("OK" if check.ok else "FAILED"))
    print("\n".join(check.lines))
    leaked = load.tokens_in_logs(log, wave.tokens)
    print(f"personal-link tokens in gunicorn's logs: {leaked}")
    return 0 if check.ok and not progress.failed and not leaked else 1


def drive(
    server: load.Gunicorn, wave: load.Wave, args: argparse.Namespace
) -> tuple[list[Sample], Progress, load.Stats, float]:
    stats = load.Stats()
    progress = Progress()
    slots = threading.Semaphore(args.concurrency)
    started = time.monotonic()
    deadline = started + args.minutes * 60
    samples: list[Sample] = []
    stop = threading.Event()

    def respondent(index: int) -> None:
        browser = load.Browser(
            server.port, load.source_address(index, False), stats, args.think, random.Random(index)
        )
        try:
            load.answer_questionnaire(browser, wave.questionnaire, wave.tokens[index], wave.answers[index])
        except Exception as exc:
            with progress.lock:
                progress.failed[index] = f"{type(exc).__name__}: {exc}"
        else:
            with progress.lock:
                progress.completed.append(index)
        finally:
            browser.close()
            slots.release()

    seen = [0]

    def take_sample() -> None:
        with stats.lock:
            all_latencies = stats.all_latencies()
        window = sorted(all_latencies[seen[0] :])
        seen[0] = len(all_latencies)
        with progress.lock:
            done, bad = len(progress.completed), len(progress.failed)
        memory = {pid: load.memory_kb(pid) for pid in server.workers()}
        sample = Sample(
            (time.monotonic() - started) / 60,
            {pid: m for pid, m in memory.items() if m},
            seen[0],
            done,
            bad,
            load.percentile(window, 95) * 1000 if window else math.nan,
        )
        samples.append(sample)
        print(
            f"  {sample.minute:5.1f} min  workers RSS {sample.total('rss'):7.1f} MB "
            f"(private {sample.total('private'):6.1f} MB)  completed {done}  failed {bad}  "
            f"p95 {sample.p95_ms:.0f} ms",
            flush=True,
        )

    def sampler() -> None:
        take_sample()
        while not stop.wait(args.interval):
            take_sample()

    sampling = threading.Thread(target=sampler, daemon=True)
    sampling.start()
    threads: list[threading.Thread] = []
    index = 0
    next_arrival = time.monotonic()
    while time.monotonic() < deadline and index < len(wave.tokens):
        pause = next_arrival - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            break
        thread = threading.Thread(target=respondent, args=(index,), daemon=True)
        thread.start()
        threads.append(thread)
        index += 1
        next_arrival += 1 / args.rate
        threads = [t for t in threads if t.is_alive()]
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - started
    stop.set()
    sampling.join()
    take_sample()  # after the load: what the workers keep
    return samples, progress, stats, elapsed


def print_series(samples: list[Sample], warmup: float) -> None:
    if not samples:
        return
    pids = sorted({pid for s in samples for pid in s.memory})
    print("\nworker memory (MB): RSS per worker, then totals of RSS / PSS / private")
    header = "  minute  " + " ".join(f"{pid:>8}" for pid in pids) + "   total RSS    PSS  private  p95 ms"
    print(header)
    for s in samples:
        cells = " ".join(
            f"{s.memory[pid]['rss'] / MB:8.1f}" if pid in s.memory else f"{'-':>8}" for pid in pids
        )
        print(
            f"  {s.minute:6.1f}  {cells}   {s.total('rss'):9.1f} {s.total('pss'):6.1f} "
            f"{s.total('private'):8.1f}  {s.p95_ms:6.0f}"
        )
    warm = [s for s in samples if s.minute >= warmup]
    for label, points in (
        ("all samples", samples),
        (f"after {warmup:g} min of warm-up", warm),
        ("second half", samples[len(samples) // 2 :]),
    ):
        for kind in ("rss", "private"):
            per_worker = slope([(s.minute, s.mean(kind)) for s in points])
            total = slope([(s.minute, s.total(kind)) for s in points])
            print(
                f"slope ({label}, {kind}): {per_worker:+.2f} MB/min per worker "
                f"({per_worker * 60:+.1f} MB/h), all workers {total:+.2f} MB/min"
            )
    restarted = len(pids) - len(samples[0].memory)
    if restarted > 0:
        print(f"({restarted} worker(s) were replaced during the soak: recycling or a crash)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between memory samples")
    parser.add_argument(
        "--warmup-minutes",
        type=float,
        default=1.0,
        help="left out of one slope (caches fill, pages get copied)",
    )
    parser.add_argument("--rate", type=float, default=1.0, help="questionnaires started per second")
    parser.add_argument("--concurrency", type=int, default=16, help="respondents at a time at most")
    parser.add_argument("--think", type=float, default=0.1, help="mean think time between requests, s")
    parser.add_argument("--workers", type=int, help="default: gunicorn.conf.py's")
    parser.add_argument("--worker-class", choices=["gthread", "sync"], help="default: gunicorn.conf.py's")
    parser.add_argument("--threads", type=int, help="default: gunicorn.conf.py's")
    parser.add_argument("--max-requests", type=int, default=0, help="worker recycling (0: off, to see leaks)")
    parser.add_argument("--server-url", default=os.environ.get("BENCH_SERVER_URL", load.DEFAULT_SERVER))
    parser.add_argument("--database", default="surveyapp_soak")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--ratelimit-storage", default=load.DEFAULT_RATELIMIT_STORAGE)
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()
    sys.exit(run_soak(args))


if __name__ == "__main__":
    main()
