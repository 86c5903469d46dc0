"""surveyapp: recurring stakeholder surveys for social services.

Importing the package stays light (no Flask), so ``surveyapp.analysis`` and
``surveyapp.questionnaire`` can be used as plain libraries; the web app is built by
``create_app``, defined in ``surveyapp.app``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory (see ``surveyapp.app.create_app``)."""
    from surveyapp.app import create_app as factory

    return factory(test_config)
