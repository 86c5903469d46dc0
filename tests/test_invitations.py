"""Sending invitations and reminders: who gets what, at most once (even after crashes), retries,
opt-out, the planner's mail pages and the command line. Every DB test runs on both backends."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from surveyapp import jobs, mail
from surveyapp.extensions import db
from surveyapp.models import AuditEvent, DraftAnswers, Invitation, Job, MailDelivery, RegisterPerson, Wave
from surveyapp.services.invitations import candidates, start_mail_job
from surveyapp.services.questionnaires import store_file
from surveyapp.services.waves import RegisterRow, add_register, create_invitations, create_wave, set_state
from surveyapp.survey.service import seal_draft
from tests.conftest import DATA, csrf_token_of, make_app
from tests.test_auth import login, make_users

MINI = DATA / "questionnaires" / "mini.yaml"
SLUG = "mail-2026"
HOSTILE = '<script>alert("x")</script> Jansen'


# --------------------------------------------------------------------------------------------
# Helpers (imported by test_mail.py and test_jobs.py)
# --------------------------------------------------------------------------------------------


def make_mail_wave(app: Flask, people: int = 4, *, slug: str = SLUG, without_email: int = 0) -> int:
    """An open wave with invitations: even people Dutch, odd English; person 1 has a hostile
    name; the last ``without_email`` people have no address."""
    with app.app_context():
        version, _ = store_file(MINI)
        wave = create_wave(version, slug=slug, title="Mail test", closes_on=date(2026, 3, 31))
        rows = []
        for i in range(people):
            email = f"p{i}@example.org" if i < people - without_email else None
            name = HOSTILE if i == 1 else f"Person {i}"
            rows.append(RegisterRow(f"p{i}", email, "nl" if i % 2 == 0 else "en", {"status": "actief"}, name))
        add_register(wave, rows)
        set_state(wave, "open")
        create_invitations(wave)
        db.session.commit()
        return int(wave.id)


def send(app: Flask, kind: str = "invitation", *, slug: str = SLUG, **options: Any) -> Job:
    """Run a mail job synchronously, as the CLI does."""
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == slug)).scalar_one()
        job = start_mail_job(wave, kind, "tester@example.org", mode="sync", **options)
        db.session.expunge(job)
        return job


def outbox_messages(app: Flask) -> list[EmailMessage]:
    folder = Path(app.config["OUTBOX_DIR"])
    if not folder.exists():
        return []
    parser = BytesParser(policy=policy.default)
    return [parser.parsebytes(path.read_bytes()) for path in sorted(folder.glob("*.eml"))]  # type: ignore[misc]


def recipients(messages: list[EmailMessage]) -> Counter[str]:
    return Counter(str(m["To"].addresses[0].addr_spec) for m in messages)


def body(message: EmailMessage, subtype: str = "plain") -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


TOKEN_LINK = re.compile(r"/s/([A-Za-z0-9_-]{20,})")


def token_of(message: EmailMessage) -> str:
    match = TOKEN_LINK.search(body(message))
    assert match, "no personal link in the mail"
    return match.group(1)


def deliveries(app: Flask, kind: str | None = None) -> list[MailDelivery]:
    with app.app_context():
        query = select(MailDelivery).order_by(MailDelivery.invitation_id)
        if kind:
            query = query.where(MailDelivery.kind == kind)
        rows = list(db.session.execute(query).scalars())
        for row in rows:
            db.session.expunge(row)
        return rows


def set_invitation(app: Flask, person_key: str, **values: Any) -> int:
    with app.app_context():
        invitation = db.session.execute(
            select(Invitation).join(RegisterPerson).where(RegisterPerson.person_key == person_key)
        ).scalar_one()
        for key, value in values.items():
            setattr(invitation, key, value)
        db.session.commit()
        return int(invitation.id)


class Crash(BaseException):
    """Stands for the process dying (not an Exception: nothing may swallow it)."""


class CrashAfter:
    """An outbox transport that delivers ``k`` mails and dies right after handing over the last."""

    def __init__(self, config: Any, k: int) -> None:
        self.inner = mail.OutboxTransport(config["OUTBOX_DIR"])
        self.k = k
        self.sent = 0

    def send(self, message: EmailMessage) -> None:
        self.inner.send(message)
        self.sent += 1
        if self.sent >= self.k:
            raise Crash()

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------------------------
# Invitations
# --------------------------------------------------------------------------------------------


def test_invitations_go_to_everyone_once_in_their_language(app: Flask) -> None:
    make_mail_wave(app, people=5, without_email=1)
    job = send(app)
    assert job.state == "done" and job.total == 4 and job.done == 4 and job.failed == 0
    result = job.params["result"]
    assert result["sent"] == 4 and result["skipped"] == 1 and result["uncertain"] == 0

    messages = outbox_messages(app)
    assert sorted(recipients(messages)) == [f"p{i}@example.org" for i in range(4)]
    by_to = {m["To"].addresses[0].addr_spec: m for m in messages}
    dutch, english = by_to["p0@example.org"], by_to["p1@example.org"]
    assert dutch["Subject"] == "Uw mening telt: Korte bevraging"
    assert english["Subject"] == "Your opinion counts: Short survey"
    assert "Beste Person 0" in body(dutch) and "anoniem" in body(dutch) and "3 minuten" in body(dutch)
    assert "31 maart 2026" in body(dutch) and "31 March 2026" in body(english)
    assert "De sociale dienst" in body(dutch)
    for message in messages:
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Message-ID"] and message["Date"]
        assert message["List-Unsubscribe"] is None  # only reminders carry the opt-out
        assert message["From"] == app.config["MAIL_SENDER"]
    # The hostile name is escaped in the HTML part (the plain text shows it as plain text).
    html = body(english, "html")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert english["To"].addresses[0].display_name == HOSTILE

    # Every link opens the questionnaire: each mail has its own, fresh token.
    tokens = [token_of(m) for m in messages]
    assert len(set(tokens)) == 4
    for token in tokens:
        client = app.test_client()
        response = client.get(f"/s/{token}")
        assert response.status_code == 302 and response.headers["Location"].endswith("/survey/")

    with app.app_context():
        sent = db.session.execute(select(func.count()).where(Invitation.sent_at.is_not(None))).scalar_one()
        assert sent == 4
    assert all(d.sent_at is not None and d.attempts == 1 and d.error is None for d in deliveries(app))

    # A second run finds nothing left to send.
    again = send(app)
    assert again.state == "done" and again.params["result"]["sent"] == 0
    assert len(outbox_messages(app)) == 4


def test_mails_never_contain_answers(app: Flask) -> None:
    make_mail_wave(app, people=2)
    send(app)
    invitation_id = set_invitation(app, "p0", started_on=date(2026, 3, 2))
    with app.app_context():
        sealed = seal_draft(invitation_id, {"q_suggestie": "GEHEIM-ANTWOORD"}, [], None)
        db.session.add(DraftAnswers(invitation_id=invitation_id, sealed=sealed))
        db.session.commit()
    send(app, "reminder-1")
    for message in outbox_messages(app):
        assert "GEHEIM-ANTWOORD" not in message.as_string()


def test_reminders_only_for_invited_people_who_did_not_answer_or_opt_out(app: Flask) -> None:
    make_mail_wave(app, people=4)
    send(app)
    set_invitation(app, "p0", submitted=True)
    set_invitation(app, "p1", opted_out=True)
    # p4 joins the register later and has not had the invitation mail yet.
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        add_register(wave, [RegisterRow("p4", "p4@example.org", "nl", {}, "Late")])
        create_invitations(wave)
        db.session.commit()
    first = len(outbox_messages(app))
    job = send(app, "reminder-1")
    assert job.params["result"]["sent"] == 2
    reminders = outbox_messages(app)[first:]
    assert sorted(recipients(reminders)) == ["p2@example.org", "p3@example.org"]
    for message in reminders:
        token = token_of(message)
        assert message["List-Unsubscribe"].strip() == f"<{app.config['BASE_URL']}/s/{token}/opt-out>"
        assert f"/s/{token}/opt-out" in body(message)
        assert message["Subject"].startswith(("Herinnering", "Reminder"))
    with app.app_context():
        reminded = db.session.execute(
            select(RegisterPerson.person_key, Invitation.reminders_sent, Invitation.last_reminded_at)
            .join(Invitation)
            .order_by(RegisterPerson.person_key)
        ).all()
    assert [(key, count) for key, count, _ in reminded] == [
        ("p0", 0),
        ("p1", 0),
        ("p2", 1),
        ("p3", 1),
        ("p4", 0),
    ]
    assert all((last is not None) == (count == 1) for _, count, last in reminded)
    # A second reminder counts up; the first is not sent twice.
    send(app, "reminder-1")
    send(app, "reminder-2")
    assert len(outbox_messages(app)) == first + 4
    with app.app_context():
        assert db.session.execute(select(func.max(Invitation.reminders_sent))).scalar_one() == 2


def test_wave_must_be_open_and_kind_valid(app: Flask) -> None:
    from surveyapp.services.invitations import InvitationError

    make_mail_wave(app, people=1)
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        with pytest.raises(InvitationError, match="unknown mail kind"):
            start_mail_job(wave, "reminder-x", None, mode="sync")
        set_state(wave, "closed")
        db.session.commit()
        with pytest.raises(InvitationError) as error:
            start_mail_job(wave, "invitation", None, mode="sync")
        assert error.value.status == 409
    assert outbox_messages(app) == []


# --------------------------------------------------------------------------------------------
# At most once
# --------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("mode", ["sync", "thread"])
def test_crash_mid_batch_then_resume_sends_nobody_twice(app: Flask, mode: str) -> None:
    make_mail_wave(app, people=10)
    app.config["MAIL_TRANSPORT_FACTORY"] = lambda config: CrashAfter(config, 4)
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        if mode == "sync":
            with pytest.raises(Crash):
                start_mail_job(wave, "invitation", None, mode="sync")
            crashed_id = db.session.execute(select(Job.id)).scalar_one()
        else:
            crashed_id = start_mail_job(wave, "invitation", None, mode="thread").id
            assert jobs.wait(crashed_id, 30)
    # The 4th mail went out, but the crash came before it was recorded: it is uncertain.
    assert len(outbox_messages(app)) == 4
    states = Counter(
        "sent" if d.sent_at else ("attempted" if d.attempts else "untried") for d in deliveries(app)
    )
    assert states["sent"] == 3 and states["attempted"] == 1

    client = app.test_client()
    make_users(app)
    login(client, "planner")
    page = client.get(f"/planner/jobs/{crashed_id}.json").get_json()
    assert page["state"] in {"failed", "interrupted"} and page["uncertain"] == 1

    del app.config["MAIL_TRANSPORT_FACTORY"]
    resumed = send(app)
    assert resumed.params["result"]["sent"] == 6 and resumed.params["result"]["uncertain"] == 1
    counts = recipients(outbox_messages(app))
    assert len(counts) == 10 and set(counts.values()) == {1}  # everyone exactly one invitation
    # The uncertain one stays uncertain: never sent again, not even by "retry failed".
    send(app, retry_failed=True)
    assert len(outbox_messages(app)) == 10


def test_a_killed_job_leaves_untried_claims_for_the_next(app: Flask) -> None:
    """A job killed outright (no cleanup at all) still running per its row: the next job of the
    same kind takes over its untried claims and leaves its one attempted claim alone."""
    make_mail_wave(app, people=6)
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        dead = Job(
            kind="mail:invitation",
            wave_id=wave.id,
            state="running",
            params={"kind": "invitation", "runner": {"host": "elsewhere", "pid": 1}},
        )
        db.session.add(dead)
        db.session.flush()
        ids = list(db.session.execute(candidates(wave.id, "invitation").order_by(Invitation.id)).scalars())
        for number, invitation_id in enumerate(ids[:4]):
            db.session.add(
                MailDelivery(
                    invitation_id=invitation_id, kind="invitation", job_id=dead.id, attempts=int(number == 0)
                )
            )
        db.session.commit()
        dead_id = dead.id
    app.config["JOB_STALE_SECONDS"] = 3600
    with app.app_context():
        # Still "alive" by its heartbeat: the page shows its attempted mail in progress.
        job = db.session.get(Job, dead_id)
        assert job is not None and jobs.is_alive(job)
    app.config["JOB_STALE_SECONDS"] = 0.001
    time.sleep(0.01)
    result = send(app).params["result"]
    assert result["sent"] == 5 and result["uncertain"] == 1
    with app.app_context():
        job = db.session.get(Job, dead_id)
        assert job is not None and job.state == "failed" and "Interrupted" in (job.message or "")
    assert sorted(recipients(outbox_messages(app))) == [f"p{i}@example.org" for i in range(1, 6)]


@pytest.mark.slow
def test_killed_cli_process_then_rerun_sends_nobody_twice(sqlite_template: Path, tmp_path: Path) -> None:
    """The real thing: ``surveyapp invitations send`` in a subprocess, SIGKILLed mid-way."""
    database = tmp_path / "kill.sqlite3"
    shutil.copy(sqlite_template, database)
    url = f"sqlite:///{database}"
    app = make_app(url, tmp_path)
    people = 20
    make_mail_wave(app, people=people)
    with app.app_context():
        db.engine.dispose()
    outbox = Path(app.config["OUTBOX_DIR"])
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "OUTBOX_DIR": str(outbox),
        "SECRET_KEY": "kill-test",
        "SURVEYAPP_INSTANCE_PATH": str(tmp_path / "instance"),
        "MAIL_RATE_PER_SECOND": "8",
    }
    env.pop("MAIL_SERVER", None)
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-c", "from surveyapp.cli import main; main()", "invitations", "send", SLUG]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while len(list(outbox.glob("*.eml"))) < 3:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        assert time.monotonic() < deadline, "the sender did not start"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    killed_at = len(list(outbox.glob("*.eml")))
    assert 3 <= killed_at < people

    env["MAIL_RATE_PER_SECOND"] = "0"
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    match = re.search(r"sent (\d+), skipped (\d+), failed (\d+), uncertain (\d+)", rerun.stdout)
    assert match, rerun.stdout
    sent, _, failed, uncertain = map(int, match.groups())
    counts = recipients(outbox_messages(app))
    assert set(counts.values()) == {1}, counts  # nobody twice
    assert failed == 0 and uncertain <= 1
    assert len(counts) + uncertain >= people  # everyone got one, except perhaps the uncertain one
    assert killed_at + sent == len(counts)
    with app.app_context():
        states = Counter(job.state for job in db.session.execute(select(Job)).scalars())
        db.engine.dispose()
    assert states == Counter({"failed": 1, "done": 1})  # the killed job is marked interrupted


# --------------------------------------------------------------------------------------------
# Failures and retries
# --------------------------------------------------------------------------------------------


class Flaky:
    """Fails per address as scripted: a list of exceptions to raise before succeeding."""

    def __init__(self, config: Any, script: dict[str, list[Exception]]) -> None:
        self.inner = mail.OutboxTransport(config["OUTBOX_DIR"])
        self.script = script

    def send(self, message: EmailMessage) -> None:
        address = message["To"].addresses[0].addr_spec
        planned = self.script.get(address)
        if planned:
            raise planned.pop(0)
        self.inner.send(message)

    def close(self) -> None:
        pass


def test_transient_errors_are_retried_and_failures_can_be_retried(app: Flask) -> None:
    make_mail_wave(app, people=4)
    script: dict[str, list[Exception]] = {
        "p0@example.org": [mail.TransientMailError("451 busy"), mail.TransientMailError("451 busy")],
        "p1@example.org": [mail.PermanentMailError("550 no such user")],
        "p2@example.org": [mail.TransientMailError("421")] * 3,
        "p3@example.org": [mail.UncertainMailError("connection lost during DATA")],
    }
    app.config.update(MAIL_TRANSPORT_FACTORY=lambda config: Flaky(config, script), MAIL_RETRY_BACKOFF=0)
    job = send(app)
    result = job.params["result"]
    assert (result["sent"], result["failed"], result["uncertain"]) == (1, 2, 1)
    assert job.state == "done" and job.done == 1 and job.failed == 3
    rows = {d.invitation_id: d for d in deliveries(app)}
    ordered = [rows[key] for key in sorted(rows)]
    assert ordered[0].sent_at is not None and ordered[0].attempts == 3
    assert ordered[1].error and "550" in ordered[1].error and ordered[1].attempts == 1
    assert ordered[2].error and ordered[2].attempts == 3
    assert ordered[3].error and ordered[3].error.startswith("uncertain: ")
    assert recipients(outbox_messages(app)) == Counter({"p0@example.org": 1})

    # Nothing is resent automatically ...
    assert send(app).params["result"]["sent"] == 0
    # ... until a planner retries the failed ones; the uncertain one stays alone.
    script.clear()
    retry = send(app, retry_failed=True)
    assert retry.params["result"]["sent"] == 2
    assert recipients(outbox_messages(app)) == Counter({f"p{i}@example.org": 1 for i in range(3)})


def test_an_address_that_is_not_one_fails_without_stopping_the_job(app: Flask) -> None:
    make_mail_wave(app, people=3)
    with app.app_context():
        person = db.session.execute(
            select(RegisterPerson).where(RegisterPerson.person_key == "p1")
        ).scalar_one()
        person.email = "not an address"
        db.session.commit()
    result = send(app).params["result"]
    assert result["sent"] == 2 and result["failed"] == 1
    failed = [d for d in deliveries(app) if d.error]
    assert len(failed) == 1 and "not a valid e-mail address" in (failed[0].error or "")


def test_throttle_limits_the_rate(app: Flask) -> None:
    make_mail_wave(app, people=6)
    app.config["MAIL_RATE_PER_SECOND"] = 20
    started = time.monotonic()
    send(app)
    assert time.monotonic() - started >= 5 / 20  # 6 mails: 5 intervals of 50 ms at least


# --------------------------------------------------------------------------------------------
# Opt-out
# --------------------------------------------------------------------------------------------


def main_of(html: str) -> str:
    return html[html.index("<main") : html.index("</main>")]


def test_opt_out_flow(app: Flask, database_url: str, tmp_path: Path) -> None:
    make_mail_wave(app, people=2)
    send(app)
    send(app, "reminder-1")
    reminder = next(m for m in outbox_messages(app)[2:] if m["To"].addresses[0].addr_spec == "p0@example.org")
    token = token_of(reminder)
    strict = make_app(database_url, tmp_path, WTF_CSRF_ENABLED=True)
    client = strict.test_client()

    page = client.get(f"/s/{token}/opt-out")
    assert page.status_code == 200
    assert "<form" in page.text and 'method="post"' in page.text and "csrf_token" in page.text
    assert 'lang="nl"' in page.text  # the person's language
    assert client.post(f"/s/{token}/opt-out").status_code == 400  # no CSRF token
    done = client.post(f"/s/{token}/opt-out", data={"csrf_token": csrf_token_of(page.text)})
    assert done.status_code == 200 and "<form" not in done.text
    with app.app_context():
        opted = db.session.execute(
            select(RegisterPerson.person_key).join(Invitation).where(Invitation.opted_out.is_(True))
        ).scalars()
        assert list(opted) == ["p0"]
    # Again: still fine, says so; the personal link itself still works.
    assert client.get(f"/s/{token}/opt-out").status_code == 200
    assert client.get(f"/s/{token}").status_code == 302

    # Invalid tokens: the same 404 page as the survey link.
    wrong_optout = client.get("/s/not-a-real-token-at-all-xxxxxxxxxxxx/opt-out")
    wrong_link = client.get("/s/not-a-real-token-at-all-xxxxxxxxxxxx")
    assert wrong_optout.status_code == wrong_link.status_code == 404
    assert main_of(wrong_optout.text) == main_of(wrong_link.text)
    csrf = {"csrf_token": csrf_token_of(page.text)}
    assert client.post("/s/not-a-real-token/opt-out", data=csrf).status_code == 404

    before = len(outbox_messages(app))
    result = send(app, "reminder-2").params["result"]
    assert result["sent"] == 1
    assert recipients(outbox_messages(app)[before:]) == Counter({"p1@example.org": 1})
    with strict.app_context():
        db.engine.dispose()


# --------------------------------------------------------------------------------------------
# Planner pages
# --------------------------------------------------------------------------------------------


def _planner(app: Flask, role: str = "planner") -> Any:
    """A logged-in client reading the pages in English (the tests check English texts)."""
    make_users(app)
    client = app.test_client()
    login(client, role)
    client.get("/?lang=en")
    return client


def audit_events(app: Flask) -> list[tuple[str, dict[str, Any]]]:
    with app.app_context():
        return [
            (e.action, e.details)
            for e in db.session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
        ]


def test_planner_sends_invitations_and_reminders_from_the_mail_page(app: Flask) -> None:
    make_mail_wave(app, people=3)
    client = _planner(app)
    page = client.get(f"/planner/waves/{SLUG}/mail")
    assert page.status_code == 200
    assert "3 people have not received the invitation yet." in page.text

    response = client.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "invitation"})
    assert response.status_code == 303
    job_url = response.headers["Location"]
    job_id = job_url.rsplit("/", 1)[1]
    assert jobs.wait(job_id, 30)
    status = client.get(f"/planner/jobs/{job_id}.json").get_json()
    assert status["state"] == "done" and status["done"] == 3 and status["total"] == 3
    assert status["result"]["sent"] == 3 and status["deliveries"]["sent"] == 3
    html = client.get(job_url)
    assert html.status_code == 200 and "<progress" in html.text and "Refresh" not in html.headers
    assert "3 of 3 processed" in html.text
    assert len(outbox_messages(app)) == 3

    reminder = client.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "reminder", "number": "1"})
    assert reminder.status_code == 303
    assert jobs.wait(reminder.headers["Location"].rsplit("/", 1)[1], 30)
    assert len(outbox_messages(app)) == 6

    actions = audit_events(app)
    sent_events = [details for action, details in actions if action == "invitations_sent"]
    assert sent_events == [{"kind": "invitation", "to_send": 3, "already": 0}]
    assert any(action == "reminders_sent" and d["kind"] == "reminder-1" for action, d in actions)
    finished = [d for action, d in actions if action == "mail_job_finished"]
    assert [(d["kind"], d["sent"]) for d in finished] == [("invitation", 3), ("reminder-1", 3)]
    overview = client.get(f"/planner/waves/{SLUG}/mail").text
    assert "Reminder 1" in overview and "Recent sending jobs" in overview


def test_planner_mail_actions_refuse_bad_input(app: Flask) -> None:
    make_mail_wave(app, people=1)
    client = _planner(app)
    assert client.post(f"/planner/waves/{SLUG}/mail/send", data={}).status_code == 400
    assert client.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "reminder-99"}).status_code == 400
    assert (
        client.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "reminder", "number": "x"}).status_code
        == 400
    )
    assert client.post("/planner/waves/nope/mail/send", data={"kind": "invitation"}).status_code == 404
    assert client.get("/planner/jobs/nope").status_code == 404
    assert client.get("/planner/jobs/nope.json").status_code == 404
    assert client.get(f"/planner/waves/{SLUG}/mail/preview?kind=other").status_code == 400
    viewer = app.test_client()
    login(viewer, "viewer")
    viewer.get("/?lang=en")
    assert viewer.get(f"/planner/waves/{SLUG}/mail").status_code == 403
    assert viewer.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "invitation"}).status_code == 403
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        set_state(wave, "closed")
        db.session.commit()
    closed = client.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "invitation"})
    assert closed.status_code == 409 and "only be sent while the wave is open" in closed.text
    assert client.post(f"/planner/waves/{SLUG}/mail/retry", data={"kind": "invitation"}).status_code == 409
    assert client.post(f"/planner/waves/{SLUG}/mail/templates", data={"action": "save"}).status_code == 409
    assert outbox_messages(app) == []


def test_a_second_start_while_a_job_runs_is_refused(app: Flask) -> None:
    make_mail_wave(app, people=1)
    client = _planner(app)
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == SLUG)).scalar_one()
        db.session.add(
            Job(kind="mail:invitation", wave_id=wave.id, state="queued", params={"kind": "invitation"})
        )
        db.session.commit()
    assert client.post(f"/planner/waves/{SLUG}/mail/send", data={"kind": "invitation"}).status_code == 409


def test_planner_edits_mail_texts_with_validation_and_preview(app: Flask) -> None:
    make_mail_wave(app, people=2)
    client = _planner(app)
    page = client.get(f"/planner/waves/{SLUG}/mail/templates")
    assert (
        page.status_code == 200 and "invitation-nl-subject" in page.text and "reminder-en-html" in page.text
    )

    broken = client.post(
        f"/planner/waves/{SLUG}/mail/templates",
        data={"action": "save", "invitation-nl-subject": "Hallo {{ name"},
    )
    assert broken.status_code == 422 and "invitation-nl" in broken.text
    misspelt = client.post(
        f"/planner/waves/{SLUG}/mail/templates",
        data={"action": "preview", "reminder-en-text": "Hi {{ nmae }}"},
    )
    assert misspelt.status_code == 422 and "nmae" in misspelt.text
    unsafe = client.post(
        f"/planner/waves/{SLUG}/mail/templates",
        data={"action": "save", "invitation-en-text": "{{ ''.__class__.__mro__ }}"},
    )
    assert unsafe.status_code == 422
    with app.app_context():
        assert db.session.execute(select(Wave.mail_templates).where(Wave.slug == SLUG)).scalar_one() is None

    preview = client.post(
        f"/planner/waves/{SLUG}/mail/templates",
        data={"action": "preview", "invitation-nl-subject": "Vraag voor {{ name }}"},
    )
    assert (
        preview.status_code == 200 and "Vraag voor An Voorbeeld" in preview.text and "srcdoc=" in preview.text
    )

    saved = client.post(
        f"/planner/waves/{SLUG}/mail/templates",
        data={
            "action": "save",
            "invitation-nl-subject": "Vraag voor {{ name }}",
            "invitation-nl-html": "<p>Dag {{ name }}, <a href='{{ link }}'>start</a></p>",
        },
    )
    assert saved.status_code == 303
    with app.app_context():
        stored = db.session.execute(select(Wave.mail_templates).where(Wave.slug == SLUG)).scalar_one()
    # Only what differs from the standard texts is kept.
    assert stored == {
        "invitation": {
            "nl": {
                "subject": "Vraag voor {{ name }}",
                "html": "<p>Dag {{ name }}, <a href='{{ link }}'>start</a></p>",
            }
        }
    }
    assert client.get(f"/planner/waves/{SLUG}/mail/preview?kind=invitation&lang=nl").status_code == 200

    send(app)
    by_to = {m["To"].addresses[0].addr_spec: m for m in outbox_messages(app)}
    assert by_to["p0@example.org"]["Subject"] == "Vraag voor Person 0"
    assert by_to["p1@example.org"]["Subject"].startswith("Your opinion counts")  # English default
    assert "Dag Person 0" in body(by_to["p0@example.org"], "html")

    reset = client.post(f"/planner/waves/{SLUG}/mail/templates", data={"action": "reset"})
    assert reset.status_code == 303
    actions = [action for action, _ in audit_events(app)]
    assert "mail_templates_changed" in actions and "mail_templates_reset" in actions


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def test_cli_send_and_remind(app: Flask) -> None:
    make_mail_wave(app, people=3)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["invitations", "send", SLUG])
    assert result.exit_code == 0, result.output
    assert "sent 3, skipped 0, failed 0, uncertain 0" in result.output
    again = runner.invoke(args=["invitations", "send", SLUG])
    assert "sent 0, skipped 3" in again.output
    set_invitation(app, "p2", submitted=True)
    remind = runner.invoke(args=["invitations", "remind", SLUG, "--number", "1"])
    assert remind.exit_code == 0 and "sent 2, skipped 1" in remind.output
    assert len(outbox_messages(app)) == 5
    missing = runner.invoke(args=["invitations", "send", "nope"])
    assert missing.exit_code != 0 and "no wave" in missing.output
    no_queue = runner.invoke(args=["invitations", "send", SLUG, "--queue"])
    assert no_queue.exit_code != 0 and "REDIS_URL" in no_queue.output
    actions = [action for action, _ in audit_events(app)]
    assert actions.count("invitations_sent") == 2 and actions.count("reminders_sent") == 1
