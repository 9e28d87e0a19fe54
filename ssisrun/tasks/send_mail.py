"""The Send Mail Task: one message through an SMTP connection manager.

Its settings are the ``SendMailTask:SendMailTaskData`` attributes (namespace
``www.microsoft.com/sqlserver/dts/tasks/sendmailtask``, spec ssis-runtime.md 5.12):
``SMTPServer`` (the SMTP connection manager's DTSID or name), ``From``, ``To``, ``CC``,
``BCC``, ``Subject``, ``Priority`` (``Normal``/``High``/``Low``), ``MessageSourceType``
(``DirectInput``/``FileConnection``/``Variable``), ``MessageSource``, and one
``SendMailTask:Attachments FileName=...`` child per attachment. A property expression
replaces a setting under SSIS's property name (``SmtpConnection``, ``FromLine``,
``ToLine``, ``CCLine``, ``BCCLine``, ``Subject``, ``Priority``, ``MessageSourceType``,
``MessageSource``, ``FileAttachments``) or the attribute's own.

* The SMTP connection (see :mod:`ssisrun.tasks._files`): ``SmtpServer=host`` on port 25;
  ``host:port`` or ``Port=`` choose another port. ``EnableSsl=True`` upgrades the
  connection with STARTTLS, as .NET's SmtpClient does, and checks the server's
  certificate against the system's trusted authorities (``SSL_CERT_FILE`` adds one).
  ssisrun logs in only when ``User=`` and ``Password=`` are given (``--conn``); Windows
  authentication does not exist here, so ``UseWindowsAuthentication=True`` without them
  sends without logging in, with a warning. ``Timeout=`` is in seconds (default 100, as
  SmtpClient). The password appears in no message.
* Recipients in ``To``, ``CC`` and ``BCC`` are separated by ``;`` or ``,``. BCC recipients
  receive the message but appear in no header. A message without any recipient, or
  without ``From``, fails the task before connecting.
* The body is plain text (UTF-8): the ``MessageSource`` text, the content of the file a
  FILE connection manager points to (UTF-8; text that is not UTF-8 is read as Windows-1252),
  or a variable's value.
* ``FileAttachments`` is a ``|``-separated list of paths; Windows paths are mapped with
  ``--path-map``. A missing attachment fails the task naming it.
* ``Priority`` High or Low writes ``X-Priority`` (1 or 5), ``Priority`` and ``Importance``
  headers, as .NET does; Normal writes none.
"""

from __future__ import annotations

import mimetypes
import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING

from ssisrun.model import ExecResult
from ssisrun.tasks import Task, TaskOutcome, object_data_body
from ssisrun.tasks._files import (
    E_FOLLOWING_MESSAGE,
    SmtpSettings,
    TaskSetupError,
    connection,
    file_connection_path,
    local_path,
    setting,
    smtp_settings,
    variable_text,
)

if TYPE_CHECKING:
    from lxml import etree

    from ssisrun.runtime.context import TaskContext

NAMESPACE = "www.microsoft.com/sqlserver/dts/tasks/sendmailtask"

# SSIS's codes (DTS_E_SENDMAILTASK_*)
E_RECIPIENT_EMPTY = 0xC00291C3
E_SMTP_SERVER_NOT_SPECIFIED = 0xC00291C4
E_INVALID_ATTACHMENT = 0xC00291CB
E_CHECK_SMTP_SERVER = 0xC00291CD
E_CONNECTION_NOT_FILE = 0xC00291CE
E_FILE_DOES_NOT_EXIST = 0xC00291CF
E_VARIABLE_NOT_STRING = 0xC00291D0
E_CONNECTION_NOT_SMTP = 0xC00291D1
E_NO_CONNECTION = 0xC00291D3
E_SETTINGS = 0xC00291C5
W_NO_WINDOWS_AUTH = 0x800291C6

PRIORITY_HEADERS = {
    "high": (("X-Priority", "1"), ("Priority", "urgent"), ("Importance", "high")),
    "low": (("X-Priority", "5"), ("Priority", "non-urgent"), ("Importance", "low")),
    "normal": (),
}


def addresses(text: str) -> list[str]:
    """``a@x; b@y, c@z`` -> the addresses."""
    return [part.strip() for part in str(text).replace(",", ";").split(";") if part.strip()]


def _attachments(ctx: TaskContext, body: etree._Element | None) -> list[str]:
    if "FileAttachments" in ctx.properties:
        text = str(ctx.properties["FileAttachments"] or "")
        return [p for p in (part.strip() for part in text.split("|")) if p]
    names: list[str] = []
    if body is None:
        return names
    for child in body:
        if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "Attachments":
            name = child.get(f"{{{NAMESPACE}}}FileName") or child.get("FileName") or ""
            names += [p for p in (part.strip() for part in name.split("|")) if p]
    return names


def _read_text(path: str) -> str:
    data = open(path, "rb").read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


class SendMailTask(Task):
    def execute(self, ctx: TaskContext) -> TaskOutcome:
        body = object_data_body(self.host)
        try:
            message, recipients, smtp = self._prepare(ctx, body)
        except TaskSetupError as exc:
            ctx.error(exc.code, exc.message)
            return TaskOutcome(ExecResult.Failure)
        if ctx.cancelled.is_set():
            return TaskOutcome(ExecResult.Canceled)
        try:
            self._send(ctx, smtp, message, recipients)
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            text = str(exc) or type(exc).__name__
            if smtp.password:
                text = text.replace(smtp.password, "********")
            ctx.error(E_FOLLOWING_MESSAGE, "An error occurred with the following error "
                      f'message: "Failure sending mail through {smtp.address}: {text}"')
            return TaskOutcome(ExecResult.Failure)
        ctx.information(0, f"the message \"{message['Subject'] or ''}\" was sent to "
                        f"{len(recipients)} recipient(s) through {smtp.address}")
        return TaskOutcome(ExecResult.Success)

    # ---------------------------------------------------------------- the message

    def _prepare(self, ctx: TaskContext, body: etree._Element | None
                 ) -> tuple[EmailMessage, list[str], SmtpSettings]:
        def get(attr: str, *props: str, default: str = "") -> str:
            value = setting(ctx, body, attr, *props, default=default, namespace=NAMESPACE)
            return "" if value is None else str(value)

        ref = get("SMTPServer", "SmtpConnection")
        if not ref.strip():
            raise TaskSetupError(E_SMTP_SERVER_NOT_SPECIFIED, "the Send Mail task names no "
                                 "SMTP connection manager (SmtpConnection)")
        cm, text = connection(ctx, ref, E_NO_CONNECTION, ("SMTP",), "SMTP",
                              E_CONNECTION_NOT_SMTP)
        smtp = smtp_settings(cm, text, E_SMTP_SERVER_NOT_SPECIFIED)
        if smtp.use_windows_authentication and not smtp.user:
            ctx.warning(W_NO_WINDOWS_AUTH, f"the SMTP connection manager '{cm.name}' uses "
                        "Windows authentication, which does not exist here: the mail is sent "
                        "without logging in (give User= and Password= with --conn to log in)")

        sender = get("From", "FromLine").strip()
        to, cc, bcc = (addresses(get(a, p)) for a, p in
                       (("To", "ToLine"), ("CC", "CCLine"), ("BCC", "BCCLine")))
        if not to and not cc and not bcc:
            raise TaskSetupError(E_RECIPIENT_EMPTY, "No recipient is specified (To, CC and "
                                 "BCC are empty)")
        if not sender:
            raise TaskSetupError(E_SETTINGS, "the Send Mail task has no From address")

        priority = get("Priority", default="Normal").strip().lower() or "normal"
        if priority.isdigit():  # MailPriority: Normal 0, Low 1, High 2
            priority = {"0": "normal", "1": "low", "2": "high"}.get(priority, priority)
        if priority not in PRIORITY_HEADERS:
            raise TaskSetupError(E_SETTINGS, f"Priority must be Normal, High or Low, not "
                                 f"'{priority}'")

        message = EmailMessage()
        message["From"] = sender
        if to:
            message["To"] = ", ".join(to)
        if cc:
            message["Cc"] = ", ".join(cc)
        message["Subject"] = get("Subject")
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid()
        for header, value in PRIORITY_HEADERS[priority]:
            message[header] = value
        message.set_content(self._body(ctx, get("MessageSourceType", default="DirectInput"),
                                       get("MessageSource")))
        for name in _attachments(ctx, body):
            path = local_path(ctx, name, E_INVALID_ATTACHMENT)
            if not os.path.isfile(path):
                where = "" if path == name else f" (mapped from {name})"
                raise TaskSetupError(E_INVALID_ATTACHMENT, f'Either the file "{path}"{where} '
                                     "does not exist or you do not have permissions to access"
                                     " it (FileAttachments)")
            kind, encoding = mimetypes.guess_type(path)
            if kind is None or encoding is not None:
                kind = "application/octet-stream"
            main, sub = kind.split("/", 1)
            with open(path, "rb") as f:
                message.add_attachment(f.read(), maintype=main, subtype=sub,
                                       filename=os.path.basename(path))
        return message, to + cc + bcc, smtp

    def _body(self, ctx: TaskContext, source_type: str, source: str) -> str:
        kind = source_type.strip().lower()
        if kind in ("directinput", "0", ""):
            return source
        if kind in ("fileconnection", "1"):
            path = file_connection_path(ctx, source, code=E_NO_CONNECTION,
                                        not_file=E_CONNECTION_NOT_FILE)
            if not os.path.isfile(path.path):
                raise TaskSetupError(E_FILE_DOES_NOT_EXIST, "On operation \"MessageSource\", "
                                     f"file {path.quoted} does not exist (from "
                                     f"{path.origin})")
            return _read_text(path.path)
        if kind in ("variable", "2"):
            var = ctx.scope.find(source)
            if var is not None and ctx.scope.value_of(var) in (None, ""):
                return ""
            return variable_text(ctx, source, missing=E_SETTINGS,
                                 not_string=E_VARIABLE_NOT_STRING, empty=E_SETTINGS)
        raise TaskSetupError(E_SETTINGS, f"MessageSourceType must be DirectInput, "
                             f"FileConnection or Variable, not '{source_type}'")

    # ---------------------------------------------------------------- sending

    def _send(self, ctx: TaskContext, smtp: SmtpSettings, message: EmailMessage,
              recipients: list[str]) -> None:
        with smtplib.SMTP(smtp.server, smtp.port, timeout=smtp.timeout) as client:
            client.ehlo_or_helo_if_needed()
            if smtp.enable_ssl:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if smtp.user:
                client.login(smtp.user, smtp.password)
            refused = client.send_message(message, from_addr=str(message["From"]),
                                          to_addrs=recipients)
        for address, (code, reply) in refused.items():
            ctx.warning(E_CHECK_SMTP_SERVER, f"the server refused the recipient {address}: "
                        f"{code} {reply.decode('utf-8', 'replace')}")
