"""The local SMTP catcher's mailbox (scripts/mailcatcher.py): what it records of a
message's headers, whichever way they are written."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from pathlib import Path

from scripts.mailcatcher import Mailbox


def _raw(subject: str, message_id: str) -> bytes:
    message = EmailMessage()
    message["From"] = "shop@x.test"
    message["To"] = "eve@example.com"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content("body\n")
    return message.as_bytes(policy=policy.SMTP)


def test_the_mailbox_records_ascii_encoded_and_folded_subjects(tmp_path: Path) -> None:
    mailbox = Mailbox(tmp_path)
    subjects = [
        "Your order is confirmed (1234abcd)",
        "Größe: your order",  # an encoded word
        "A subject long enough to be folded over two lines by the SMTP policy " * 2,
    ]
    for n, subject in enumerate(subjects):
        mailbox.store(_raw(subject, f"<{n}@x.test>"), "shop@x.test", ["eve@example.com"])
    mailbox.store(_raw("again", "<0@x.test>"), "shop@x.test", ["eve@example.com"])

    records = mailbox.read()
    assert [r.subject for r in records] == [*subjects, "again"]  # as the default policy reads
    assert [r.message_id for r in records] == [
        "<0@x.test>",
        "<1@x.test>",
        "<2@x.test>",
        "<0@x.test>",
    ]
    assert [r.duplicate for r in records] == [False, False, False, True]
