"""The only database read of the analysis: a wave's questionnaire, responses, register and ledger.

`wave_frames(wave)` returns plain pandas frames; `analyze_wave(wave, options, previous_wave)`
runs `surveyapp.analysis.measures.analyze` on them, the one entry point for the web app,
reports and the ``surveyapp analyze --wave`` command.

Reads are column-only and in bulk, three statements whatever the size: the answer documents
as JSON text (parsed in one ``json.loads``), and each register person's (and invitation's)
group values extracted by the database itself (``groups->>'status'`` on PostgreSQL,
``json_extract`` on SQLite), only for the register columns the questionnaire's group
questions use.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Text, cast, select

from surveyapp.analysis.measures import analyze
from surveyapp.analysis.result import AnalysisOptions, AnalysisResult, WaveInfo
from surveyapp.analysis.suppression import DEFAULT_THRESHOLD, MINIMUM_THRESHOLD
from surveyapp.analysis.tidy import response_frame
from surveyapp.extensions import db
from surveyapp.models import Invitation, RegisterPerson, Response, Wave
from surveyapp.questionnaire import Questionnaire
from surveyapp.survey.service import questionnaire_of


def wave_frames(wave: Wave) -> tuple[Questionnaire, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(questionnaire, responses tidy frame, register group frame, invitation ledger frame).

    The register frame has one row per register person and one column per register column
    of the questionnaire's group questions (None where a person has no value); the ledger one
    row per invitation with the same columns and a boolean ``submitted``. Three statements:
    the answers as JSON text (parsed in one call), and the group values extracted by the
    database (``groups->>'col'`` / ``json_extract``), so no JSON object per person is decoded
    in Python.
    """
    questionnaire = questionnaire_of(wave.questionnaire_version)
    texts = db.session.scalars(
        select(cast(Response.answers, Text)).where(Response.wave_id == wave.id).order_by(Response.id)
    ).all()
    answers = json.loads("[" + ",".join(text or "{}" for text in texts) + "]")
    responses = response_frame(questionnaire, [a if isinstance(a, dict) else {} for a in answers])
    columns = register_columns(questionnaire)
    values = [RegisterPerson.groups[column].as_string() for column in columns]
    # People withdrawn from an open wave's register (they left) are no longer its population.
    withdrawn = (
        select(Invitation.id)
        .where(Invitation.person_id == RegisterPerson.id, Invitation.withdrawn_at.is_not(None))
        .exists()
    )
    register_rows = db.session.execute(
        select(RegisterPerson.id, *values)
        .where(RegisterPerson.wave_id == wave.id, ~withdrawn)
        .order_by(RegisterPerson.id)
    ).all()
    register = _frame([row[1:] for row in register_rows], columns)
    ledger_rows = db.session.execute(
        select(Invitation.submitted, *values)
        .select_from(Invitation)
        .join(RegisterPerson, RegisterPerson.id == Invitation.person_id)
        .where(Invitation.wave_id == wave.id, Invitation.withdrawn_at.is_(None))
        .order_by(Invitation.id)
    ).all()
    invitations = _frame([row[1:] for row in ledger_rows], columns)
    invitations["submitted"] = np.array([bool(row[0]) for row in ledger_rows], dtype=bool)
    return questionnaire, responses, register, invitations


def register_columns(questionnaire: Questionnaire) -> list[str]:
    """The register columns the analysis uses: those of the group questions."""
    columns: list[str] = []
    for question in questionnaire.questions:
        measure = question.measure
        column = measure.register_column if measure is not None and measure.type == "group" else None
        if column and column not in columns:
            columns.append(column)
    return columns


def _frame(rows: Sequence[tuple[Any, ...]], columns: list[str]) -> pd.DataFrame:
    """Rows of extracted group values → a frame of codes (None for no value)."""
    frame = pd.DataFrame.from_records(rows, columns=columns, nrows=len(rows)) if rows else None
    if frame is None:
        return pd.DataFrame({column: pd.Series([], dtype=object) for column in columns})
    frame = frame.astype(object)
    return frame.where(frame.notna() & (frame != ""), None)


def wave_info(wave: Wave) -> WaveInfo:
    """What the result says about the wave it analysed."""
    return WaveInfo(
        slug=wave.slug,
        title=wave.title,
        audience=wave.audience,
        opens_on=wave.opens_on.isoformat() if wave.opens_on else None,
        closes_on=wave.closes_on.isoformat() if wave.closes_on else None,
        base_population=wave.base_population,
        suppression_threshold=wave.suppression_threshold,
    )


def wave_threshold(wave: Wave) -> int:
    """The wave's disclosure threshold (default 10), never below the minimum of 5."""
    return max(MINIMUM_THRESHOLD, int(wave.suppression_threshold or DEFAULT_THRESHOLD))


def wave_options(wave: Wave, options: AnalysisOptions | None) -> AnalysisOptions:
    """The options with the wave's disclosure threshold as a floor (never publish below it).

    Without options: the defaults with the wave's threshold as the minimum cell size.
    """
    threshold = wave_threshold(wave)
    if options is None:
        return AnalysisOptions(min_cell=threshold)
    if options.min_cell < threshold:
        return dataclasses.replace(options, min_cell=threshold)
    return options


def analyze_wave(
    wave: Wave,
    options: AnalysisOptions | None = None,
    previous_wave: Wave | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> AnalysisResult:
    """THE analysis of a wave (and its change since `previous_wave`), as the web app uses it.

    The wave's suppression threshold is the minimum cell size unless `options` ask for more.
    `progress` receives a short message after each step (the CLI prints them with timings).
    """
    options = wave_options(wave, options)
    questionnaire, responses, register, invitations = wave_frames(wave)
    if progress is not None:
        progress(
            f"read {len(responses)} responses, {len(register)} register rows, {len(invitations)} invitations"
        )
    previous: AnalysisResult | None = None
    if previous_wave is not None:
        earlier_q, earlier_responses, earlier_register, _ledger = wave_frames(previous_wave)
        previous = analyze(
            earlier_q,
            earlier_responses,
            earlier_register if len(earlier_register) else None,
            options=wave_options(previous_wave, options),
            wave=wave_info(previous_wave),
        )
    return analyze(
        questionnaire,
        responses,
        register if len(register) else None,
        options=options,
        invitations=invitations if len(invitations) else None,
        previous=previous,
        wave=wave_info(wave),
        previous_wave=wave_info(previous_wave) if previous_wave is not None else None,
        progress=progress,
    )
