"""Sending invitations and reminders: at most one mail of each kind per invitation.

The protocol, per batch of (by default) 200 invitations:

1. **claim**: insert a ``MailDelivery`` row per invitation (unique on invitation and kind, so two
   jobs can never claim the same one) and issue each a fresh token; commit;
2. per mail (or per ``MAIL_COMMIT_EVERY`` mails): mark the claim **attempted** (``attempts = 1``,
   conditional on it still being ours and untried) in the same commit that records the previous
   mails' outcomes; then build the message and hand it to the transport (retrying transient
   errors, throttled to ``MAIL_RATE_PER_SECOND``);
3. record ``sent_at`` (and the invitation's ``sent_at``/``reminders_sent``) or the ``error``.

A crash anywhere leaves at most one attempted-but-unrecorded claim (one group) per job *uncertain*:
it may or may not have been delivered, so it is never sent again automatically. Claims never
attempted are taken over by the next job of the same wave and kind. Tokens issued for mails
that were never sent are unused hashes, harmless.

Failed mails keep their claim (with the error) so they are not resent automatically; "retry
failed" deletes those claims and sends again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from flask import current_app
from sqlalchemy import Select, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from surveyapp import jobs, mail
from surveyapp.extensions import db
from surveyapp.models import Invitation, Job, MailDelivery, RegisterPerson, Wave, utcnow
from surveyapp.questionnaire.model import localize
from surveyapp.services.waves import count_invitations
from surveyapp.survey.service import issue_token, questionnaire_of

UNCERTAIN_PREFIX = "uncertain: "
MAX_REMINDERS = 20
JOB_PREFIX = "mail:"


class InvitationError(ValueError):
    """A mailing that cannot be done as asked; ``status`` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------------------------
# Kinds and eligibility
# --------------------------------------------------------------------------------------------


def check_kind(kind: str) -> str:
    number = mail.reminder_number(kind)
    if kind != "invitation" and (number is None or number > MAX_REMINDERS):
        raise InvitationError(f"unknown mail kind {kind!r}: use 'invitation' or 'reminder-1' … 'reminder-20'")
    return kind


def reminder_kind(number: int) -> str:
    if not 1 <= number <= MAX_REMINDERS:
        raise InvitationError(f"a reminder number is between 1 and {MAX_REMINDERS}")
    return f"reminder-{number}"


def job_kind(kind: str) -> str:
    return JOB_PREFIX + check_kind(kind)


def mail_kind(job_kind_: str) -> str:
    return check_kind(job_kind_.removeprefix(JOB_PREFIX))


def check_open(wave: Wave) -> None:
    if wave.state == "draft":
        raise InvitationError(
            f"wave {wave.slug} is a draft: mails can only be sent once it is open "
            f"(surveyapp wave open {wave.slug})",
            409,
        )
    if wave.state != "open":
        raise InvitationError(
            f"wave {wave.slug} is {wave.state}: mails can only be sent while the wave is open", 409
        )


def candidates(wave_id: int, kind: str) -> Select[int]:
    """Invitations that should get a mail of this kind and have no claim for it yet.

    Never to people who opted out, already submitted or were withdrawn from the register;
    reminders only to people whose invitation mail was sent.
    """
    query = (
        select(Invitation.id)
        .join(RegisterPerson, RegisterPerson.id == Invitation.person_id)
        .where(
            Invitation.wave_id == wave_id,
            Invitation.opted_out.is_(False),
            Invitation.submitted.is_(False),
            Invitation.withdrawn_at.is_(None),
            RegisterPerson.email.is_not(None),
            RegisterPerson.email != "",
            ~exists().where(MailDelivery.invitation_id == Invitation.id, MailDelivery.kind == kind),
        )
    )
    if kind != "invitation":
        query = query.where(
            exists().where(
                MailDelivery.invitation_id == Invitation.id,
                MailDelivery.kind == "invitation",
                MailDelivery.sent_at.is_not(None),
            )
        )
    return query


def count_candidates(wave_id: int, kind: str) -> int:
    return int(
        db.session.execute(
            select(func.count()).select_from(candidates(wave_id, kind).subquery())
        ).scalar_one()
    )


# --------------------------------------------------------------------------------------------
# Where the deliveries stand
# --------------------------------------------------------------------------------------------


@dataclass
class DeliveryCounts:
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    in_progress: int = 0  # attempted by a job that is still alive
    claimed: int = 0  # claimed, not yet attempted

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _status_column() -> Any:
    return case(
        (MailDelivery.sent_at.is_not(None), "sent"),
        (MailDelivery.error.startswith(UNCERTAIN_PREFIX), "uncertain"),
        (MailDelivery.error.is_not(None), "failed"),
        (MailDelivery.attempts >= 1, "attempted"),
        else_="claimed",
    )


def delivery_counts(
    wave_id: int, kind: str | None = None, job_id: str | None = None
) -> dict[str, DeliveryCounts]:
    """Counts per mail kind. An attempt of a job that is no longer alive is *uncertain*."""
    status = _status_column().label("status")
    query = (
        select(MailDelivery.kind, MailDelivery.job_id, status, func.count())
        .join(Invitation, Invitation.id == MailDelivery.invitation_id)
        .where(Invitation.wave_id == wave_id)
        .group_by(MailDelivery.kind, MailDelivery.job_id, status)
    )
    if kind is not None:
        query = query.where(MailDelivery.kind == kind)
    if job_id is not None:
        query = query.where(MailDelivery.job_id == job_id)
    rows = db.session.execute(query).all()
    job_ids = {row[1] for row in rows if row[2] == "attempted" and row[1]}
    alive = {
        job.id
        for job in db.session.execute(select(Job).where(Job.id.in_(job_ids))).scalars()
        if jobs.is_alive(job)
    }
    counts: dict[str, DeliveryCounts] = {}
    for kind_, owner, state, number in rows:
        entry = counts.setdefault(kind_, DeliveryCounts())
        if state == "attempted":
            state = "in_progress" if owner in alive else "uncertain"
        setattr(entry, state, getattr(entry, state) + int(number))
    return counts


def reminder_numbers_used(wave_id: int) -> list[int]:
    kinds = db.session.execute(
        select(MailDelivery.kind)
        .join(Invitation, Invitation.id == MailDelivery.invitation_id)
        .where(Invitation.wave_id == wave_id, MailDelivery.kind.like("reminder-%"))
        .distinct()
    ).scalars()
    return sorted(n for n in (mail.reminder_number(k) for k in kinds) if n is not None)


# --------------------------------------------------------------------------------------------
# Mail texts of a wave
# --------------------------------------------------------------------------------------------


def mail_context(wave: Wave, lang: str, config: Mapping[str, Any]) -> mail.MailContext:
    questionnaire = questionnaire_of(wave.questionnaire_version)
    organisation = localize(questionnaire.organisation, lang) if questionnaire.organisation else ""
    return mail.MailContext(
        survey_title=localize(questionnaire.title, lang) or wave.title,
        organisation=organisation or str(config.get("MAIL_ORGANISATION") or ""),
        wave_title=wave.title,
        minutes=questionnaire.estimated_minutes,
        deadline=wave.closes_on,
        sender=str(config.get("MAIL_SENDER") or "surveyapp <noreply@localhost>"),
        anonymous=wave.anonymous,
    )


def wave_languages(wave: Wave) -> list[str]:
    languages = [lang for lang in (wave.languages or []) if lang in mail.MAIL_LANGUAGES]
    return languages or ["nl"]


def mail_language(languages: list[str], wanted: str | None) -> str:
    """The person's language when the wave has it, else the wave's first language."""
    return wanted if wanted in languages else languages[0]


@dataclass(frozen=True)
class Preview:
    subject: str
    text: str
    html: str


SAMPLE_NAME = "An Voorbeeld"


def render_preview(
    wave: Wave, kind: str, lang: str, sources: Mapping[str, str], config: Mapping[str, Any]
) -> Preview:
    """Render templates for a sample person: the check that runs before templates are saved
    and before a mail job sends. Raises :class:`mail.MailTemplateError` with a message fit for
    the planner, also when an identified wave's mail would call the answers anonymous."""
    compiled = mail.compile_templates(kind, lang, sources)
    base = str(config.get("BASE_URL") or "").rstrip("/")
    number = mail.reminder_number(kind)
    link = f"{base}/s/EXAMPLE-PERSONAL-TOKEN"
    context = mail_context(wave, lang, config)
    subject, text, html = compiled.render(
        context.variables(
            lang=lang,
            name=SAMPLE_NAME,
            link=link,
            opt_out_link=f"{link}/opt-out" if number is not None else None,
            reminder=number,
        )
    )
    mail.check_mode_words(context.anonymous, subject, text, html)
    return Preview(subject, text, html)


def validate_templates(wave: Wave, overrides: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, str]:
    """Errors per ``kind/lang`` for every kind and language of the wave (empty when all render)."""
    errors: dict[str, str] = {}
    for kind in mail.TEMPLATE_KINDS:
        example_kind = "reminder-1" if kind == "reminder" else kind
        for lang in wave_languages(wave):
            sources = mail.templates_for(example_kind, lang, overrides)
            try:
                render_preview(wave, example_kind, lang, sources, config)
            except mail.MailTemplateError as exc:
                errors[f"{kind}/{lang}"] = str(exc)
    return errors


def clean_overrides(submitted: Mapping[str, Mapping[str, Mapping[str, str]]]) -> dict[str, Any] | None:
    """Keep only the parts that differ from the defaults (so better defaults still reach waves)."""
    kept: dict[str, Any] = {}
    for kind, by_lang in submitted.items():
        if kind not in mail.TEMPLATE_KINDS:
            continue
        for lang, parts in by_lang.items():
            if lang not in mail.MAIL_LANGUAGES:
                continue
            defaults = mail.default_templates(kind, lang)
            for part in mail.TEMPLATE_PARTS:
                value = _normalise_newlines(parts.get(part) or "")
                if value.strip() and value.strip() != defaults[part].strip():
                    kept.setdefault(kind, {}).setdefault(lang, {})[part] = value
    return kept or None


def _normalise_newlines(text: str) -> str:
    return re.sub(r"\r\n?", "\n", text)


# --------------------------------------------------------------------------------------------
# The job
# --------------------------------------------------------------------------------------------


@dataclass
class SendResult:
    kind: str
    total: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    uncertain: int = 0
    stopped: str | None = None
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        text = (
            f"{self.kind}: sent {self.sent}, failed {self.failed}, skipped {self.skipped}, "
            f"uncertain {self.uncertain}"
        )
        return text + (f". Stopped: {self.stopped}" if self.stopped else ".")


@dataclass(frozen=True)
class _Pending:
    delivery_id: int
    invitation_id: int
    email: str
    name: str | None
    language: str


def start_mail_job(
    wave: Wave,
    kind: str,
    created_by: str | None,
    *,
    retry_failed: bool = False,
    mode: jobs.Mode = "auto",
    progress: Any = None,
) -> Job:
    """Check the wave and kind, then create and start the job (``jobs.enqueue`` commits)."""
    check_kind(kind)
    check_open(wave)
    return jobs.enqueue(
        job_kind(kind),
        {"kind": kind, "retry_failed": retry_failed},
        wave.id,
        created_by,
        mode=mode,
        progress=progress,
    )


def run_mail_job(job: Job, progress: jobs.Progress) -> jobs.Outcome:
    """The job handler: send one kind of mail for one wave. Commits per batch and per mail."""
    config = current_app.config
    params = dict(job.params or {})
    kind = check_kind(str(params.get("kind") or ""))
    wave = db.session.get(Wave, job.wave_id) if job.wave_id is not None else None
    if wave is None:
        raise InvitationError("the wave of this job no longer exists", 404)
    sender = _Sender(job.id, wave, kind, config, progress)
    try:
        result = sender.run(retry_failed=bool(params.get("retry_failed")))
    except BaseException:
        # Give back the claims never tried, so the next job sends them (best effort: when the
        # process is killed instead, the next job takes them over).
        db.session.rollback()
        try:
            sender.release_untried()
            db.session.commit()
        except Exception:
            db.session.rollback()
        raise
    from surveyapp.services import audit

    audit.record(
        "mail_job_finished",
        job.created_by,
        wave.slug,
        job=job.id,
        kind=kind,
        sent=result.sent,
        failed=result.failed,
        skipped=result.skipped,
        uncertain=result.uncertain,
        stopped=result.stopped,
    )
    db.session.commit()
    return jobs.Outcome(result.summary(), result.as_dict(), failed=result.stopped is not None)


class _Sender:
    """One run of the send protocol (see the module docstring)."""

    def __init__(
        self, job_id: str, wave: Wave, kind: str, config: Mapping[str, Any], progress: jobs.Progress
    ) -> None:
        self.job_id = job_id
        self.wave_id = wave.id
        self.wave = wave
        self.kind = kind
        self.config = config
        self.progress = progress
        self.number = mail.reminder_number(kind)
        self.languages = wave_languages(wave)
        self.batch_size = max(1, int(mail.setting(config, "MAIL_BATCH_SIZE")))
        # Mails marked attempted per commit: 1 leaves at most one uncertain mail after a crash;
        # more is faster (fewer commits) but leaves up to that many uncertain.
        self.group_size = max(1, int(mail.setting(config, "MAIL_COMMIT_EVERY")))
        self.attempts = max(1, int(mail.setting(config, "MAIL_RETRIES")))
        self.backoff = float(mail.setting(config, "MAIL_RETRY_BACKOFF"))
        self.throttle = mail.Throttle(float(mail.setting(config, "MAIL_RATE_PER_SECOND")))
        self.base_url = str(config.get("BASE_URL") or "").rstrip("/")
        self.result = SendResult(kind)
        # Outcomes recorded in memory and written with the next commit.
        self._sent: list[dict[str, Any]] = []
        self._failed: list[dict[str, Any]] = []
        self._sent_invitations: list[int] = []

    # -- setup ------------------------------------------------------------------------------

    def _claims(self) -> Any:
        return (
            select(MailDelivery.id)
            .join(Invitation, Invitation.id == MailDelivery.invitation_id)
            .where(Invitation.wave_id == self.wave_id, MailDelivery.kind == self.kind)
        )

    def _prepare(self, retry_failed: bool) -> None:
        """Mark dead jobs of this wave and kind as interrupted, take over their untried claims,
        and (retry failed) delete failed claims so they are sent again."""
        job_kind_ = job_kind(self.kind)
        jobs.mark_interrupted(jobs.other_jobs(job_kind_, self.wave_id, exclude=self.job_id))
        alive = {
            job.id
            for job in jobs.other_jobs(job_kind_, self.wave_id, exclude=self.job_id)
            if jobs.is_alive(job)
        }
        untried = (
            self._claims()
            .where(
                MailDelivery.attempts == 0,
                MailDelivery.sent_at.is_(None),
                MailDelivery.error.is_(None),
                or_(MailDelivery.job_id.is_(None), MailDelivery.job_id.not_in(alive or {""})),
            )
            .scalar_subquery()
        )
        db.session.execute(
            update(MailDelivery)
            .where(MailDelivery.id.in_(untried))
            .values(job_id=self.job_id)
            .execution_options(synchronize_session=False)
        )
        if retry_failed:
            failed = (
                self._claims()
                .where(
                    MailDelivery.sent_at.is_(None),
                    MailDelivery.error.is_not(None),
                    ~MailDelivery.error.startswith(UNCERTAIN_PREFIX),
                )
                .scalar_subquery()
            )
            db.session.execute(
                delete(MailDelivery)
                .where(MailDelivery.id.in_(failed))
                .execution_options(synchronize_session=False)
            )
        db.session.commit()

    def release_untried(self) -> None:
        """Give back claims this job never tried, so the next job sends them."""
        db.session.execute(
            delete(MailDelivery)
            .where(
                MailDelivery.job_id == self.job_id,
                MailDelivery.attempts == 0,
                MailDelivery.sent_at.is_(None),
                MailDelivery.error.is_(None),
            )
            .execution_options(synchronize_session=False)
        )

    # -- the loop ---------------------------------------------------------------------------

    def run(self, retry_failed: bool) -> SendResult:
        check_open(self.wave)
        # Compile the templates first: a broken template stops the job before any claim.
        templates = {
            lang: mail.compile_templates(
                self.kind, lang, mail.templates_for(self.kind, lang, self.wave.mail_templates)
            )
            for lang in self.languages
        }
        contexts = {lang: mail_context(self.wave, lang, self.config) for lang in templates}
        for lang in templates:  # the words must fit the wave's mode (see render_preview)
            sources = mail.templates_for(self.kind, lang, self.wave.mail_templates)
            render_preview(self.wave, self.kind, lang, sources, self.config)
        self._prepare(retry_failed)
        mine = int(
            db.session.execute(
                select(func.count())
                .select_from(MailDelivery)
                .where(MailDelivery.job_id == self.job_id, MailDelivery.attempts == 0)
            ).scalar_one()
        )
        self.result.total = mine + count_candidates(self.wave_id, self.kind)
        self.result.skipped = max(0, count_invitations(self.wave_id) - self.result.total)
        self.progress.total = self.result.total
        self.progress.message = f"Sending {self.kind}"
        self.progress.save()
        db.session.commit()

        transport = mail.make_transport(self.config)
        try:
            while True:
                state = db.session.execute(
                    select(Wave.state).where(Wave.id == self.wave_id)
                ).scalar_one_or_none()
                if state != "open":
                    self.result.stopped = f"the wave is {state or 'gone'}"
                    self.release_untried()
                    break
                batch = self._next_batch()
                if not batch:
                    break
                tokens = {row.invitation_id: issue_token(row.invitation_id) for row in batch}
                db.session.commit()  # claims and the hashes of their tokens, before any mail
                for start in range(0, len(batch), self.group_size):
                    group = batch[start : start + self.group_size]
                    self._send_group(transport, templates, contexts, group, tokens)
                self._record()
                db.session.commit()
        finally:
            transport.close()

        counts = delivery_counts(self.wave_id, self.kind).get(self.kind, DeliveryCounts())
        self.result.uncertain = counts.uncertain
        self.progress.message = self.result.summary()
        self.progress.save()
        db.session.commit()
        return self.result

    def _next_batch(self) -> list[_Pending]:
        rows = self._load_mine()
        if not rows:
            self._claim()
            rows = self._load_mine()
        return rows

    def _load_mine(self) -> list[_Pending]:
        found = db.session.execute(
            select(
                MailDelivery.id, Invitation.id, RegisterPerson.email, RegisterPerson.name, Invitation.language
            )
            .join(Invitation, Invitation.id == MailDelivery.invitation_id)
            .join(RegisterPerson, RegisterPerson.id == Invitation.person_id)
            .where(
                MailDelivery.job_id == self.job_id,
                MailDelivery.attempts == 0,
                MailDelivery.sent_at.is_(None),
                MailDelivery.error.is_(None),
                Invitation.withdrawn_at.is_(None),  # withdrawn after the claim: not sent
            )
            .order_by(MailDelivery.invitation_id)
            .limit(self.batch_size)
        ).all()
        return [_Pending(d, i, str(e or ""), n, str(lang or "nl")) for d, i, e, n, lang in found]

    def _claim(self) -> int:
        """Insert claims for the next candidates; a claim another job made first is skipped."""
        ids = list(
            db.session.execute(
                candidates(self.wave_id, self.kind).order_by(Invitation.id).limit(self.batch_size)
            ).scalars()
        )
        if not ids:
            return 0
        now = utcnow()
        rows = [
            {"invitation_id": i, "kind": self.kind, "job_id": self.job_id, "claimed_at": now, "attempts": 0}
            for i in ids
        ]
        dialect = db.session.get_bind().dialect.name
        if dialect in ("postgresql", "sqlite"):
            from sqlalchemy.dialects import postgresql, sqlite

            insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement = (
                insert_(MailDelivery)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["invitation_id", "kind"])
                .returning(MailDelivery.id)
            )
            return len(db.session.execute(statement).scalars().all())
        claimed = 0
        for row in rows:  # other databases: one savepoint per claim
            try:
                with db.session.begin_nested():
                    db.session.execute(insert(MailDelivery).values(row))
                claimed += 1
            except IntegrityError:
                continue
        return claimed

    def _mark_attempted(self, group: list[_Pending]) -> set[int]:
        """Mark the group's claims attempted, in the commit that also carries the outcomes of the
        mails before; only claims still ours and untried come back (another job may have taken
        some over). A crash after this commit leaves at most this group uncertain."""
        marked = set(
            db.session.execute(
                update(MailDelivery)
                .where(
                    MailDelivery.id.in_([row.delivery_id for row in group]),
                    MailDelivery.job_id == self.job_id,
                    MailDelivery.attempts == 0,
                    MailDelivery.sent_at.is_(None),
                )
                .values(attempts=1)
                .returning(MailDelivery.id)
                .execution_options(synchronize_session=False)
            ).scalars()
        )
        self._record()
        db.session.commit()
        self.result.skipped += len(group) - len(marked)
        return marked

    def _send_group(
        self,
        transport: mail.Transport,
        templates: Mapping[str, mail.CompiledTemplates],
        contexts: Mapping[str, mail.MailContext],
        group: list[_Pending],
        tokens: Mapping[int, str],
    ) -> None:
        """Build the group's messages, wait for the throttle, mark the claims attempted (commit),
        then hand the messages over. Nothing slow or fallible of ours sits between the commit
        and the transport, so an uncertain claim is one that really was being handed over.
        A template error stops the job before the group is marked (its claims are given back)."""
        prepared: list[tuple[_Pending, EmailMessage | None, str | None]] = []
        for row in group:
            lang = mail_language(self.languages, row.language)
            link = f"{self.base_url}/s/{tokens[row.invitation_id]}"
            try:
                built = mail.build_message(
                    templates[lang],
                    contexts[lang],
                    mail.Recipient(row.email, row.name, lang),
                    link=link,
                    opt_out_link=f"{link}/opt-out" if self.number is not None else None,
                    reminder=self.number,
                )
            except mail.PermanentMailError as exc:  # not an address: fails, nothing to send
                prepared.append((row, None, str(exc)))
            else:
                prepared.append((row, built, None))
        self.throttle.wait()
        marked = self._mark_attempted(group)
        first = True
        for row, ready, error in prepared:
            if row.delivery_id not in marked:
                continue
            if ready is None:
                self._fail(row, error or "not sent", 1)
                continue
            if not first:
                self.throttle.wait()
            first = False
            try:
                used = mail.send_with_retries(transport, ready, attempts=self.attempts, backoff=self.backoff)
            except mail.UncertainMailError as exc:
                self._fail(row, UNCERTAIN_PREFIX + str(exc), exc.attempts)
            except mail.MailError as exc:
                self._fail(row, str(exc), exc.attempts)
            else:
                self._sent.append(
                    {"id": row.delivery_id, "sent_at": utcnow(), "attempts": used, "error": None}
                )
                self._sent_invitations.append(row.invitation_id)
                self.result.sent += 1
                self.progress.done += 1

    def _fail(self, row: _Pending, error: str, attempts: int) -> None:
        self._failed.append({"id": row.delivery_id, "error": error[:500], "attempts": max(1, attempts)})
        if error.startswith(UNCERTAIN_PREFIX):
            self.result.uncertain += 1
        else:
            self.result.failed += 1
        self.progress.failed += 1
        reason = error.split(":", 1)[0][:60]
        self.result.errors[reason] = self.result.errors.get(reason, 0) + 1

    def _record(self) -> None:
        """Stage the outcomes gathered since the last commit, and the job's progress."""
        if self._sent:
            db.session.execute(update(MailDelivery), self._sent)
        if self._failed:
            db.session.execute(update(MailDelivery), self._failed)
        if self._sent_invitations:
            now: datetime = utcnow()
            values: dict[str, Any]
            if self.number is None:
                values = {"sent_at": now}
            else:
                values = {"reminders_sent": Invitation.reminders_sent + 1, "last_reminded_at": now}
            db.session.execute(
                update(Invitation)
                .where(Invitation.id.in_(self._sent_invitations))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        self._sent, self._failed, self._sent_invitations = [], [], []
        self.progress.total = max(self.progress.total, self.progress.done + self.progress.failed)
        self.progress.save()


def pending_summary(wave: Wave) -> dict[str, Any]:
    """What the mail page shows: counts per kind, and how many would get each next mail."""
    counts = delivery_counts(wave.id)
    numbers = reminder_numbers_used(wave.id)
    next_number = (max(numbers) + 1) if numbers else 1
    kinds = ["invitation", *[f"reminder-{n}" for n in numbers]]
    return {
        "counts": counts,
        "kinds": kinds,
        "next_reminder": min(next_number, MAX_REMINDERS),
        "to_invite": count_candidates(wave.id, "invitation"),
        "to_remind": {
            n: count_candidates(wave.id, f"reminder-{n}")
            for n in {*numbers, next_number}
            if n <= MAX_REMINDERS
        },
        "invitations": count_invitations(wave.id),
    }
