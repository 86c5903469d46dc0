"""Human labels for stored codes (wave states, audiences, roles), in the page's language."""

from __future__ import annotations

from flask_babel import gettext as _


def wave_state(state: str) -> str:
    labels = {"draft": _("draft"), "open": _("open"), "closed": _("closed"), "archived": _("archived")}
    return labels.get(state, state)


def audience(code: str) -> str:
    labels = {
        "gerechtigden": _("Entitled staff (gerechtigden)"),
        "contactpersonen": _("Welfare contact persons"),
    }
    return labels.get(code, code)


def role(code: str) -> str:
    labels = {"admin": _("administrator"), "planner": _("planner"), "viewer": _("viewer (reports only)")}
    return labels.get(code, code)
