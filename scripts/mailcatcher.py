"""A local SMTP catcher for development and tests: keeps every message it is sent.

    python -m scripts.mailcatcher serve --port 1025 --dir .data/mail   (the Procfile)
    python -m scripts.mailcatcher list --dir .data/mail                (`make mail`)

Development tooling, not part of the notifier: the notifier only speaks SMTP to whatever
SMTP_HOST / SMTP_PORT name (this catcher locally, Mailpit in compose, a relay in
production).

Each accepted message is written to `<dir>/messages/*.eml` and described by one line
of `<dir>/index.jsonl` (time received, Message-ID, from, to, subject, file). A message
whose Message-ID was already received is accepted (250) but not stored again: it is
indexed with `"duplicate": true`. This is how a mailbox treats a resend with the same
Message-ID (see notifier.deliveries: the one crash window of the notifier resends with
the same Message-ID), and it lets tests count SMTP transactions and distinct e-mails
separately. Compose runs Mailpit instead, which keeps duplicates as separate messages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import signal
import sys
import time
from dataclasses import dataclass
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class Received:
    received_at: float
    message_id: str
    sender: str
    recipients: list[str]
    subject: str
    file: str | None
    duplicate: bool


class Mailbox:
    """The folder the catcher writes, and reads back (tests, `list`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.messages_dir = self.folder / "messages"
        self.index = self.folder / "index.jsonl"
        self.messages_dir.mkdir(parents=True, exist_ok=True)
        self._seen = {record.message_id for record in self.read() if not record.duplicate}

    def read(self) -> list[Received]:
        if not self.index.exists():
            return []
        records = []
        for line in self.index.read_text().splitlines():
            if line.strip():
                records.append(Received(**json.loads(line)))
        return records

    def unique(self) -> list[Received]:
        return [record for record in self.read() if not record.duplicate]

    def message(self, record: Received) -> Any:
        """The stored message, parsed (`email.message.EmailMessage`)."""
        assert record.file is not None
        return BytesParser(policy=policy.default).parsebytes(
            (self.folder / record.file).read_bytes()
        )

    def store(self, raw: bytes, sender: str, recipients: list[str]) -> Received:
        parsed = _headers(raw)
        message_id = _header(parsed, "Message-ID").strip()
        received_at = time.time()
        duplicate = bool(message_id) and message_id in self._seen
        file = None
        if not duplicate:
            digest = hashlib.sha1((message_id or str(received_at)).encode()).hexdigest()[:16]
            name = f"{time.time_ns()}-{digest}.eml"
            (self.messages_dir / name).write_bytes(raw)
            file = f"messages/{name}"
            if message_id:
                self._seen.add(message_id)
        record = Received(
            received_at=received_at,
            message_id=message_id,
            sender=sender,
            recipients=recipients,
            subject=_header(parsed, "Subject"),
            file=file,
            duplicate=duplicate,
        )
        with self.index.open("a") as index:
            index.write(json.dumps(record.__dict__) + "\n")
        return record


def _headers(raw: bytes) -> Message:
    """The message's headers. ASCII headers are read with the compat32 policy, a fifth
    of the CPU of the default policy's header objects (the catcher parses every message
    the bench sends); others with the default policy, which decodes them."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    chosen = policy.compat32 if head.isascii() else policy.default
    return BytesParser(policy=chosen).parsebytes(raw, headersonly=True)


def _header(headers: Message, name: str) -> str:
    """A header's value, unfolded, encoded words decoded."""
    value = str(headers.get(name, ""))
    value = "".join(value.splitlines())
    if "=?" in value:
        value = str(make_header(decode_header(value)))
    return value


class CatcherHandler:
    """aiosmtpd handler: accept everything, keep it in the mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        self.mailbox.store(raw, str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos])
        return "250 Message accepted for delivery"


async def start_catcher(handler: Any, host: str, port: int) -> asyncio.Server:
    """An SMTP server on host:port for `handler` (stop it with close()/wait_closed())."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, hostname="marcus-mailcatcher", enable_SMTPUTF8=True),
        host=host,
        port=port,
    )


async def _serve(host: str, port: int, folder: Path) -> None:
    server = await start_catcher(CatcherHandler(Mailbox(folder)), host, port)
    print(f"mail catcher on {host}:{port}, keeping messages in {folder}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    with contextlib.suppress(Exception):
        await server.wait_closed()


def _list(folder: Path) -> None:
    if not (folder / "index.jsonl").exists():
        print(f"no mail yet in {folder}")
        return
    records = Mailbox(folder).read()
    for record in records:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.received_at))
        mark = " (duplicate Message-ID, not stored again)" if record.duplicate else ""
        print(f"{when}  {', '.join(record.recipients):<32}  {record.subject}{mark}")
        if record.file:
            print(f"{'':21}{folder / record.file}")
    duplicates = sum(record.duplicate for record in records)
    print(f"{len(records) - duplicates} message(s), {duplicates} duplicate(s), in {folder}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.mailcatcher")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the SMTP catcher")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=1025)
    serve.add_argument("--dir", type=Path, default=Path(".data/mail"))
    listing = commands.add_parser("list", help="list the messages caught so far")
    listing.add_argument("--dir", type=Path, default=Path(".data/mail"))
    args = parser.parse_args(argv)
    if args.command == "serve":
        asyncio.run(_serve(args.host, args.port, args.dir))
    else:
        _list(args.dir)


if __name__ == "__main__":
    main(sys.argv[1:])
