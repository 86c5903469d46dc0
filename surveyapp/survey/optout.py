"""Opt-out from reminders through the personal link (routes added by the mail module)."""
