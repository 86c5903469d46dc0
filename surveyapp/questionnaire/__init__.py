"""Questionnaires as files: the model, the YAML loader/validator and the condition language."""

from surveyapp.questionnaire.loader import (
    Problem,
    QuestionnaireError,
    build_questionnaire,
    check_file,
    load_questionnaire,
    parse_questionnaire,
)
from surveyapp.questionnaire.model import (
    Choice,
    MatrixItem,
    Measure,
    Page,
    Question,
    Questionnaire,
    Subject,
    localize,
)

__all__ = [
    "Choice",
    "MatrixItem",
    "Measure",
    "Page",
    "Problem",
    "Question",
    "Questionnaire",
    "QuestionnaireError",
    "Subject",
    "build_questionnaire",
    "check_file",
    "load_questionnaire",
    "localize",
    "parse_questionnaire",
]
