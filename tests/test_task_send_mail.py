"""The Send Mail Task against a real SMTP server (aiosmtpd on loopback) that the test
reads: recipients, subject, body from each source, attachments, priority, STARTTLS and
login, and the errors a user sees."""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest
from builders import VERSIONS, Exe, Var, connection_manager, guid, package
from taskrun import PackageRun

from ssisrun.model import ExecResult
from ssisrun.runtime import EventKind, RunRequest

aiosmtpd = pytest.importorskip("aiosmtpd")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

NS = "www.microsoft.com/sqlserver/dts/tasks/sendmailtask"
REPO = Path(__file__).resolve().parents[1]


class Inbox:
    """What the server received: (sender, recipients, parsed message)."""

    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos),
                           email.message_from_bytes(envelope.content,
                                                    policy=email.policy.default)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, *, login: bool = False, **kwargs: Any) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.logins: list[tuple[bytes, bytes]] = []
        if login:
            kwargs.update(authenticator=self.authenticate, auth_require_tls=False)
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port,
                                     **kwargs)
        self.controller.start()

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == b"s3cret!"
        if ok:
            self.logins.append((data.login, data.password))
        return AuthResult(success=ok, handled=False)

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp() -> Iterator[Server]:
    server = Server()
    yield server
    server.stop()


def mail_task(name: str = "Mail", *, attachments: tuple[str, ...] = (),
              expressions: dict[str, str] | None = None, **attrs: Any) -> Exe:
    values = {"SMTPServer": guid("cm", "SMTP"), "From": "etl@example.com",
              "To": "ops@example.com", "Subject": "Load finished",
              "MessageSource": "All rows loaded.", **attrs}
    body = " ".join(f"SendMailTask:{k}={quoteattr(str(v))}" for k, v in values.items())
    children = "".join(f"<SendMailTask:Attachments SendMailTask:FileName={quoteattr(a)}/>"
                       for a in attachments)
    return Exe(name, "Microsoft.SendMailTask", expressions=dict(expressions or {}),
               object_data=f'<SendMailTask:SendMailTaskData xmlns:SendMailTask="{NS}" {body}>'
                           f"{children}</SendMailTask:SendMailTaskData>")


def smtp_cm(server: str, version: int = 8) -> str:
    return connection_manager(version, "SMTP", "SMTP", server)


def send(port: int, task: Exe, *, version: int = 8, extra: str = "", variables: list[Var] = (),
         connections: list[str] = (), request: RunRequest | None = None) -> PackageRun:
    cm = smtp_cm(f"SmtpServer=127.0.0.1:{port};UseWindowsAuthentication=False;"
                 f"EnableSsl=False;{extra}", version)
    return PackageRun(package(version, [task], connections=[cm, *connections],
                              variables=list(variables)), request)


def ok(r: PackageRun) -> None:
    assert r.result.result == ExecResult.Success, r.descriptions(EventKind.OnError)


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize("version", VERSIONS)
def test_the_server_receives_the_mail(smtp: Server, version: int) -> None:
    ok(send(smtp.port, mail_task(To="a@example.com; b@example.com", CC="c@example.com",
                                 BCC="d@example.com,e@example.com", Priority="High"),
            version=version))
    [(sender, rcpts, msg)] = smtp.inbox.mails
    assert sender == "etl@example.com"
    assert rcpts == ["a@example.com", "b@example.com", "c@example.com", "d@example.com",
                     "e@example.com"]
    assert msg["Subject"] == "Load finished"
    assert msg["To"] == "a@example.com, b@example.com" and msg["Cc"] == "c@example.com"
    assert msg["Bcc"] is None
    assert msg["X-Priority"] == "1" and msg["Importance"] == "high"
    assert msg.get_payload(decode=True).decode().strip() == "All rows loaded."


def test_body_from_a_file_connection_and_from_a_variable(smtp: Server, tmp_path: Path) -> None:
    (tmp_path / "body.txt").write_text("Grüße aus der Datei\n", encoding="utf-8")
    file_cm = connection_manager(8, "Body", "FILE", str(tmp_path / "body.txt"),
                                 inner={"FileUsageType": 0})
    ok(send(smtp.port, mail_task(MessageSourceType="FileConnection", MessageSource="Body",
                                 Priority="Low"), connections=[file_cm]))
    ok(send(smtp.port, mail_task(MessageSourceType="Variable", MessageSource="User::Text"),
            variables=[Var("Text", value="from a variable")]))
    first, second = (m for _, _, m in smtp.inbox.mails)
    assert first.get_payload(decode=True).decode("utf-8").strip() == "Grüße aus der Datei"
    assert first["X-Priority"] == "5"
    assert second.get_payload(decode=True).decode().strip() == "from a variable"
    assert second["X-Priority"] is None


def test_attachments_are_mapped_and_sent(smtp: Server, tmp_path: Path) -> None:
    (tmp_path / "rejects.txt").write_text("row 7\n")
    (tmp_path / "d.xlsx").write_bytes(b"PK\x03\x04binary")
    request = RunRequest(path_map=[("E:\\Output\\", f"{tmp_path}/")])
    ok(send(smtp.port, mail_task(attachments=("E:\\Output\\rejects.txt",)), request=request))
    task = mail_task(expressions={"FileAttachments":
                                  f'"{tmp_path}/rejects.txt|{tmp_path}/d.xlsx"',
                                  "Subject": '"Rejects " + "(2)"'})
    ok(send(smtp.port, task))
    first, second = (m for _, _, m in smtp.inbox.mails)
    [part] = list(first.iter_attachments())
    assert part.get_filename() == "rejects.txt"
    assert part.get_payload(decode=True) == b"row 7\n"
    assert second["Subject"] == "Rejects (2)"
    names = [p.get_filename() for p in second.iter_attachments()]
    assert names == ["rejects.txt", "d.xlsx"]
    assert list(second.iter_attachments())[1].get_payload(decode=True) == \
        b"PK\x03\x04binary"


def test_a_missing_attachment_fails_before_sending(smtp: Server, tmp_path: Path) -> None:
    r = send(smtp.port, mail_task(attachments=("C:\\tmp\\d.xlsx",)))
    assert r.result.result == ExecResult.Failure
    [error] = r.descriptions(EventKind.OnError)
    assert '"/tmp/d.xlsx" (mapped from C:\\tmp\\d.xlsx)' in error
    assert smtp.inbox.mails == []


def test_settings_errors(smtp: Server) -> None:
    r = send(smtp.port, mail_task(To="", CC="", BCC=""))
    assert "No recipient is specified" in r.descriptions(EventKind.OnError)[0]
    r = PackageRun(package(8, [mail_task()],
                           connections=[smtp_cm("UseWindowsAuthentication=False;")]))
    assert "names no server" in r.descriptions(EventKind.OnError)[0]
    r = PackageRun(package(8, [mail_task(SMTPServer="Nope")]))
    assert "Nope" in r.descriptions(EventKind.OnError)[0]
    assert smtp.inbox.mails == []


def test_an_unreachable_server_fails_naming_it() -> None:
    port = free_port()
    r = send(port, mail_task())
    assert r.result.result == ExecResult.Failure
    [error] = r.descriptions(EventKind.OnError)
    assert f"127.0.0.1:{port}" in error and "Failure sending mail" in error


def test_conn_replaces_the_server_and_port_keyword(smtp: Server) -> None:
    xml = package(8, [mail_task()], connections=[smtp_cm("SmtpServer=mail.corp.local;")])
    ok(PackageRun(xml, RunRequest(connections={"SMTP": f"SmtpServer=127.0.0.1;Port={smtp.port}"})))
    assert len(smtp.inbox.mails) == 1


def test_windows_authentication_sends_without_login_and_warns(smtp: Server) -> None:
    r = send(smtp.port, mail_task(), extra="UseWindowsAuthentication=True;")
    ok(r)
    assert "Windows authentication" in r.descriptions(EventKind.OnWarning)[-1]


# --------------------------------------------------------------------------- login, TLS


def test_login_with_credentials_from_conn_never_shows_the_password() -> None:
    server = Server(login=True)
    try:
        ok(send(server.port, mail_task(), extra="User=etl;Password=s3cret!"))
        assert server.logins == [(b"etl", b"s3cret!")]
        r = send(server.port, mail_task(), extra="User=etl;Password=wrong-pass")
        assert r.result.result == ExecResult.Failure
        assert all("wrong-pass" not in e.description for e in r.events)
    finally:
        server.stop()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_enable_ssl_uses_starttls_and_checks_the_certificate(
        certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    logins: list[bytes] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                     data: Any) -> AuthResult:
        logins.append(data.login)
        return AuthResult(success=True)

    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, authenticator=authenticate)
    controller.start()
    try:
        r = send(port, mail_task())  # EnableSsl=False: the server wants STARTTLS
        assert r.result.result == ExecResult.Failure
        r = send(port, mail_task(), extra="EnableSsl=True;")  # not a trusted certificate
        assert r.result.result == ExecResult.Failure
        assert "CERTIFICATE_VERIFY_FAILED" in r.descriptions(EventKind.OnError)[0]
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        ok(send(port, mail_task(), extra="EnableSsl=True;User=etl;Password=x"))
        assert len(inbox.mails) == 1 and logins == [b"etl"]
    finally:
        controller.stop()


# --------------------------------------------------------------------------- CLI


def test_ssisrun_exec_sends_with_conn(tmp_path: Path) -> None:
    smtp = Server(login=True)
    pkg = tmp_path / "mail.dtsx"
    pkg.write_text(package(8, [mail_task(Subject="from the CLI")],
                           connections=[smtp_cm("SmtpServer=smtp.corp.local;")]))
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", str(pkg), "--conn",
         f"SMTP=SmtpServer=127.0.0.1:{smtp.port};User=etl;Password=s3cret!"],
        capture_output=True, text=True, timeout=60, cwd=REPO)
    smtp.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert smtp.inbox.mails[0][2]["Subject"] == "from the CLI"
    assert smtp.logins == [(b"etl", b"s3cret!")]
    assert "s3cret" not in proc.stdout + proc.stderr
