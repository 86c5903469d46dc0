"""Invitation and reminder mails: templates, rendering and transports (SMTP or an outbox folder).

Mail texts are Jinja2 templates. The defaults ship in ``surveyapp/mail_templates/<kind>.yaml``
(one file per kind, both languages); a wave may override them in ``Wave.mail_templates``
(kind → language → {subject, text, html}). Planners edit those overrides, so they are rendered
in a sandbox, HTML with autoescape, and the person's name is treated as untrusted data.

Nothing here touches the database: callers pass what a mail needs (see :class:`MailContext`).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml
from babel.dates import format_date
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

TEMPLATE_DIR = Path(__file__).resolve().parent / "mail_templates"
TEMPLATE_KINDS = ("invitation", "reminder")
TEMPLATE_PARTS = ("subject", "text", "html")
MAIL_LANGUAGES = ("nl", "en")
MAX_TEMPLATE_CHARS = 20_000
MAX_RENDERED_CHARS = 200_000
MAX_SUBJECT_CHARS = 200

_REMINDER_KIND = re.compile(r"^reminder-([1-9][0-9]?)$")


class MailTemplateError(ValueError):
    """A mail template that cannot be compiled or rendered (shown to the planner as is)."""


class MailError(Exception):
    """A mail that was not (certainly) delivered; ``attempts`` says how often it was tried."""

    attempts: int = 1


class PermanentMailError(MailError):
    """The mail cannot be delivered and trying again will not help (bad address, 5xx reply)."""


class TransientMailError(MailError):
    """The server did not take the mail but may later (4xx reply, no connection): safe to retry."""


class UncertainMailError(MailError):
    """The connection broke while the server was taking the mail: it may or may not have arrived.

    Never retried: at most one mail per person matters more than delivery.
    """


# --------------------------------------------------------------------------------------------
# Kinds
# --------------------------------------------------------------------------------------------


def reminder_number(kind: str) -> int | None:
    """``reminder-2`` → 2; None for any other kind."""
    match = _REMINDER_KIND.match(kind)
    return int(match.group(1)) if match else None


def is_valid_kind(kind: str) -> bool:
    return kind == "invitation" or reminder_number(kind) is not None


def template_kind(kind: str) -> str:
    """All reminders share the ``reminder`` templates."""
    return "reminder" if reminder_number(kind) is not None else kind


# --------------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------------


class _MailSandbox(SandboxedEnvironment):
    """A sandbox that also refuses to build huge strings (``{{ "x" * 10**9 }}``)."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise MailTemplateError("the ** operator is not allowed in mail templates")
        if isinstance(left, int | float) and isinstance(right, int | float):
            return left * right
        size = len(left) * right if isinstance(left, str | list) and isinstance(right, int) else None
        if size is None and isinstance(right, str | list) and isinstance(left, int):
            size = len(right) * left
        if size is not None and size > MAX_RENDERED_CHARS:
            raise MailTemplateError("a template expression makes too long a text")
        return super().call_binop(context, operator, left, right)


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = _MailSandbox(autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True)
    return env


_HTML_ENV = _environment(True)
_TEXT_ENV = _environment(False)


@lru_cache(maxsize=8)
def _default_file(kind: str) -> dict[str, dict[str, str]]:
    path = TEMPLATE_DIR / f"{kind}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(lang): {str(k): str(v) for k, v in parts.items()} for lang, parts in data.items()}


def default_templates(kind: str, lang: str) -> dict[str, str]:
    """The shipped subject/text/html of a template kind (``invitation``/``reminder``) and language."""
    by_lang = _default_file(template_kind(kind))
    return dict(by_lang.get(lang) or by_lang["nl"])


def templates_for(kind: str, lang: str, overrides: Mapping[str, Any] | None) -> dict[str, str]:
    """The templates to use: the wave's override part by part, the default for the rest.

    An override may name the exact kind (``reminder-2``) or the template kind (``reminder``).
    """
    chosen = default_templates(kind, lang)
    if overrides:
        for key in (template_kind(kind), kind):
            by_lang = overrides.get(key)
            parts = by_lang.get(lang) if isinstance(by_lang, Mapping) else None
            if isinstance(parts, Mapping):
                for part in TEMPLATE_PARTS:
                    value = parts.get(part)
                    if isinstance(value, str) and value.strip():
                        chosen[part] = value
    return chosen


@dataclass(frozen=True)
class CompiledTemplates:
    """Compiled subject/text/html templates of one kind and language (compile once per job)."""

    kind: str
    lang: str
    subject: Any
    text: Any
    html: Any

    def render(self, context: Mapping[str, Any]) -> tuple[str, str, str]:
        values = dict(context)
        try:
            subject = self.subject.render(values)
            text = self.text.render(values)
            html = self.html.render(values)
        except MailTemplateError:
            raise
        except TemplateError as exc:
            raise MailTemplateError(_template_message(exc)) from exc
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise MailTemplateError(f"the template failed: {exc}") from exc
        if max(len(text), len(html)) > MAX_RENDERED_CHARS:
            raise MailTemplateError("the mail is too long")
        subject = " ".join(subject.split())  # one line: no header injection, no stray newlines
        if not subject:
            raise MailTemplateError("the subject is empty")
        return subject[:MAX_SUBJECT_CHARS], text, html


def _template_message(exc: TemplateError) -> str:
    line = getattr(exc, "lineno", None)
    where = f" (line {line})" if line else ""
    return f"{exc.message or exc.__class__.__name__}{where}"


def compile_templates(kind: str, lang: str, sources: Mapping[str, str]) -> CompiledTemplates:
    """Compile subject, text and html; a syntax error becomes a :class:`MailTemplateError`."""
    compiled: dict[str, Any] = {}
    for part in TEMPLATE_PARTS:
        source = sources.get(part, "")
        if len(source) > MAX_TEMPLATE_CHARS:
            raise MailTemplateError(f"the {part} template is longer than {MAX_TEMPLATE_CHARS} characters")
        env = _HTML_ENV if part == "html" else _TEXT_ENV
        try:
            compiled[part] = env.from_string(source)
        except TemplateError as exc:
            raise MailTemplateError(f"{part}: {_template_message(exc)}") from exc
    return CompiledTemplates(kind, lang, compiled["subject"], compiled["text"], compiled["html"])


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


class _CachedHeaderRegistry(HeaderRegistry):
    """The standard registry builds a new header class on every lookup; at tens of thousands of
    mails that is a large share of the time, so the classes are kept."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = super().__getitem__(name)
        return found


MAIL_POLICY = default_policy.clone(header_factory=_CachedHeaderRegistry())
SMTP_POLICY = MAIL_POLICY.clone(linesep="\r\n")


@dataclass(frozen=True)
class MailContext:
    """What the templates may use. Never anything answered: only who asks, what and until when."""

    survey_title: str
    organisation: str
    wave_title: str
    minutes: int | None
    deadline: date | None
    sender: str
    anonymous: bool = True  # the wave's mode: only an anonymous wave's mails call answers anonymous

    def variables(
        self,
        *,
        lang: str,
        name: str | None,
        link: str,
        opt_out_link: str | None,
        reminder: int | None,
    ) -> dict[str, Any]:
        return {
            "name": clean_display_name(name),
            "link": link,
            "opt_out_link": opt_out_link,
            "survey_title": self.survey_title,
            "organisation": self.organisation,
            "wave_title": self.wave_title,
            "minutes": self.minutes,
            "deadline": format_date(self.deadline, format="d MMMM y", locale=lang) if self.deadline else None,
            "reminder_number": reminder,
            "language": lang,
            "anonymous": self.anonymous,
        }


TEMPLATE_VARIABLES = (
    "name",
    "link",
    "opt_out_link",
    "survey_title",
    "organisation",
    "wave_title",
    "minutes",
    "deadline",
    "reminder_number",
    "language",
    "anonymous",
)

# How a text tells people their answers are anonymous, in Dutch and English ("anoniem",
# "anonymous", "anonymity", "anonimiteit"...), in any case.
ANONYMITY_WORDS = re.compile(r"anonie|anonym|anonim", re.IGNORECASE)


def check_mode_words(anonymous: bool, *parts: str) -> None:
    """An identified wave's mail must never call the answers anonymous.

    Run on a sample rendering (never on a person's mail: a random token could spell a word).
    Raises :class:`MailTemplateError` with a message for the planner.
    """
    if anonymous:
        return
    for part in parts:
        found = ANONYMITY_WORDS.search(part)
        if found:
            raise MailTemplateError(
                "this wave is not anonymous, so its mails must not say that the answers are "
                f"anonymous (found “{part[max(0, found.start() - 20) : found.end() + 20].strip()}”): "
                "put such a sentence inside {% if anonymous %} … {% endif %}"
            )


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clean_display_name(name: str | None) -> str:
    """A register name fit for a header and a greeting: no control characters, bounded length."""
    if not name:
        return ""
    return " ".join(_CONTROL.sub(" ", name).split())[:100]


def sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "localhost"


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str | None
    lang: str


def build_message(
    templates: CompiledTemplates,
    context: MailContext,
    recipient: Recipient,
    *,
    link: str,
    opt_out_link: str | None,
    reminder: int | None,
) -> EmailMessage:
    """A complete message (plain text with an HTML alternative) for one person.

    Raises :class:`PermanentMailError` for an address that is not one, and
    :class:`MailTemplateError` when the template cannot be rendered.
    """
    subject, text, html = templates.render(
        context.variables(
            lang=recipient.lang, name=recipient.name, link=link, opt_out_link=opt_out_link, reminder=reminder
        )
    )
    message = EmailMessage(policy=MAIL_POLICY)
    address = recipient.email.strip()
    if not address.isascii():
        raise PermanentMailError(
            f"not a valid e-mail address (non-ASCII addresses are not supported): {address!r}"
        )
    try:
        to = Address(display_name=clean_display_name(recipient.name), addr_spec=address)
        message["To"] = to
    except (ValueError, IndexError, TypeError) as exc:
        raise PermanentMailError(f"not a valid e-mail address: {recipient.email!r}") from exc
    message["From"] = context.sender
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(idstring=secrets.token_hex(6), domain=sender_domain(context.sender))
    message["Auto-Submitted"] = "auto-generated"
    if opt_out_link:
        message["List-Unsubscribe"] = f"<{opt_out_link}>"
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    message["Content-Language"] = recipient.lang  # after set_content, which drops Content-* headers
    return message


def sample_context(lang: str = "nl") -> MailContext:
    """A stand-in wave for previews of templates without a wave."""
    return MailContext(
        survey_title="Voorbeeldbevraging" if lang == "nl" else "Example survey",
        organisation="De sociale dienst" if lang == "nl" else "The social service",
        wave_title="Voorbeeld",
        minutes=10,
        deadline=date(2026, 3, 31),
        sender="Sociale Dienst <enquete@example.org>",
    )


# --------------------------------------------------------------------------------------------
# Transports
# --------------------------------------------------------------------------------------------


class Transport(Protocol):
    """Delivers one message; raises Transient/Permanent/UncertainMailError on failure."""

    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


def _recipients(message: EmailMessage) -> list[str]:
    addresses: list[str] = []
    for header in ("To", "Cc", "Bcc"):
        value = message.get(header)
        if value is not None:
            addresses.extend(a.addr_spec for a in value.addresses)
    return addresses


class OutboxTransport:
    """The embedded default: each mail becomes an ``.eml`` file in a folder (written atomically)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def send(self, message: EmailMessage) -> None:
        name = f"{time.time_ns()}-{secrets.token_hex(4)}"
        partial = self.folder / f".{name}.tmp"
        try:
            partial.write_bytes(message.as_bytes())
            os.replace(partial, self.folder / f"{name}.eml")
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise TransientMailError(f"cannot write to the outbox: {exc}") from exc

    def close(self) -> None:
        return None


@dataclass
class SMTPTransport:
    """SMTP with one connection kept open for many mails (reconnecting when it drops).

    Each mail goes through MAIL FROM, RCPT TO and DATA separately, so a failure is classified
    by where it happened: before DATA nothing was delivered (safe to retry on 4xx or a lost
    connection); a lost connection during DATA is uncertain and never retried.
    """

    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    sender: str = ""
    timeout: float = 30.0
    _connection: smtplib.SMTP | None = field(default=None, init=False, repr=False)

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        try:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            connection.ehlo()
            if self.use_tls:
                connection.starttls(context=ssl.create_default_context())
                connection.ehlo()
            if self.username and self.password:
                connection.login(self.username, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentMailError(f"the mail server refused the login: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TransientMailError(
                    f"mail server busy: {exc.smtp_code} {_text(exc.smtp_error)}"
                ) from exc
            raise PermanentMailError(f"mail server refused: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientMailError(f"cannot connect to the mail server: {exc}") from exc
        self._connection = connection
        return connection

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()

    def send(self, message: EmailMessage) -> None:
        envelope_from = parseaddr(self.sender or str(message["From"]))[1]
        recipients = _recipients(message)
        connection = self._connect()
        try:
            code, reply = connection.mail(envelope_from)
            if code != 250:
                self._refused(connection, code, reply)
            for recipient in recipients:
                code, reply = connection.rcpt(recipient)
                if code not in (250, 251):
                    self._refused(connection, code, reply)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise TransientMailError(f"connection to the mail server lost: {exc}") from exc
        payload = message.as_bytes(policy=SMTP_POLICY)
        try:
            code, reply = connection.data(payload)
        except smtplib.SMTPDataError as exc:  # the DATA command itself was refused: nothing sent
            self._reset(connection)
            self._classify(exc.smtp_code, exc.smtp_error)
            return
        except (smtplib.SMTPException, OSError) as exc:  # OSError covers timeouts
            self._drop()
            raise UncertainMailError(f"connection lost while the server took the mail: {exc}") from exc
        if code != 250:
            self._reset(connection)
            self._classify(code, reply)

    def _refused(self, connection: smtplib.SMTP, code: int, reply: bytes) -> None:
        self._reset(connection)
        self._classify(code, reply)

    def _reset(self, connection: smtplib.SMTP) -> None:
        try:
            connection.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    @staticmethod
    def _classify(code: int, reply: bytes | str) -> None:
        if 400 <= code < 500 or code == -1:
            raise TransientMailError(f"mail server says try later: {code} {_text(reply)}")
        raise PermanentMailError(f"mail server refused the mail: {code} {_text(reply)}")

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())[:300]


TransportFactory = Callable[[Mapping[str, Any]], Transport]


def make_transport(config: Mapping[str, Any]) -> Transport:
    """SMTP when ``MAIL_SERVER`` is set, otherwise the outbox folder.

    ``MAIL_TRANSPORT_FACTORY`` (a callable taking the config) replaces both, for tests.
    """
    factory = config.get("MAIL_TRANSPORT_FACTORY")
    if factory is not None:
        transport: Transport = factory(config)
        return transport
    if config.get("MAIL_SERVER"):
        return SMTPTransport(
            host=str(config["MAIL_SERVER"]),
            port=int(config.get("MAIL_PORT") or 25),
            username=config.get("MAIL_USERNAME"),
            password=config.get("MAIL_PASSWORD"),
            use_tls=bool(config.get("MAIL_USE_TLS")),
            sender=str(config.get("MAIL_SENDER") or ""),
            timeout=float(setting(config, "MAIL_TIMEOUT", 30.0)),
        )
    return OutboxTransport(str(config["OUTBOX_DIR"]))


def send_with_retries(
    transport: Transport,
    message: EmailMessage,
    *,
    attempts: int = 3,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send, retrying transient failures with exponential backoff; returns the attempts used.

    The last transient error, a permanent one or an uncertain one is raised to the caller.
    """
    for attempt in range(1, attempts + 1):
        try:
            transport.send(message)
        except TransientMailError as exc:
            if attempt >= attempts:
                exc.attempts = attempt
                raise
            sleep(backoff * (2 ** (attempt - 1)))
        except (PermanentMailError, UncertainMailError) as exc:
            exc.attempts = attempt
            raise
        else:
            return attempt
    raise AssertionError("unreachable")  # pragma: no cover


class Throttle:
    """At most ``rate`` calls of :meth:`wait` per second on average (0 = no limit)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock = clock
        self.next_at = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.clock()
        if self.next_at > now:
            time.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = max(self.next_at, now) + self.interval


_DEFAULTS: dict[str, Any] = {
    "MAIL_RATE_PER_SECOND": 20.0,
    "MAIL_BATCH_SIZE": 200,
    "MAIL_COMMIT_EVERY": 1,
    "MAIL_RETRIES": 3,
    "MAIL_RETRY_BACKOFF": 1.0,
    "MAIL_TIMEOUT": 30.0,
}


def setting(config: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """A setting from the app config, else the environment, else the default (typed like it)."""
    fallback = _DEFAULTS.get(name, default) if default is None else default
    value = config.get(name)
    if value is None:
        value = os.environ.get(name)
    if value is None or value == "":
        return fallback
    if isinstance(fallback, bool):
        return str(value).strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(fallback, int):
        return int(float(value))
    if isinstance(fallback, float):
        return float(value)
    return value
