"""Outgoing email: localized rendering (Jinja2 + Babel), MIME composition, the transactional outbox and its
SMTP delivery worker."""
