"""Notifier service: order e-mails over SMTP, exactly once per (event, recipient)."""
