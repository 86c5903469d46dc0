"""Mail building and transports: templates (sandboxed, escaped), headers, retries, throttling,
and a real SMTP server on localhost (aiosmtpd) receiving what the jobs send."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from flask import Flask

from surveyapp import mail
from tests.test_invitations import (
    HOSTILE,
    body,
    deliveries,
    make_mail_wave,
    outbox_messages,
    send,
    token_of,
)

CONTEXT = mail.MailContext(
    survey_title="Korte bevraging",
    organisation="De sociale dienst",
    wave_title="Test",
    minutes=7,
    deadline=date(2026, 3, 31),
    sender="Sociale Dienst <enquete@example.org>",
)


def compiled(kind: str, lang: str, overrides: dict[str, Any] | None = None) -> mail.CompiledTemplates:
    return mail.compile_templates(kind, lang, mail.templates_for(kind, lang, overrides))


def build(
    kind: str = "invitation",
    lang: str = "nl",
    name: str | None = "An",
    email: str = "an@example.org",
    overrides: dict[str, Any] | None = None,
    context: mail.MailContext = CONTEXT,
) -> EmailMessage:
    number = mail.reminder_number(kind)
    link = "https://enquete.example.org/s/TOKEN123"
    return mail.build_message(
        compiled(kind, lang, overrides),
        context,
        mail.Recipient(email, name, lang),
        link=link,
        opt_out_link=f"{link}/opt-out" if number else None,
        reminder=number,
    )


def reparse(message: EmailMessage) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(message.as_bytes())  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# Templates and messages
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("kind", ["invitation", "reminder-1", "reminder-3"])
def test_default_texts_say_who_why_how_long_anonymous_link_and_deadline(kind: str, lang: str) -> None:
    message = reparse(build(kind, lang))
    text, html = body(message), body(message, "html")
    for part in (text, html):
        assert "De sociale dienst" in part  # who asks
        assert "7" in part  # how long
        assert "https://enquete.example.org/s/TOKEN123" in part  # the personal link
        assert ("31 maart 2026" if lang == "nl" else "31 March 2026") in part  # the deadline
        assert ("anoniem" if lang == "nl" else "anonymous") in part
        opt_out = "https://enquete.example.org/s/TOKEN123/opt-out"
        assert (opt_out in part) == kind.startswith("reminder")
    if lang == "nl":
        assert " u " in text and " je " not in text  # the polite "u" form
        assert 'lang="nl"' in html
    assert message["Content-Language"] == lang
    assert (message["List-Unsubscribe"] is not None) == kind.startswith("reminder")


def test_no_deadline_no_minutes_and_no_name() -> None:
    quiet = mail.MailContext("S", "Org", "W", None, None, "x@example.org")
    text = body(reparse(build(name=None, context=quiet)))
    assert "tot en met" not in text and "minuten" not in text
    assert text.startswith("Goedendag,")


def test_hostile_names_are_escaped_in_html_and_cannot_inject_headers() -> None:
    message = reparse(build("invitation", "en", name=HOSTILE))
    html = body(message, "html")
    assert "<script>" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Jansen" in html
    assert HOSTILE in body(message)  # plain text is plain text
    assert message["To"].addresses[0].display_name == HOSTILE
    sneaky = reparse(build(name="Eve\r\nBcc: victim@example.org"))
    assert sneaky["Bcc"] is None and sneaky["To"].addresses[0].addr_spec == "an@example.org"
    subject_injection = {"invitation": {"nl": {"subject": "Hallo\nBcc: victim@example.org {{ name }}"}}}
    injected = reparse(build(overrides=subject_injection, name="An"))
    assert injected["Bcc"] is None and injected["Subject"] == "Hallo Bcc: victim@example.org An"


def test_headers() -> None:
    message = reparse(build("reminder-2"))
    assert message["From"] == CONTEXT.sender
    assert message["To"] == "An <an@example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@example.org>")
    assert message["Date"] is not None
    assert message["List-Unsubscribe"].strip() == "<https://enquete.example.org/s/TOKEN123/opt-out>"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    with pytest.raises(mail.PermanentMailError, match="not a valid e-mail address"):
        build(email="no address here")


def test_wave_overrides_replace_parts_per_kind_and_language() -> None:
    overrides = {
        "invitation": {"en": {"subject": "Hi {{ name }}"}},
        "reminder": {"nl": {"text": "Herinnering {{ reminder_number }} voor {{ name }}: {{ link }}"}},
        "reminder-2": {"nl": {"text": "Laatste herinnering: {{ link }}"}},
    }
    assert build("invitation", "en", overrides=overrides)["Subject"] == "Hi An"
    assert build("invitation", "nl", overrides=overrides)["Subject"].startswith("Uw mening telt")
    assert body(reparse(build("reminder-1", "nl", overrides=overrides))).startswith("Herinnering 1 voor An")
    assert body(reparse(build("reminder-2", "nl", overrides=overrides))).startswith("Laatste herinnering")
    # Parts not overridden keep the default.
    assert "Herinnering" in build("reminder-1", "nl", overrides=overrides)["Subject"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("Hallo {{ name", "line 1"),
        ("{% for x in %}", "line 1"),
        ("{{ nmae }}", "'nmae' is undefined"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
        ("{{ link.__class__ }}", "unsafe"),
        ("{{ 'x' * 100000000 }}", "too long"),
        ("{{ 9 ** 9 ** 9 }}", "not allowed"),
        ("{% for i in range(10000000) %}x{% endfor %}", "range"),
        ("x" * (mail.MAX_TEMPLATE_CHARS + 1), "longer than"),
    ],
)
def test_bad_templates_give_clear_errors(source: str, message: str) -> None:
    with pytest.raises(mail.MailTemplateError, match=message):
        build(overrides={"invitation": {"nl": {"text": source}}})


def test_empty_subject_is_refused() -> None:
    with pytest.raises(mail.MailTemplateError, match="subject is empty"):
        build(overrides={"invitation": {"nl": {"subject": "{{ '' }}   "}}})


# --------------------------------------------------------------------------------------------
# Retries, throttle, outbox
# --------------------------------------------------------------------------------------------


class Scripted:
    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.sent = 0

    def send(self, message: EmailMessage) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.sent += 1

    def close(self) -> None:
        pass


def test_send_with_retries_backs_off_on_transient_errors_only() -> None:
    pauses: list[float] = []
    transport = Scripted(mail.TransientMailError("a"), mail.TransientMailError("b"))
    assert (
        mail.send_with_retries(transport, EmailMessage(), attempts=3, backoff=0.5, sleep=pauses.append) == 3
    )
    assert pauses == [0.5, 1.0] and transport.sent == 1

    with pytest.raises(mail.TransientMailError) as transient:
        mail.send_with_retries(
            Scripted(*[mail.TransientMailError("x")] * 3), EmailMessage(), sleep=pauses.append
        )
    assert transient.value.attempts == 3
    for error in (mail.PermanentMailError("550"), mail.UncertainMailError("lost")):
        with pytest.raises(type(error)) as raised:
            mail.send_with_retries(Scripted(error), EmailMessage(), sleep=pauses.append)
        assert raised.value.attempts == 1


def test_throttle() -> None:
    throttle = mail.Throttle(50)
    started = time.monotonic()
    for _ in range(11):
        throttle.wait()
    assert time.monotonic() - started >= 10 / 50 * 0.95
    unlimited = mail.Throttle(0)
    started = time.monotonic()
    for _ in range(1000):
        unlimited.wait()
    assert time.monotonic() - started < 0.1


def test_outbox_writes_whole_files(tmp_path: Any) -> None:
    transport = mail.OutboxTransport(tmp_path / "out")
    transport.send(build())
    files = list((tmp_path / "out").iterdir())
    assert len(files) == 1 and files[0].suffix == ".eml"
    assert BytesParser(policy=policy.default).parsebytes(files[0].read_bytes())["To"] == "An <an@example.org>"


def test_make_transport_chooses_by_config(tmp_path: Any) -> None:
    assert isinstance(mail.make_transport({"OUTBOX_DIR": str(tmp_path)}), mail.OutboxTransport)
    smtp = mail.make_transport({"MAIL_SERVER": "mail.example.org", "MAIL_PORT": 587, "MAIL_USE_TLS": True})
    assert isinstance(smtp, mail.SMTPTransport) and smtp.port == 587 and smtp.use_tls
    assert mail.setting({"MAIL_RATE_PER_SECOND": "2.5"}, "MAIL_RATE_PER_SECOND") == 2.5
    assert mail.setting({}, "MAIL_BATCH_SIZE") == 200


# --------------------------------------------------------------------------------------------
# A real SMTP server
# --------------------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Handler:
    """aiosmtpd handler: stores what arrives; scripted replies per recipient."""

    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, list[str]] = field(default_factory=dict)
    drop_during_data: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        planned = self.rcpt_replies.get(address)
        if planned:
            return planned.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if set(envelope.rcpt_tos) & self.drop_during_data:
            server.transport.close()  # the mail arrived, but the client never hears so
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SMTPServer:
    handler: Handler
    port: int
    controller: Any


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult

    ok = getattr(auth_data, "login", None) == b"sender" and getattr(auth_data, "password", None) == b"s3cret"
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    from aiosmtpd.controller import Controller

    handler = Handler()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator,
        auth_require_tls=False,
        auth_required=False,
    )
    controller.start()
    try:
        yield SMTPServer(handler, port, controller)
    finally:
        controller.stop()


def smtp_config(app: Flask, server: SMTPServer, **extra: Any) -> None:
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_RETRY_BACKOFF=0, **extra)


def test_invitations_arrive_at_a_real_smtp_server(app: Flask, smtp_server: SMTPServer) -> None:
    make_mail_wave(app, people=4)
    smtp_config(app, smtp_server, MAIL_USERNAME="sender", MAIL_PASSWORD="s3cret")
    job = send(app)
    assert job.params["result"]["sent"] == 4
    received = smtp_server.handler.received
    assert sorted(r.rcpt_tos[0] for r in received) == [f"p{i}@example.org" for i in range(4)]
    assert all(r.mail_from == "enquete@example.org" and len(r.rcpt_tos) == 1 for r in received)
    by_to = {r.rcpt_tos[0]: r.message for r in received}
    assert by_to["p0@example.org"]["Subject"] == "Uw mening telt: Korte bevraging"
    assert by_to["p1@example.org"]["Subject"] == "Your opinion counts: Short survey"
    assert "&lt;script&gt;" in body(by_to["p1@example.org"], "html")
    for message in by_to.values():
        response = app.test_client().get(f"/s/{token_of(message)}")
        assert response.status_code == 302
    assert outbox_messages(app) == []  # SMTP, not the outbox


def test_smtp_login_failure_fails_the_mails_not_the_app(app: Flask, smtp_server: SMTPServer) -> None:
    make_mail_wave(app, people=2)
    smtp_config(app, smtp_server, MAIL_USERNAME="sender", MAIL_PASSWORD="wrong")
    result = send(app).params["result"]
    assert result["sent"] == 0 and result["failed"] == 2
    errors = [d.error or "" for d in deliveries(app)]
    assert all("refused the login" in e for e in errors), errors


def test_smtp_replies_decide_retry_failure_or_uncertain(app: Flask, smtp_server: SMTPServer) -> None:
    make_mail_wave(app, people=4)
    smtp_config(app, smtp_server)
    handler = smtp_server.handler
    handler.rcpt_replies = {
        "p0@example.org": ["451 4.7.1 Greylisted, try again"],
        "p1@example.org": ["550 5.1.1 No such user"],
        "p2@example.org": ["452 4.2.2 Mailbox full"] * 3,
    }
    handler.drop_during_data = {"p3@example.org"}
    result = send(app).params["result"]
    assert (result["sent"], result["failed"], result["uncertain"]) == (1, 2, 1)
    rows = sorted(deliveries(app), key=lambda d: d.invitation_id)
    assert rows[0].sent_at is not None and rows[0].attempts == 2
    assert rows[1].error is not None and "550" in rows[1].error and rows[1].attempts == 1
    assert rows[2].error is not None and "452" in rows[2].error and rows[2].attempts == 3
    assert rows[3].error is not None and rows[3].error.startswith("uncertain: ")
    # p3's mail did arrive; the sender could not know, and does not send it again.
    assert sorted(r.rcpt_tos[0] for r in handler.received) == ["p0@example.org", "p3@example.org"]
    send(app, retry_failed=True)
    assert sorted(r.rcpt_tos[0] for r in handler.received) == [
        "p0@example.org",
        "p1@example.org",
        "p2@example.org",
        "p3@example.org",
    ]


def test_smtp_transport_reconnects_after_a_dropped_connection(smtp_server: SMTPServer) -> None:
    transport = mail.SMTPTransport(host="127.0.0.1", port=smtp_server.port, sender="enquete@example.org")
    transport.send(build(email="a@example.org"))
    assert transport._connection is not None
    transport._connection.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]  # hung up while idle
    assert mail.send_with_retries(transport, build(email="b@example.org"), backoff=0) == 2
    transport.close()
    assert [r.rcpt_tos for r in smtp_server.handler.received] == [["a@example.org"], ["b@example.org"]]


def test_no_smtp_server_is_a_transient_failure() -> None:
    transport = mail.SMTPTransport(host="127.0.0.1", port=free_port(), timeout=2)
    with pytest.raises(mail.TransientMailError, match="cannot connect"):
        mail.send_with_retries(transport, build(), attempts=2, backoff=0)
