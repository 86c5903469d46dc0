"""Questionnaire-driven forms: one form class per questionnaire page, built from a type registry."""

from surveyapp.forms.builder import PageForm, build_page_form, page_answers, page_form_class

__all__ = ["PageForm", "build_page_form", "page_answers", "page_form_class"]
