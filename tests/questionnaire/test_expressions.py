"""The show_if condition language: parsing, type checking and both evaluators."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveyapp.questionnaire import expressions
from surveyapp.questionnaire.expressions import (
    And,
    Compare,
    Contains,
    ExpressionError,
    InList,
    Not,
    Or,
    VarInfo,
    check,
    evaluate,
    evaluate_frame,
    evaluate_many,
    parse,
    references,
)

# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("status = 'actief'", Compare("status", "=", "actief")),
        ('status = "actief"', Compare("status", "=", "actief")),
        ("status != 'actief'", Compare("status", "!=", "actief")),
        ("kinderen < 3", Compare("kinderen", "<", 3.0)),
        ("kinderen > 3", Compare("kinderen", ">", 3.0)),
        ("kinderen <= 3", Compare("kinderen", "<=", 3.0)),
        ("kinderen >= 3", Compare("kinderen", ">=", 3.0)),
        ("kinderen>=3", Compare("kinderen", ">=", 3.0)),
        ("kinderen = -2", Compare("kinderen", "=", -2.0)),
        ("kinderen = 2.5", Compare("kinderen", "=", 2.5)),
        ("q = ''", Compare("q", "=", "")),
        ("q = 'two words'", Compare("q", "=", "two words")),
        ('q = "it\'s"', Compare("q", "=", "it's")),
        ("ken_aanbod/pluspas = 'yes'", Compare("ken_aanbod/pluspas", "=", "yes")),
        ("q1 = 'a'", Compare("q1", "=", "a")),
        ("leeftijd in ['lt30', '30_39']", InList("leeftijd", ("lt30", "30_39"))),
        ('leeftijd in ["lt30"]', InList("leeftijd", ("lt30",))),
        ("score in [4, 5]", InList("score", (4.0, 5.0))),
        ("score in [4,'na']", InList("score", (4.0, "na"))),
        ("'financieel' in hulp", Contains("hulp", "financieel")),
        ('"financieel" in hulp', Contains("hulp", "financieel")),
        ("3 in hulp", Contains("hulp", "3")),
        ("3.0 in hulp", Contains("hulp", "3")),
        ("1.5 in hulp", Contains("hulp", "1.5")),
        ("(a = 'x')", Compare("a", "=", "x")),
        ("((a = 'x'))", Compare("a", "=", "x")),
        ("not a = 'x'", Not(Compare("a", "=", "x"))),
        ("not not a = 'x'", Not(Not(Compare("a", "=", "x")))),
    ],
)
def test_parse_constructs(source: str, expected: expressions.Expr) -> None:
    assert parse(source) == expected


A, B, C = (Compare(n, "=", "x") for n in "abc")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # and binds tighter than or, not binds tighter than and
        ("a = 'x' or b = 'x' and c = 'x'", Or((A, And((B, C))))),
        ("a = 'x' and b = 'x' or c = 'x'", Or((And((A, B)), C))),
        ("not a = 'x' and b = 'x'", And((Not(A), B))),
        ("not a = 'x' or b = 'x'", Or((Not(A), B))),
        ("not (a = 'x' or b = 'x')", Not(Or((A, B)))),
        ("(a = 'x' or b = 'x') and c = 'x'", And((Or((A, B)), C))),
        ("a = 'x' and (b = 'x' or c = 'x')", And((A, Or((B, C))))),
        ("a = 'x' or b = 'x' or c = 'x'", Or((A, B, C))),
        ("a = 'x' and b = 'x' and c = 'x'", And((A, B, C))),
        # keywords are case-insensitive
        ("a = 'x' AND b = 'x' Or NOT c = 'x'", Or((And((A, B)), Not(C)))),
        ("a IN ['x']", InList("a", ("x",))),
        ("'x' In a", Contains("a", "x")),
    ],
)
def test_parse_precedence_and_keywords(source: str, expected: expressions.Expr) -> None:
    assert parse(source) == expected


def test_parse_mixed_example_from_readme() -> None:
    expr = parse("leeftijd in ['lt30', '30_39'] and not (contract = 'statutair')")
    assert expr == And((InList("leeftijd", ("lt30", "30_39")), Not(Compare("contract", "=", "statutair"))))


def test_whitespace_is_free() -> None:
    assert parse("  a='x'\n and\tb  =  'x'  ") == And((A, B))


def test_non_string_source_is_converted() -> None:
    # YAML may hand over something that is not text; parse() must not crash on it
    with pytest.raises(ExpressionError):
        parse(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "the condition is empty"),
        ("   ", "the condition is empty"),
        ("(a = 'x'", "missing ')'"),
        ("((a = 'x') or b = 'x'", "missing ')'"),
        ("a = 'x')", "unexpected ')' at 8"),
        ("a =", "expected a value but the condition ends"),
        ("a", "expected a comparison such as '=' after the question id but the condition ends"),
        ("a = b", "expected a 'text' or a number at 5, got 'b'"),
        ("a = 'x' and", "expected a question id or a value but the condition ends"),
        ("a = 'x' or", "expected a question id or a value but the condition ends"),
        ("not", "expected a question id or a value but the condition ends"),
        ("and a = 'x'", "expected a question id at 1, got 'and'"),
        ("a = 'x' and or b = 'x'", "expected a question id at 13, got 'or'"),
        ("a 'x'", "expected a comparison after 'a', got \"'x'\""),
        ("a = 'x' b = 'y'", "unexpected 'b' at 9"),
        ("a = 1 & b = 2", "unexpected character '&' at 7"),
        ("a = 1&b", "unexpected character '&' at 6"),
        ("a == 'x'", "expected a 'text' or a number at 4, got '='"),
        ("a = 'unclosed", 'unexpected character "\'" at 5'),
        ("a.b = 'x'", "unexpected character '.' at 2"),
        ("a in ['x'", "missing ']' to close the list"),
        ("a in ['x', 'y' and b = 'x'", "missing ']' to close the list"),
        ("a in []", "expected a 'text' or a number at 7, got ']'"),
        ("a in ['x',]", "expected a 'text' or a number at 11, got ']'"),
        ("a in ['x',", "expected a value but the condition ends"),
        ("a in 'x'", "'in' needs a list such as ['a', 'b']"),
        ("a in b", "'in' needs a list such as ['a', 'b']"),
        ("'x' = a", "a value at 1 can only start '<value> in <question>'"),
        ("'x'", "a value at 1 can only start '<value> in <question>'"),
        ("3 > a", "a value at 1 can only start '<value> in <question>'"),
        ("'x' in", "expected a question id but the condition ends"),
        ("'x' in 'y'", "expected a question id after 'in', got \"'y'\""),
        ("'x' in ['y']", "expected a question id after 'in', got '['"),
        ("= 'x'", "expected a question id at 1, got '='"),
    ],
)
def test_syntax_errors_are_readable(source: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(source)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os').system('x')",
        "__import__('os')",
        "open('/etc/passwd').read()",
        "a = 'x'; import os",
        "a = 1 + 1",
        "a = x if y else z",
        "lambda: 1",
        "a = [1, 2][0]",
        "a = 'x' or __import__('os').system('rm -rf /') = 'x'",
    ],
)
def test_python_is_not_evaluated(source: str) -> None:
    with pytest.raises(ExpressionError):
        parse(source)


def test_the_module_never_calls_eval_or_exec() -> None:
    import inspect
    import re

    code = inspect.getsource(expressions)
    # strip the docstrings and comments that talk *about* eval
    body = re.sub(r'"""[\s\S]*?"""', "", code)
    body = re.sub(r"#.*", "", body)
    assert re.search(r"(?<![\w.])(eval|exec|compile)\s*\(", body) is None
    assert "__import__" not in body


def test_references_in_order_of_appearance() -> None:
    expr = parse("a = 'x' and (not b/row = 'y' or c in ['1', '2']) or 'k' in d and a != 'z' or e > 3")
    assert references(expr) == ["a", "b/row", "c", "d", "a", "e"]


def test_references_of_a_single_comparison() -> None:
    assert references(parse("'k' in multi")) == ["multi"]
    assert references(parse("not q in ['a']")) == ["q"]


# --- type checking ---------------------------------------------------------------------------

SCHEMA: dict[str, VarInfo] = {
    "status": VarInfo("choice", frozenset({"actief", "gepensioneerd"})),
    "score": VarInfo("choice", frozenset({"1", "2", "3", "4", "5", "na"}), numeric_codes=True),
    "kinderen": VarInfo("number"),
    "opmerking": VarInfo("text"),
    "hulp": VarInfo("multi", frozenset({"financieel", "administratief"})),
    "ken": VarInfo("choice", frozenset({"yes", "no"})),
}


def lookup(name: str) -> VarInfo | None:
    return SCHEMA.get(name)


@pytest.mark.parametrize(
    "source",
    [
        "status = 'actief'",
        "status != 'gepensioneerd'",
        "status in ['actief', 'gepensioneerd']",
        "score >= 4",
        "score < 2.5",
        "score = 4",
        "score = 'na'",
        "score in [4, 5, 'na']",
        "kinderen > 0",
        "kinderen = 2",
        "kinderen in [1, 2]",
        "opmerking = 'niets'",
        "opmerking != ''",
        "'financieel' in hulp",
        "not 'administratief' in hulp",
        "ken = 'yes' and (status = 'actief' or kinderen >= 1)",
        "onbekend = 'x'",  # unknown names are the caller's business
        "onbekend in ['x']",
        "'x' in onbekend",
    ],
)
def test_check_accepts_well_typed_conditions(source: str) -> None:
    assert check(parse(source), lookup) == []


@pytest.mark.parametrize(
    ("source", "phrase"),
    [
        ("status = 'werkloos'", "'werkloos' is not a code of 'status' (codes: actief, gepensioneerd)"),
        ("status != 'werkloos'", "'werkloos' is not a code of 'status'"),
        ("score = 7", "'7' is not a code of 'score'"),
        ("status < 'actief'", "'status' is a choice without numeric codes: no '<'"),
        ("ken >= 1", "'ken' is a choice without numeric codes: no '>='"),
        ("score > '3'", "'score' compares with '>' to a number only"),
        ("kinderen = 'twee'", "'kinderen' is a number and cannot be compared to text"),
        ("kinderen in [1, 'twee']", "'kinderen' is a number: the list must hold numbers"),
        ("opmerking = 5", "'opmerking' is free text: only = or != with 'text'"),
        ("opmerking > 'a'", "'opmerking' is free text: only = or != with 'text'"),
        ("opmerking in ['a']", "'opmerking' is free text and cannot be tested with 'in'"),
        ("hulp = 'financieel'", "'hulp' is multiple choice: write \"'code' in hulp\", not '='"),
        ("hulp != 'financieel'", "'hulp' is multiple choice"),
        ("hulp in ['financieel']", "'hulp' is multiple choice: write \"'code' in hulp\""),
        ("'yes' in ken", "'<code> in ken' needs a multiple-choice question"),
        ("'x' in kinderen", "'<code> in kinderen' needs a multiple-choice question"),
        ("'juridisch' in hulp", "'juridisch' is not a code of 'hulp'"),
        ("status in ['actief', 'x', 'y']", "'x', 'y' not codes of 'status'"),
        ("score in [4, 9]", "'9' not codes of 'score'"),
    ],
)
def test_check_reports_type_errors(source: str, phrase: str) -> None:
    problems = check(parse(source), lookup)
    assert len(problems) == 1
    assert phrase in problems[0]


def test_check_collects_every_problem_in_nested_expressions() -> None:
    expr = parse("not (status = 'x' or (kinderen = 'y' and 'z' in hulp)) and opmerking > 'a'")
    problems = check(expr, lookup)
    assert len(problems) == 4
    assert "'x' is not a code of 'status'" in problems[0]
    assert "'kinderen' is a number" in problems[1]
    assert "'z' is not a code of 'hulp'" in problems[2]
    assert "'opmerking' is free text" in problems[3]


# --- evaluation on one respondent ------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "answers", "expected"),
    [
        ("status = 'actief'", {"status": "actief"}, True),
        ("status = 'actief'", {"status": "gepensioneerd"}, False),
        ("status != 'actief'", {"status": "gepensioneerd"}, True),
        ("status != 'actief'", {"status": "actief"}, False),
        ("status in ['actief', 'x']", {"status": "actief"}, True),
        ("status in ['x', 'y']", {"status": "actief"}, False),
        ("kinderen > 0", {"kinderen": 2}, True),
        ("kinderen > 0", {"kinderen": 0}, False),
        ("kinderen < 2", {"kinderen": 1}, True),
        ("kinderen < 2", {"kinderen": 2}, False),
        ("kinderen <= 2", {"kinderen": 2}, True),
        ("kinderen >= 2", {"kinderen": 1}, False),
        ("kinderen >= 2", {"kinderen": 2.0}, True),
        ("kinderen = 2", {"kinderen": 2}, True),
        ("kinderen = 2", {"kinderen": 2.0}, True),
        ("kinderen = 2", {"kinderen": "2"}, True),  # a form posts text
        ("kinderen != 2", {"kinderen": 3}, True),
        ("kinderen > 1", {"kinderen": "3"}, True),
        ("kinderen in [1, 2]", {"kinderen": 2}, True),
        ("kinderen in [1, 2]", {"kinderen": 3}, False),
        ("score >= 4", {"score": "5"}, True),
        ("score >= 4", {"score": "3"}, False),
        ("score >= 4", {"score": "na"}, False),  # "don't know" is not a score
        ("score = 4", {"score": "4"}, True),
        ("score != 4", {"score": "na"}, True),  # an answer, and not 4
        ("score in [4, 5]", {"score": "4"}, True),
        ("score = 'na'", {"score": "na"}, True),
        ("'financieel' in hulp", {"hulp": ["financieel", "administratief"]}, True),
        ("'financieel' in hulp", {"hulp": ["administratief"]}, False),
        ("'financieel' in hulp", {"hulp": []}, False),
        ("'financieel' in hulp", {"hulp": ("financieel",)}, True),
        ("'financieel' in hulp", {"hulp": "financieel"}, False),  # not a list
        ("ken_aanbod/pluspas = 'ja'", {"ken_aanbod/pluspas": "ja"}, True),
        ("opmerking = 'abc'", {"opmerking": "abc"}, True),
        ("not status = 'actief'", {"status": "actief"}, False),
        ("not status = 'actief'", {"status": "x"}, True),
        ("status = 'actief' and kinderen > 0", {"status": "actief", "kinderen": 1}, True),
        ("status = 'actief' and kinderen > 0", {"status": "actief", "kinderen": 0}, False),
        ("status = 'x' or kinderen > 0", {"status": "actief", "kinderen": 1}, True),
        ("status = 'x' or kinderen > 5", {"status": "actief", "kinderen": 1}, False),
    ],
)
def test_evaluate(source: str, answers: dict[str, Any], expected: bool) -> None:
    assert evaluate(parse(source), answers) is expected


COMPARISONS = [
    "q = 'a'",
    "q != 'a'",
    "q < 3",
    "q > 3",
    "q <= 3",
    "q >= 3",
    "q = 3",
    "q != 3",
    "q in ['a', 'b']",
    "q in [1, 2]",
    "'a' in q",
]


@pytest.mark.parametrize("source", COMPARISONS)
@pytest.mark.parametrize("missing", ["absent", None, "", [], float("nan")])
def test_missing_answer_is_false_for_every_operator_and_not_inverts(source: str, missing: Any) -> None:
    answers: dict[str, Any] = {} if missing == "absent" else {"q": missing}
    expr = parse(source)
    assert evaluate(expr, answers) is False
    assert evaluate(Not(expr), answers) is True
    assert evaluate(parse(f"not ({source})"), answers) is True


def test_comparing_a_non_number_with_an_ordering_is_false() -> None:
    assert evaluate(parse("q < 3"), {"q": "abc"}) is False
    assert evaluate(parse("q >= 3"), {"q": "abc"}) is False


def test_evaluate_many_needs_all() -> None:
    exprs = [parse("a = 'x'"), parse("b = 'x'")]
    assert evaluate_many(exprs, {"a": "x", "b": "x"}) is True
    assert evaluate_many(exprs, {"a": "x", "b": "y"}) is False
    assert evaluate_many([], {}) is True


# --- vectorised evaluation -------------------------------------------------------------------


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "status": ["actief", "gepensioneerd", None, "actief", ""],
            "score": ["5", "na", "3", None, "4"],
            "kinderen": [0, 2, np.nan, 5, 1],
            "hulp/financieel": [1, 0, np.nan, 1, 0],
            "hulp/administratief": [0, 1, np.nan, 1, 0],
            "ken/pluspas": ["ja", "nee", None, "ja", "nee"],
            "opmerking": ["abc", None, "", "def", "abc"],
        },
        index=[10, 11, 12, 13, 14],
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("status = 'actief'", [True, False, False, True, False]),
        ("status != 'actief'", [False, True, False, False, False]),
        ("not status = 'actief'", [False, True, True, False, True]),
        ("status in ['actief', 'x']", [True, False, False, True, False]),
        ("score >= 4", [True, False, False, False, True]),
        ("score < 4", [False, False, True, False, False]),
        ("score = 5", [True, False, False, False, False]),
        ("score != 5", [False, True, True, False, True]),
        ("score = 'na'", [False, True, False, False, False]),
        ("score in [4, 5]", [True, False, False, False, True]),
        ("score in [4, 'na']", [False, True, False, False, True]),
        ("kinderen > 0", [False, True, False, True, True]),
        ("kinderen = 0", [True, False, False, False, False]),
        ("kinderen != 0", [False, True, False, True, True]),
        ("kinderen <= 1", [True, False, False, False, True]),
        ("kinderen in [0, 5]", [True, False, False, True, False]),
        ("'financieel' in hulp", [True, False, False, True, False]),
        ("'administratief' in hulp", [False, True, False, True, False]),
        ("not 'financieel' in hulp", [False, True, True, False, True]),
        ("'juridisch' in hulp", [False] * 5),  # no such column
        ("ken/pluspas = 'ja'", [True, False, False, True, False]),
        ("opmerking = 'abc'", [True, False, False, False, True]),
        ("opmerking != 'abc'", [False, False, False, True, False]),
        ("onbekend = 'x'", [False] * 5),
        ("onbekend != 'x'", [False] * 5),
        ("onbekend in ['x']", [False] * 5),
        ("not onbekend = 'x'", [True] * 5),
        ("status = 'actief' and kinderen > 0", [False, False, False, True, False]),
        ("status = 'actief' or kinderen > 0", [True, True, False, True, True]),
        (
            "(status = 'actief' or score = 'na') and not 'administratief' in hulp",
            [True, False, False, False, False],
        ),
    ],
)
def test_evaluate_frame(frame: pd.DataFrame, source: str, expected: list[bool]) -> None:
    result = evaluate_frame(parse(source), frame)
    assert result.dtype == bool
    assert list(result.index) == [10, 11, 12, 13, 14]
    assert result.tolist() == expected


def test_evaluate_frame_on_numeric_choice_codes(frame: pd.DataFrame) -> None:
    # a rating read from a CSV arrives as numbers, with NaN for no answer
    numeric = pd.DataFrame({"score": [5.0, np.nan, 3.0, 4.0]})
    assert evaluate_frame(parse("score >= 4"), numeric).tolist() == [True, False, False, True]
    assert evaluate_frame(parse("score = 4"), numeric).tolist() == [False, False, False, True]
    assert evaluate_frame(parse("score != 4"), numeric).tolist() == [True, False, True, False]
    assert evaluate_frame(parse("score in [3, 5]"), numeric).tolist() == [True, False, True, False]


def test_evaluate_frame_on_empty_frame() -> None:
    result = evaluate_frame(parse("a = 'x' or not b > 1"), pd.DataFrame({"a": [], "b": []}))
    assert len(result) == 0
    assert result.dtype == bool


# --- property: both evaluators agree ---------------------------------------------------------

PROPERTY_SCHEMA = {
    "status": ["actief", "gepensioneerd", "student"],
    "score": ["1", "2", "3", "4", "5", "na"],
}
HULP_CODES = ["financieel", "administratief", "psychosociaal"]
MATRIX_ITEMS = ["pluspas", "sint"]


def _literal(value: str | float) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    return str(int(value)) if float(value).is_integer() else str(value)


_ops = st.sampled_from(["=", "!=", "<", ">", "<=", ">="])
_eq_ops = st.sampled_from(["=", "!="])
_atoms = st.one_of(
    st.builds(
        lambda op, v: f"status {op} {_literal(v)}",
        _eq_ops,
        st.sampled_from(PROPERTY_SCHEMA["status"]),
    ),
    st.builds(
        lambda vs: f"status in [{', '.join(map(_literal, vs))}]",
        st.lists(st.sampled_from(PROPERTY_SCHEMA["status"]), min_size=1, max_size=3),
    ),
    st.builds(lambda op, v: f"score {op} {v}", _ops, st.integers(1, 5)),
    st.builds(lambda op: f"score {op} 'na'", _eq_ops),
    st.builds(
        lambda vs: f"score in [{', '.join(map(_literal, vs))}]",
        st.lists(st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0, "na"]), min_size=1, max_size=3),
    ),
    st.builds(lambda op, v: f"kinderen {op} {_literal(v)}", _ops, st.integers(-1, 4)),
    st.builds(lambda op: f"kinderen {op} 1.5", _ops),
    st.builds(
        lambda vs: f"kinderen in [{', '.join(map(_literal, vs))}]",
        st.lists(st.integers(0, 3).map(float), min_size=1, max_size=3),
    ),
    st.builds(lambda op, v: f"opmerking {op} {_literal(v)}", _eq_ops, st.sampled_from(["ja", "nee"])),
    st.builds(lambda c: f"'{c}' in hulp", st.sampled_from(HULP_CODES)),
    st.builds(
        lambda item, op, v: f"ken/{item} {op} '{v}'",
        st.sampled_from(MATRIX_ITEMS),
        _eq_ops,
        st.sampled_from(["ja", "nee"]),
    ),
)
_expressions = st.recursive(
    _atoms,
    lambda inner: st.one_of(
        inner.map(lambda e: f"not ({e})"),
        st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
    ),
    max_leaves=6,
)


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


_respondents = st.fixed_dictionaries(
    {
        "status": _maybe(st.sampled_from(PROPERTY_SCHEMA["status"])),
        "score": _maybe(st.sampled_from(PROPERTY_SCHEMA["score"])),
        "kinderen": _maybe(st.one_of(st.integers(0, 4), st.just(1.5))),
        "opmerking": _maybe(st.sampled_from(["ja", "nee", "iets anders"])),
        "hulp": _maybe(st.lists(st.sampled_from(HULP_CODES), unique=True)),
        "ken/pluspas": _maybe(st.sampled_from(["ja", "nee"])),
        "ken/sint": _maybe(st.sampled_from(["ja", "nee"])),
    }
)


def _frame(respondents: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for answers in respondents:
        row = {k: (np.nan if v is None else v) for k, v in answers.items() if k != "hulp"}
        for code in HULP_CODES:
            chosen = answers["hulp"]
            row[f"hulp/{code}"] = np.nan if chosen is None else int(code in chosen)
        rows.append(row)
    return pd.DataFrame(rows)


def _property_lookup(name: str) -> VarInfo | None:
    return {
        "status": VarInfo("choice", frozenset(PROPERTY_SCHEMA["status"])),
        "score": VarInfo("choice", frozenset(PROPERTY_SCHEMA["score"]), numeric_codes=True),
        "kinderen": VarInfo("number"),
        "opmerking": VarInfo("text"),
        "hulp": VarInfo("multi", frozenset(HULP_CODES)),
        "ken/pluspas": VarInfo("choice", frozenset({"ja", "nee"})),
        "ken/sint": VarInfo("choice", frozenset({"ja", "nee"})),
    }.get(name)


@settings(max_examples=80, deadline=None)
@given(source=_expressions, respondents=st.lists(_respondents, min_size=1, max_size=6))
def test_evaluate_frame_agrees_with_evaluate(source: str, respondents: list[dict[str, Any]]) -> None:
    expr = parse(source)
    assert check(expr, _property_lookup) == []  # the generator only writes well-typed conditions
    expected = [evaluate(expr, answers) for answers in respondents]
    assert evaluate_frame(expr, _frame(respondents)).tolist() == expected


def test_generator_writes_numbers_the_way_the_parser_reads_them() -> None:
    assert _literal(3.0) == "3"
    assert _literal(1.5) == "1.5"
    assert parse(f"q = {_literal(1.5)}") == Compare("q", "=", 1.5)
    assert parse(f"q in [{_literal('a')}, {_literal(2.0)}]") == InList("q", ("a", 2.0))
