"""Synthetic demo data shaped like the real survey of 2020-21: pure numpy, no Flask, no database.

Everything here takes a validated :class:`Questionnaire` and a seeded ``numpy.random.Generator`` and
returns plain rows and answer dicts, so the same numbers come out on every run with the same seed.

The population mirrors the register of 6 October 2021 (30,523 active and 14,459 retired entitled
staff). Its group columns are the ``register_column`` names of the questionnaire's group questions,
with the questionnaire's own codes; contract, level and years of service exist only for active
staff (the questionnaire hides those questions from retirees, so their answers never have them).

The answers follow what the 2020-21 survey found (see the context digest): response and
awareness lower for young, fixed-term, foreign-origin and new staff, level A and singles, higher for
retirees, statutory staff, levels C/D and people with a disability; three quarters used something
(PlusPas, Sintgeschenk and events most); 12 offerings above 80% top-2-box satisfaction and 4 clearly
below; the social-assistant funnel 50% / 33% / 6%; help types 40/31/21/19%; 88% miss nothing.
Every answer dict is exactly what the web form would store: only visible questions, codes as
strings, multiple choice as lists of codes, numbers as int.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from surveyapp.questionnaire.expressions import evaluate
from surveyapp.questionnaire.model import Question, Questionnaire

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
CodeArray = npt.NDArray[np.object_]

ACTIVE = 30_523
RETIRED = 14_459
POPULATION = ACTIVE + RETIRED  # 44,982 on 6 October 2021
RESPONSES = 18_000  # the 2020-21 survey had 17,938

# Columns that only exist for active staff (hidden questions for retirees).
ACTIVE_ONLY = ("contract", "niveau", "dienstjaren")


class DemoDataError(ValueError):
    """The questionnaire does not fit the demo generator (a changed id or code)."""


# --- small helpers ---------------------------------------------------------------------------------


def _logistic(x: FloatArray) -> FloatArray:
    result: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return result


def _pick(rng: np.random.Generator, codes: Sequence[str], probs: Sequence[float], size: int) -> CodeArray:
    p = np.asarray(probs, dtype=float)
    chosen = rng.choice(len(codes), size=size, p=p / p.sum())
    return np.asarray(codes, dtype=object)[chosen]


def _pick_by(
    rng: np.random.Generator,
    condition: CodeArray,
    table: Mapping[str, Sequence[float]],
    codes: Sequence[str],
) -> CodeArray:
    """One code per row, drawn from the distribution of the row's ``condition`` value."""
    out = np.empty(len(condition), dtype=object)
    for value, probs in table.items():
        rows = np.flatnonzero(condition == value)
        if rows.size:
            out[rows] = _pick(rng, codes, probs, rows.size)
    return out


def _effect(values: CodeArray, effects: Mapping[str, float]) -> FloatArray:
    return np.fromiter((effects.get(v, 0.0) for v in values), dtype=float, count=len(values))


def _rows(mask: BoolArray) -> list[int]:
    """Positions where ``mask`` is true, as Python ints."""
    rows: list[int] = np.flatnonzero(mask).tolist()
    return rows


def group_questions(questionnaire: Questionnaire) -> dict[str, Question]:
    """Register column → the group question that asks it (measure type group with a register_column)."""
    return {
        q.measure.register_column: q
        for q in questionnaire.questions
        if q.measure is not None and q.measure.type == "group" and q.measure.register_column
    }


def _has(questionnaire: Questionnaire, question_id: str) -> bool:
    try:
        questionnaire.question(question_id)
    except KeyError:
        return False
    return True


def _codes(questionnaire: Questionnaire, question_id: str) -> tuple[str, ...]:
    return questionnaire.question(question_id).codes


def _require_codes(questionnaire: Questionnaire, question_id: str, codes: Sequence[str]) -> None:
    known = set(_codes(questionnaire, question_id))
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise DemoDataError(f"question {question_id!r} has no code(s) {', '.join(unknown)}")


def unanswered_required(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> list[str]:
    """Answer keys of visible required questions (matrix rows included) that have no answer.

    The same rule as the respondent flow's submit check, with each page's condition evaluated once.
    """
    pages = {page.id: questionnaire.page_visible(page, answers) for page in questionnaire.pages}
    missing: list[str] = []
    for question in questionnaire.questions:
        if not question.required or not pages[question.page_id]:
            continue
        if question.show_if is not None and not evaluate(question.show_if, answers):
            continue
        if question.type == "matrix":
            keys = [
                f"{question.id}/{item.id}"
                for item in question.items
                if item.show_if is None or evaluate(item.show_if, answers)
            ]
        else:
            keys = [question.id]
        missing += [key for key in keys if answers.get(key) in (None, "", [])]
    return missing


# --- the population --------------------------------------------------------------------------------

AGES = ("lt30", "30_39", "40_49", "50_59", "60_64", "65plus")
AGE_ACTIVE = (0.08, 0.23, 0.28, 0.31, 0.10, 0.0)
AGE_RETIRED = (0.0, 0.0, 0.0, 0.01, 0.17, 0.82)

CONTRACTS = ("statutair", "contractueel_onbepaald", "contractueel_bepaald", "kabinet", "andere")
CONTRACT_BY_AGE = {
    "lt30": (0.20, 0.45, 0.25, 0.04, 0.06),
    "30_39": (0.45, 0.35, 0.10, 0.04, 0.06),
    "40_49": (0.60, 0.30, 0.04, 0.02, 0.04),
    "50_59": (0.68, 0.25, 0.02, 0.01, 0.04),
    "60_64": (0.72, 0.22, 0.01, 0.01, 0.04),
}
LEVELS = ("a", "b", "c", "d", "onbekend")
LEVEL_BY_AGE = {
    "lt30": (0.42, 0.27, 0.21, 0.07, 0.03),
    "30_39": (0.38, 0.27, 0.25, 0.08, 0.02),
    "40_49": (0.33, 0.27, 0.28, 0.10, 0.02),
    "50_59": (0.29, 0.27, 0.30, 0.12, 0.02),
    "60_64": (0.27, 0.26, 0.32, 0.13, 0.02),
}
SERVICE_YEARS = ("lt2", "2_4", "5_9", "10_19", "20plus")
SERVICE_BY_AGE = {
    "lt30": (0.40, 0.40, 0.20, 0.0, 0.0),
    "30_39": (0.15, 0.20, 0.35, 0.30, 0.0),
    "40_49": (0.07, 0.10, 0.18, 0.45, 0.20),
    "50_59": (0.04, 0.06, 0.12, 0.28, 0.50),
    "60_64": (0.02, 0.04, 0.08, 0.22, 0.64),
}
HOUSEHOLDS = (
    "alleenstaand",
    "samenwonend_zonder_kinderen",
    "samenwonend_met_kinderen",
    "alleenstaand_met_kinderen",
    "andere",
)
HOUSEHOLD_ACTIVE_BY_AGE = {
    "lt30": (0.38, 0.30, 0.12, 0.03, 0.17),
    "30_39": (0.18, 0.20, 0.50, 0.07, 0.05),
    "40_49": (0.14, 0.12, 0.58, 0.12, 0.04),
    "50_59": (0.16, 0.32, 0.40, 0.09, 0.03),
    "60_64": (0.20, 0.55, 0.18, 0.04, 0.03),
}
HOUSEHOLD_RETIRED = (0.30, 0.58, 0.06, 0.01, 0.05)
DISABILITY = ("ja", "nee", "zeg_niet")
ORIGINS = ("belgisch", "eu", "buiten_eu", "zeg_niet")
ORIGIN_BY_AGE = {
    "lt30": (0.79, 0.05, 0.12, 0.04),
    "30_39": (0.81, 0.05, 0.10, 0.04),
    "40_49": (0.87, 0.04, 0.06, 0.03),
    "50_59": (0.91, 0.03, 0.04, 0.02),
    "60_64": (0.93, 0.03, 0.03, 0.01),
    "65plus": (0.94, 0.03, 0.02, 0.01),
}
ENTITIES = ("kb", "fb", "ov", "wvg", "mow", "omg", "wse", "cjm", "ewi", "lv", "andere")
ENTITY_SHARES = (0.07, 0.08, 0.10, 0.13, 0.20, 0.12, 0.07, 0.06, 0.05, 0.04, 0.08)
ENTITY_SHARES_RETIRED = (0.07, 0.09, 0.10, 0.12, 0.20, 0.11, 0.07, 0.05, 0.04, 0.04, 0.14)


@dataclass(frozen=True)
class Population:
    """Synthetic entitled persons: keys, e-mails, languages and register group columns."""

    keys: list[str]
    emails: list[str]
    languages: CodeArray
    columns: dict[str, CodeArray]  # register column → code per person ("" where not applicable)

    def __len__(self) -> int:
        return len(self.keys)

    def groups(self, index: int) -> dict[str, str]:
        """The register groups of one person (columns that do not apply are left out)."""
        return {column: str(codes[index]) for column, codes in self.columns.items() if codes[index]}

    @property
    def active(self) -> BoolArray:
        result: BoolArray = self.columns["status"] == "actief"
        return result


def split_population(size: int) -> tuple[int, int]:
    """Active and retired counts for a population of ``size`` in the real proportion (exact at 44,982)."""
    active = round(size * ACTIVE / POPULATION)
    return active, size - active


def generate_population(
    questionnaire: Questionnaire, rng: np.random.Generator, size: int = POPULATION
) -> Population:
    """``size`` synthetic persons (30,523 active and 14,459 retired at the real size)."""
    groups = group_questions(questionnaire)
    n_active, n_retired = split_population(size)
    n = n_active + n_retired
    status = np.asarray(["actief"] * n_active + ["gepensioneerd"] * n_retired, dtype=object)
    active = status == "actief"
    age = np.empty(n, dtype=object)
    age[active] = _pick(rng, AGES, AGE_ACTIVE, n_active)
    age[~active] = _pick(rng, AGES, AGE_RETIRED, n_retired)

    contract = np.full(n, "", dtype=object)
    level = np.full(n, "", dtype=object)
    years = np.full(n, "", dtype=object)
    contract[active] = _pick_by(rng, age[active], CONTRACT_BY_AGE, CONTRACTS)
    level[active] = _pick_by(rng, age[active], LEVEL_BY_AGE, LEVELS)
    years[active] = _pick_by(rng, age[active], SERVICE_BY_AGE, SERVICE_YEARS)

    household = np.empty(n, dtype=object)
    household[active] = _pick_by(rng, age[active], HOUSEHOLD_ACTIVE_BY_AGE, HOUSEHOLDS)
    household[~active] = _pick(rng, HOUSEHOLDS, HOUSEHOLD_RETIRED, n_retired)
    with_children = np.isin(household, ["samenwonend_met_kinderen", "alleenstaand_met_kinderen"])
    with_children |= (household == "andere") & (rng.random(n) < 0.15)
    children = np.where(with_children, "yes", "no").astype(object)

    disability = np.empty(n, dtype=object)
    disability[active] = _pick(rng, DISABILITY, (0.06, 0.91, 0.03), n_active)
    disability[~active] = _pick(rng, DISABILITY, (0.14, 0.83, 0.03), n_retired)
    origin = _pick_by(rng, age, ORIGIN_BY_AGE, ORIGINS)
    entity = np.empty(n, dtype=object)
    entity[active] = _pick(rng, ENTITIES, ENTITY_SHARES, n_active)
    entity[~active] = _pick(rng, ENTITIES, ENTITY_SHARES_RETIRED, n_retired)

    columns: dict[str, CodeArray] = {
        "status": status,
        "leeftijd": age,
        "gezin": household,
        "kinderen": children,
        "beperking": disability,
        "herkomst": origin,
        "entiteit": entity,
        "contract": contract,
        "niveau": level,
        "dienstjaren": years,
    }
    unknown = sorted(set(groups) - set(columns))
    if unknown:
        raise DemoDataError(f"the demo does not know the register column(s) {', '.join(unknown)}")
    columns = {name: values for name, values in columns.items() if name in groups}
    for name, values in columns.items():
        _require_codes(questionnaire, groups[name].id, sorted({str(v) for v in values if v}))

    foreign = np.isin(origin, ["eu", "buiten_eu"])
    english = rng.random(n) < np.where(foreign, 0.35, 0.085)
    languages = np.where(english, "en", "nl").astype(object)
    width = max(6, len(str(n)))
    keys = [f"P{i:0{width}d}" for i in range(1, n + 1)]
    emails = [f"{key.lower()}@demo.invalid" for key in keys]
    return Population(keys=keys, emails=emails, languages=languages, columns=columns)


# --- who answers -----------------------------------------------------------------------------------


def response_propensity(population: Population) -> FloatArray:
    """Relative chance to respond: lower for young, fixed-term, foreign-origin, new and level-A staff."""
    c = population.columns
    x = np.full(len(population), -0.3)
    x += _effect(c["leeftijd"], {"lt30": -0.7, "30_39": -0.35, "50_59": 0.15, "60_64": 0.3, "65plus": 0.25})
    x += _effect(c["status"], {"gepensioneerd": 0.35})
    x += _effect(c.get("contract", c["status"]), {"statutair": 0.2, "contractueel_bepaald": -0.6})
    x += _effect(c["herkomst"], {"eu": -0.5, "buiten_eu": -0.7, "zeg_niet": -0.3})
    x += _effect(c.get("dienstjaren", c["status"]), {"lt2": -0.6, "2_4": -0.25, "20plus": 0.1})
    x += _effect(c.get("niveau", c["status"]), {"a": -0.3, "c": 0.15, "d": 0.2})
    x += _effect(c["gezin"], {"alleenstaand": -0.2})
    x += _effect(c["beperking"], {"ja": 0.2})
    return _logistic(x)


def choose_respondents(population: Population, rng: np.random.Generator, count: int) -> IntArray:
    """``count`` distinct person indices, drawn with the response propensity (Efraimidis-Spirakis)."""
    count = min(count, len(population))
    weight = response_propensity(population)
    keys = np.log(rng.random(len(population))) / weight
    chosen: IntArray = np.sort(np.argpartition(-keys, count - 1)[:count]) if count else np.zeros(0, np.int64)
    return chosen.astype(np.int64)


# --- the answers of entitled staff -----------------------------------------------------------------


@dataclass(frozen=True)
class Offering:
    """Parameters of one offering (a subject of the ken/gebruik/tevredenheid matrices)."""

    known: float  # logit of knowing it at awareness index 0
    used: float  # logit of having used it (among those who know it) at index 0
    top2: float  # share of satisfied (4 or 5) among users with an opinion


OFFERINGS: dict[str, Offering] = {
    "pluspas": Offering(2.0, 0.3, 0.90),
    "sintgeschenk": Offering(0.2, 2.2, 0.95),  # knowledge and use mostly with children (below)
    "events": Offering(0.9, -0.6, 0.90),
    "info_pensioen": Offering(-0.4, -1.3, 0.88),
    "financiele_tegemoetkomingen": Offering(-0.2, -2.4, 0.72),
    "jeugdvakanties": Offering(-0.6, 0.0, 0.87),
    "sociale_vakanties": Offering(-0.7, -2.2, 0.68),
    "individuele_hulp": Offering(-0.1, -9.0, 0.91),  # used = asked a social assistant (below)
    "zitdagen": Offering(-1.2, -1.8, 0.86),
    "e_loket": Offering(0.1, -1.6, 0.64),
    "website": Offering(0.5, -1.4, 0.71),
    "brochures": Offering(-0.5, -1.7, 0.85),
    "webinars": Offering(-1.3, -1.5, 0.88),
    "workshops": Offering(-1.6, -1.6, 0.89),
    "sportaanbod": Offering(-1.5, -1.5, 0.87),
    "gezonde_levensstijl": Offering(-1.9, -1.7, 0.85),
}
DEFAULT_OFFERING = Offering(-1.0, -1.5, 0.85)
USAGE_SLOPE = 0.7  # those who know more also use more

# Help questions to the social assistant: a main reason, then sometimes a second one (~114% in all).
HELP_MAIN = {"financieel": 0.36, "administratief": 0.28, "psychosociaal": 0.18, "werkgerelateerd": 0.16}
HELP_EXTRA = {"financieel": 0.0625, "administratief": 0.042, "psychosociaal": 0.037, "werkgerelateerd": 0.036}

SUGGESTIONS = (
    "Meer informatie voor nieuwe collega's bij de start, bijvoorbeeld in de onthaalbrochure.",
    "Maak het aanbod beter bekend bij jongere collega's, zij kennen de sociale dienst nauwelijks.",
    "Graag ook activiteiten in de regio en niet alleen in Brussel.",
    "De PlusPas is top, maar de kortingen mogen wat ruimer en bij meer winkels.",
    "Een chatfunctie op de website zou de drempel verlagen.",
    "Meer webinars over stress en mentale weerbaarheid, liefst over de middag.",
    "Informeer gepensioneerden ook op papier: niet iedereen leest e-mails.",
    "Het e-loket is niet altijd duidelijk, een stap-voor-stap uitleg zou helpen.",
    "Ik wist niet dat ik met administratieve vragen bij een maatschappelijk assistent terecht kon.",
    "Werk samen met de preventieadviseurs en de vertrouwenspersonen, "
    "dan weten collega's beter waar ze terechtkunnen.",
    "Vertel met echte verhalen wat de maatschappelijk assistenten doen, dan durven mensen sneller te bellen.",
    "Een infosessie over budgetbeheer voor jonge gezinnen zou nuttig zijn.",
    "Sportkampen in de zomervakantie voor de kinderen van personeelsleden.",
    "Hou de zitdagen, een persoonlijk gesprek is voor veel mensen makkelijker.",
    "Maak de inkomensgrenzen voor de tegemoetkomingen duidelijker, ik weet niet of ik in aanmerking kom.",
    "Meer aandacht voor mantelzorgers die werk en zorg moeten combineren.",
    "Een nieuwsbrief per kwartaal met het aanbod zou handig zijn.",
    "Graag een overzicht van alle voordelen op één pagina.",
    "Ook collega's met een contract van bepaalde duur moeten het aanbod leren kennen.",
    "Workshops over het pensioen al vanaf 55 jaar, niet pas vlak voor het pensioen.",
    "Een telefoonnummer dat ook na de kantooruren bereikbaar is.",
    "De sociale vakanties zijn snel volzet, meer plaatsen zou fijn zijn.",
    "Meer activiteiten voor gepensioneerden om contact te houden met oud-collega's.",
    "Zorg dat de website ook goed werkt op een smartphone.",
    "Een workshop over internetfraude en phishing voor gepensioneerden.",
    "Laat leidinggevenden het aanbod voorstellen op teamvergaderingen.",
    "Het Sintgeschenk is een mooie traditie, hou dat zeker zo.",
    "Ik mis aanbod voor collega's zonder kinderen.",
    "Informatie in eenvoudige taal, en ook in het Engels voor anderstalige collega's.",
    "Een coach voor een gezonde levensstijl zou ik zeker gebruiken.",
    "Een vast aanspreekpunt per entiteit zou de weg naar de sociale dienst korter maken.",
    "Meer yoga- en mindfulnesssessies, ook online.",
    "Bedankt voor de snelle en vriendelijke hulp vorig jaar!",
    "Maak duidelijk dat alles in vertrouwen gebeurt, "
    "veel collega's zijn bang dat de werkgever het te weten komt.",
    "Een gids met de stappen bij een scheiding of een overlijden in het gezin.",
    "Werk meer preventief: kom naar de teams voor er problemen zijn.",
)
MISSING_OFFER = (
    "Ondersteuning bij de zorg voor een ouder die hulpbehoevend wordt.",
    "Tussenkomst in de kosten van kinderopvang.",
    "Hulp bij het invullen van de belastingaangifte.",
    "Aanbod voor alleenstaanden, nu is veel gericht op gezinnen met kinderen.",
    "Psychologische begeleiding of een paar gesprekken met een psycholoog.",
    "Kortingen op sport- en fitnessabonnementen.",
    "Begeleiding bij schulden, voor het te laat is.",
    "Activiteiten voor gepensioneerden buiten de grote steden.",
    "Een tegemoetkoming voor de studiekosten van de kinderen.",
    "Hulp bij het zoeken naar betaalbare huisvesting.",
    "Informatie over het combineren van werk met een langdurige ziekte.",
    "Een opleiding om digitaal mee te blijven, voor wie daar moeite mee heeft.",
    "Een lotgenotengroep voor collega's die een partner of kind verloren hebben.",
    "Fietsleasing of kortingen op een elektrische fiets.",
    "Meer aanbod voor tieners, niet alleen voor jonge kinderen.",
)


def _multi(
    rng: np.random.Generator,
    probs: Mapping[str, FloatArray | float],
    n: int,
    order: Sequence[str],
) -> list[list[str]]:
    """Independent yes/no per code, kept in the questionnaire's code order."""
    codes = [c for c in order if c in probs]
    if not codes:
        return [[] for _ in range(n)]
    p = np.column_stack([np.broadcast_to(np.asarray(probs[c], dtype=float), (n,)) for c in codes])
    hits = rng.random((n, len(codes))) < p
    return [[codes[j] for j in np.flatnonzero(row)] for row in hits]


def awareness_index(population: Population, index: IntArray, rng: np.random.Generator) -> FloatArray:
    """How well a person knows the service: the group effects of the digest plus personal noise."""
    c = {name: values[index] for name, values in population.columns.items()}
    status = c["status"]
    z = rng.normal(0.0, 0.9, len(index))
    z += _effect(
        c["leeftijd"], {"lt30": -1.0, "30_39": -0.5, "40_49": -0.1, "50_59": 0.2, "60_64": 0.4, "65plus": 0.5}
    )
    z += _effect(status, {"gepensioneerd": 0.35})
    z += _effect(
        c.get("contract", status),
        {"statutair": 0.3, "contractueel_bepaald": -0.7, "kabinet": -0.3, "andere": -0.2},
    )
    z += _effect(c["gezin"], {"alleenstaand": -0.35, "andere": -0.2})
    z += _effect(c["kinderen"], {"yes": 0.3})
    z += _effect(c["herkomst"], {"eu": -0.6, "buiten_eu": -0.7, "zeg_niet": -0.2})
    z += _effect(c.get("dienstjaren", status), {"lt2": -0.9, "2_4": -0.4, "20plus": 0.2})
    z += _effect(c.get("niveau", status), {"a": -0.4, "c": 0.3, "d": 0.4})
    z += _effect(c["beperking"], {"ja": 0.5})
    return z


def generate_answers(
    questionnaire: Questionnaire,
    population: Population,
    index: IntArray,
    rng: np.random.Generator,
    *,
    strict: bool = False,
) -> list[dict[str, Any]]:
    """Complete answers of the persons at ``index``, as the web form stores them (gerechtigden).

    Each dict goes through ``questionnaire.clean_answers`` and must answer every visible required
    question. With ``strict`` the generator must already produce exactly the clean answers (a test
    of the generator); without it the cleaned answers are returned.
    """
    n = len(index)
    groups = group_questions(questionnaire)
    c = {name: values[index] for name, values in population.columns.items()}
    active = c["status"] == "actief"
    kids = c["kinderen"] == "yes"
    older = np.isin(c["leeftijd"], ["50_59", "60_64", "65plus"])
    z = awareness_index(population, index, rng)

    raw: list[dict[str, Any]] = [{} for _ in range(n)]

    # Page 1-2: the profile answers are the person's register groups.
    for column, question in groups.items():
        values = c[column]
        for i in range(n):
            if values[i]:
                raw[i][question.id] = str(values[i])
    if _has(questionnaire, "aantal_kinderen"):
        counts = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.34, 0.44, 0.16, 0.05, 0.01])
        answered = rng.random(n) < 0.95
        for i in _rows(kids & answered):
            raw[i]["aantal_kinderen"] = int(counts[i])

    # Page 3: awareness of the service (ordered logit on the index) and of each offering.
    known_service = np.zeros(n, dtype=bool)
    if _has(questionnaire, "ken_dienst"):
        levels = ("niet", "naam", "beetje", "goed")
        _require_codes(questionnaire, "ken_dienst", levels)
        latent = z + rng.logistic(0.0, 0.6, n)
        level = np.digitize(latent, [-2.2, -0.9, 0.55])
        for i in range(n):
            raw[i]["ken_dienst"] = levels[level[i]]
        known_service = level >= 2

    # The social-assistant funnel (asked on page 6, drawn first: asking implies individual help).
    ma_knows = rng.random(n) < _logistic(-0.25 + 0.75 * z + _effect(c["beperking"], {"ja": 0.4}))
    ma_purpose = ma_knows & (rng.random(n) < _logistic(0.3 + 0.5 * z))
    ask_boost = _effect(c["gezin"], {"alleenstaand_met_kinderen": 0.8, "alleenstaand": 0.3})
    ask_boost += _effect(c["beperking"], {"ja": 0.8})
    ma_asked = ma_knows & (rng.random(n) < _logistic(-3.3 + 0.2 * z + ask_boost + 1.0 * ma_purpose))

    # A personal taste for using the offer: usage clusters in the same people.
    user = rng.normal(0.0, 1.5, n)
    offerings: list[str] = []
    if _has(questionnaire, "ken_aanbod"):
        offerings = [item.id for item in questionnaire.question("ken_aanbod").items]
        _require_codes(questionnaire, "ken_aanbod", ("ja", "nee"))
    known: dict[str, BoolArray] = {}
    used: dict[str, BoolArray] = {}
    for item in offerings:
        params = OFFERINGS.get(item, DEFAULT_OFFERING)
        logit_known = params.known + z
        logit_used = params.used - 0.4 + USAGE_SLOPE * z + user
        if item in {"sintgeschenk", "jeugdvakanties"}:
            logit_known = logit_known + np.where(kids, 2.0, -0.8)
        if item == "info_pensioen":
            logit_known = logit_known + np.where(older, 1.0, -0.8)
            logit_used = logit_used + np.where(older, 0.6, -1.5)
        if item in {"e_loket", "website"}:
            logit_used = logit_used + np.where(active, 0.2, -0.6)
        known[item] = rng.random(n) < _logistic(logit_known)
        used[item] = known[item] & (rng.random(n) < _logistic(logit_used))
        if item in {"sintgeschenk", "jeugdvakanties"}:
            used[item] &= kids  # only for people with children
        if item == "individuele_hulp":
            known[item] |= ma_asked
            used[item] = ma_asked & (rng.random(n) < 0.75)  # the last 2 of the 5 years
    for item in offerings:
        key = f"ken_aanbod/{item}"
        for i in range(n):
            raw[i][key] = "ja" if known[item][i] else "nee"

    # Page 4-5: usage of what one knows, satisfaction with what one used.
    if offerings and _has(questionnaire, "gebruik_aanbod"):
        for item in offerings:
            key = f"gebruik_aanbod/{item}"
            for i in _rows(known[item]):
                raw[i][key] = "ja" if used[item][i] else "nee"
    if offerings and _has(questionnaire, "tevredenheid_aanbod"):
        scale = ("1", "2", "3", "4", "5", "na")
        _require_codes(questionnaire, "tevredenheid_aanbod", scale)
        for item in offerings:
            rows = _rows(used[item])
            top2 = OFFERINGS.get(item, DEFAULT_OFFERING).top2
            probs = _satisfaction_probs(top2, missing=0.02)
            scores = _pick(rng, scale, probs, len(rows))
            answered = rng.random(len(rows)) < 0.97
            key = f"tevredenheid_aanbod/{item}"
            for i, score, yes in zip(rows, scores, answered):
                if yes:
                    raw[i][key] = score

    # Page 6-8: the social assistant.
    if _has(questionnaire, "ma_weet"):
        for i in range(n):
            raw[i]["ma_weet"] = "yes" if ma_knows[i] else "no"
            if ma_knows[i]:
                raw[i]["ma_weet_waarvoor"] = "yes" if ma_purpose[i] else "no"
                raw[i]["ma_gevraagd"] = "yes" if ma_asked[i] else "no"
    asked = _rows(ma_asked)
    if len(asked) and _has(questionnaire, "hulpvraag"):
        main = _pick(rng, list(HELP_MAIN), [*HELP_MAIN.values()], len(asked))
        extra = _multi(rng, HELP_EXTRA, len(asked), list(HELP_EXTRA))
        other = rng.random(len(asked)) < 0.03
        order = _codes(questionnaire, "hulpvraag")
        for j, i in enumerate(asked):
            if rng.random() < 0.97:
                chosen = {str(main[j]), *extra[j]} | ({"andere"} if other[j] else set())
                raw[i]["hulpvraag"] = [code for code in order if code in chosen]
    if len(asked) and _has(questionnaire, "ma_tevredenheid"):
        scale = ("1", "2", "3", "4", "5", "na")
        contact_top2 = {"houding": 0.95, "aanpak": 0.92, "snelheid": 0.88, "deskundigheid": 0.93}
        for aspect in questionnaire.question("ma_tevredenheid").items:
            top2 = contact_top2.get(aspect.id, 0.9)
            scores = _pick(rng, scale, _satisfaction_probs(top2, missing=0.02), len(asked))
            for j, i in enumerate(asked):
                raw[i][f"ma_tevredenheid/{aspect.id}"] = str(scores[j])

    # Page 9: needs and interests.
    young = np.isin(c["leeftijd"], ["lt30", "30_39"])
    retired = ~active
    if _has(questionnaire, "themas"):
        theme_p: dict[str, FloatArray | float] = {
            "mentaal_welzijn": np.where(retired, 0.15, 0.38),
            "fysieke_gezondheid": 0.30,
            "financiele_zelfredzaamheid": np.where(young, 0.25, 0.10),
            "pensioenvoorbereiding": np.where(active & older, 0.45, np.where(active, 0.08, 0.03)),
            "digitale_vaardigheden": np.where(retired, 0.30, 0.12),
            "werk_prive": np.where(active, np.where(kids, 0.40, 0.25), 0.0),
            "levenskeuzes": np.where(young, 0.18, 0.07),
            "sociale_contacten": np.where(retired, 0.25, 0.07),
            "zorg_naaste": np.where(older, 0.18, 0.08),
        }
        lists = _multi(rng, theme_p, n, _codes(questionnaire, "themas"))
        skip = rng.random(n) < 0.05
        for i in range(n):
            if skip[i]:
                continue
            raw[i]["themas"] = lists[i] or ["geen"]
    if _has(questionnaire, "groepsaanbod"):
        choice = _pick(rng, ("webinar", "workshop", "beide", "nee", "weet_niet"), (25, 15, 15, 30, 15), n)
        skip = rng.random(n) < 0.04
        for i in _rows(~skip):
            raw[i]["groepsaanbod"] = str(choice[i])
    if _has(questionnaire, "pensioen_info"):
        p = _effect(c["leeftijd"], {"lt30": 0.08, "30_39": 0.15, "40_49": 0.30, "50_59": 0.60, "60_64": 0.72})
        wants = rng.random(n) < p
        skip = rng.random(n) < 0.04
        for i in _rows(active & ~skip):
            raw[i]["pensioen_info"] = "yes" if wants[i] else "no"
    if _has(questionnaire, "kanalen"):
        channel_p: dict[str, FloatArray | float] = {
            "email": np.where(retired, 0.55, 0.80),
            "website": 0.30,
            "nieuwsbrief": 0.35,
            "intranet": np.where(active, 0.25, 0.0),
            "telefoon": np.where(retired, 0.20, 0.07),
            "zitdag": 0.07,
            "brief": np.where(retired, 0.40, 0.04),
            "infosessie": 0.10,
            "hr_leidinggevende": np.where(active, 0.12, 0.0),
        }
        lists = _multi(rng, channel_p, n, _codes(questionnaire, "kanalen"))
        skip = rng.random(n) < 0.03
        for i in range(n):
            if not skip[i]:
                raw[i]["kanalen"] = lists[i] or ["email"]

    # Page 10: opinion and suggestions.
    if _has(questionnaire, "tevreden_dienst"):
        scale = ("1", "2", "3", "4", "5", "na")
        scores = _pick(rng, scale, (0.01, 0.03, 0.10, 0.50, 0.35, 0.01), n)
        answered = rng.random(n) < 0.97
        for i in _rows(known_service & answered):
            raw[i]["tevreden_dienst"] = str(scores[i])
    misses = rng.random(n) < 0.12
    if _has(questionnaire, "mist_iets"):
        answered = rng.random(n) < 0.96
        for i in _rows(answered):
            raw[i]["mist_iets"] = "yes" if misses[i] else "no"
        if _has(questionnaire, "mist_wat"):
            writes = answered & misses & (rng.random(n) < 0.22)
            texts = rng.integers(0, len(MISSING_OFFER), n)
            for i in _rows(writes):
                raw[i]["mist_wat"] = MISSING_OFFER[texts[i]]
    if _has(questionnaire, "drempels"):
        low = ~known_service
        barrier_p: dict[str, FloatArray | float] = {
            "weet_niet_bestaan": np.where(low, 0.40, 0.08),
            "weet_niet_hoe": np.where(low, 0.25, 0.05),
            "schaamte": 0.08,
            "privacy": np.where(active, 0.09, 0.03),
            "niet_voor_mij": np.where(young, 0.12, 0.05),
            "openingsuren": np.where(active, 0.05, 0.02),
            "afstand": 0.04,
            "digitaal_moeilijk": np.where(retired, 0.15, 0.03),
            "andere": 0.02,
        }
        lists = _multi(rng, barrier_p, n, _codes(questionnaire, "drempels"))
        none_code = rng.choice(["geen_nood", "geen_drempel"], size=n)
        skip = rng.random(n) < 0.10
        for i in range(n):
            if not skip[i]:
                raw[i]["drempels"] = lists[i] or [str(none_code[i])]
    if _has(questionnaire, "suggesties"):
        writes = rng.random(n) < 0.025
        texts = rng.integers(0, len(SUGGESTIONS), n)
        for i in _rows(writes):
            raw[i]["suggesties"] = SUGGESTIONS[texts[i]]

    return [_finish(questionnaire, answers, strict=strict) for answers in raw]


def _satisfaction_probs(top2: float, missing: float) -> tuple[float, ...]:
    """Probabilities of 1..5 and 'na' with the given top-2-box share among scores (na excluded)."""
    rest = 1.0 - top2
    scores = (0.15 * rest, 0.25 * rest, 0.60 * rest, 0.55 * top2, 0.45 * top2)
    return (*(s * (1.0 - missing) for s in scores), missing)


def _finish(questionnaire: Questionnaire, answers: dict[str, Any], *, strict: bool) -> dict[str, Any]:
    cleaned = questionnaire.clean_answers(answers)
    if strict and cleaned != answers:
        dropped = sorted(set(answers) - set(cleaned))
        raise DemoDataError(f"generated answers to hidden questions: {', '.join(dropped)}")
    missing = unanswered_required(questionnaire, cleaned)
    if missing:
        raise DemoDataError(f"generated answers leave required questions open: {', '.join(missing)}")
    return cleaned


@dataclass(frozen=True)
class Draft:
    """A started, unsubmitted questionnaire: the answers of its first pages."""

    person: int
    answers: dict[str, Any]
    pages_done: list[str]
    current_page: str


def generate_drafts(
    questionnaire: Questionnaire, population: Population, index: IntArray, rng: np.random.Generator
) -> list[Draft]:
    """In-progress answers: each person completed some of the visible pages (at least one)."""
    full = generate_answers(questionnaire, population, index, rng)
    drafts = []
    for person, answers in zip(index, full):
        pages = questionnaire.visible_pages(answers)
        done = int(rng.integers(1, len(pages))) if len(pages) > 1 else 0
        keep = {key for page in pages[:done] for q in page.questions for key in q.variable_names()}
        partial = questionnaire.clean_answers({k: v for k, v in answers.items() if k in keep})
        drafts.append(Draft(int(person), partial, [p.id for p in pages[:done]], pages[done].id))
    return drafts


def submission_dates(rng: np.random.Generator, count: int, opens_on: date, until: date) -> list[date]:
    """Days the responses came in: a peak at the invitation, smaller ones after each weekly reminder."""
    days = max(1, (until - opens_on).days + 1)
    d = np.arange(days, dtype=float)
    weight = np.exp(-d / 2.5)
    for reminder in (7, 14):
        weight += np.where(d >= reminder, 0.45 * np.exp(-(d - reminder) / 2.0), 0.0)
    weekend = np.asarray([(opens_on + timedelta(days=int(i))).weekday() >= 5 for i in range(days)])
    weight = np.where(weekend, 0.3 * weight, weight)
    offsets = np.sort(rng.choice(days, size=count, p=weight / weight.sum()))
    return [opens_on + timedelta(days=int(offset)) for offset in offsets]


# --- welfare contact persons -----------------------------------------------------------------------


@dataclass(frozen=True)
class ContactPerson:
    key: str
    email: str
    language: str
    groups: dict[str, str]


def generate_contact_people(
    questionnaire: Questionnaire, rng: np.random.Generator, count: int = 60
) -> list[ContactPerson]:
    """A few welfare contact persons per entity (the questionnaire's entiteit codes)."""
    groups = group_questions(questionnaire)
    entity_question = groups.get("entiteit")
    entities = [c for c in entity_question.codes if c != "andere"] if entity_question else []
    people = []
    for i in range(count):
        groups_i = {"entiteit": entities[i % len(entities)]} if entities else {}
        language = "en" if rng.random() < 0.05 else "nl"
        key = f"C{i + 1:04d}"
        people.append(ContactPerson(key, f"{key.lower()}@demo.invalid", language, groups_i))
    return people


CONTACT_TEXTS: dict[str, tuple[str, ...]] = {
    "oordeel_toelichting": (
        "De sociale dienst is laagdrempelig: collega's kunnen zonder wachtlijst terecht.",
        "Wat ik erg waardeer, is dat de sociale dienst onafhankelijk van de werkgever werkt.",
        "De maatschappelijk assistenten werken heel professioneel en discreet.",
        "Het aanbod is breed en altijd toegankelijk, maar jongere collega's kennen het nauwelijks.",
        "Collega's weten vaak niet dat ze ook met psychosociale vragen terechtkunnen.",
        "De communicatie is vooral gericht op de PlusPas en het Sintgeschenk, "
        "de individuele hulp blijft onderbelicht.",
        "Onafhankelijkheid en vertrouwen zijn de grote sterktes, dat moet zo blijven.",
        "Nieuwe medewerkers horen pas na maanden van de sociale dienst.",
        "Heel professionele opvolging van een moeilijke situatie in ons team.",
        "Ik ken de manier van werken van de maatschappelijk assistenten te weinig om goed door te verwijzen.",
    ),
    "drempels_toelichting": (
        "Een collega met schulden durfde niet te bellen uit schaamte, "
        "ook al wist hij dat het in vertrouwen is.",
        "Ik twijfel soms of een vraag bij de sociale dienst of bij de preventieadviseur hoort.",
        "Na een doorverwijzing weet ik niet of de collega geholpen is, daardoor twijfel ik de volgende keer.",
        "Collega's zijn bang dat hun leidinggevende het te weten komt.",
        "Ik weet niet goed wat ik over een collega mag doorgeven zonder diens toestemming.",
        "Voor anderstalige collega's is de informatie moeilijk te vinden.",
        "De drempel om zelf contact op te nemen blijft hoog, vooral bij persoonlijke problemen.",
    ),
    "samenwerking_beter": (
        "Investeer in de relaties met de andere welzijnsactoren: "
        "een gezamenlijk overleg per beleidsdomein zou helpen.",
        "Een jaarlijks overleg met de preventieadviseurs, "
        "de vertrouwenspersonen en HR over signalen en aanbod.",
        "Een korte fiche per actor: wie doet wat, zodat we sneller juist doorverwijzen.",
        "Laat ons weten (met toestemming van de collega) dat een doorverwijzing goed terechtgekomen is.",
        "Kom eens langs op een netwerkmoment van de HR-diensten om het aanbod voor te stellen.",
        "Werk samen met de arbeidsarts bij langdurig zieke collega's die terugkeren naar het werk.",
        "Een gedeelde kalender van webinars en workshops van alle welzijnsactoren.",
        "Een vast aanspreekpunt bij de sociale dienst voor onze entiteit.",
    ),
    "suggesties": (
        "Werk meer preventief en proactief: ga naar de teams voor er problemen zijn.",
        "Communiceer over psychosociale hulp met verhalen van collega's, "
        "anoniem, zodat mensen zien wat er kan.",
        "Investeer in de relaties met andere welzijnsactoren en maak de rolverdeling duidelijk.",
        "Een workshop voor leidinggevenden over het herkennen van armoede en financiële problemen.",
        "Zorg dat elke nieuwe medewerker bij de start het aanbod van de sociale dienst leert kennen.",
        "Blijf laagdrempelig en onafhankelijk, dat is jullie grootste kracht.",
        "Meer aandacht voor mentaal welzijn en stress, met webinars over de middag.",
        "Een chatfunctie of een vast telefonisch spreekuur voor collega's die niet durven te mailen.",
        "Maak het aanbod zichtbaarder voor jonge collega's en collega's met een tijdelijk contract.",
        "Bied ook advies aan leidinggevenden bij een concrete situatie, "
        "zonder dat de collega al hulp vraagt.",
    ),
}


def generate_contact_answers(
    questionnaire: Questionnaire,
    people: Sequence[ContactPerson],
    rng: np.random.Generator,
    *,
    strict: bool = False,
) -> list[dict[str, Any]]:
    """Answers of welfare contact persons: well-known offer, less-known approach, open feedback."""
    pools = {key: list(rng.permutation(len(texts))) for key, texts in CONTACT_TEXTS.items()}

    def text(key: str) -> str | None:
        if not _has(questionnaire, key) or not pools[key]:
            return None
        return CONTACT_TEXTS[key][pools[key].pop()]

    results = []
    for person in people:
        a: dict[str, Any] = {}
        for column, question in group_questions(questionnaire).items():
            if column in person.groups:
                a[question.id] = person.groups[column]

        def put(question_id: str, value: Any, a: dict[str, Any] = a) -> None:
            if _has(questionnaire, question_id) and value is not None:
                a[question_id] = value

        put(
            "rol",
            str(
                rng.choice(
                    [
                        "hr",
                        "aanspreekpunt_welzijn",
                        "vertrouwenspersoon",
                        "preventieadviseur",
                        "leidinggevende",
                    ]
                )
            ),
        )
        put("ken_aanbod", str(rng.choice(["2", "3", "4"], p=[0.15, 0.55, 0.30])))
        put("ken_aanpak_ma", str(rng.choice(["1", "2", "3", "4"], p=[0.10, 0.45, 0.35, 0.10])))
        if _has(questionnaire, "ken_onderdelen"):
            for item in questionnaire.question("ken_onderdelen").items:
                p = [0.05, 0.30, 0.45, 0.20] if item.id != "webinars" else [0.25, 0.40, 0.25, 0.10]
                a[f"ken_onderdelen/{item.id}"] = str(rng.choice(["1", "2", "3", "4"], p=p))
        put(
            "doorverwezen", str(rng.choice(["nooit", "soms", "regelmatig", "vaak"], p=[0.2, 0.45, 0.25, 0.1]))
        )
        if _has(questionnaire, "stellingen"):
            strong = {"toegankelijk", "laagdrempelig", "onafhankelijk", "vertrouwen", "professioneel"}
            for item in questionnaire.question("stellingen").items:
                p = (
                    [0.0, 0.03, 0.09, 0.43, 0.40, 0.05]
                    if item.id in strong
                    else [0.04, 0.20, 0.31, 0.30, 0.10, 0.05]
                )
                a[f"stellingen/{item.id}"] = str(rng.choice(["1", "2", "3", "4", "5", "weet_niet"], p=p))
        if rng.random() < 0.6:
            put("oordeel_toelichting", text("oordeel_toelichting"))
        if _has(questionnaire, "drempels"):
            barriers = [
                "collega_wil_niet",
                "schaamte",
                "twijfel_actor",
                "privacy",
                "geen_zicht",
                "weet_niet_wat",
            ]
            chosen = {b for b in barriers if rng.random() < 0.3} or {"geen"}
            a["drempels"] = [code for code in _codes(questionnaire, "drempels") if code in chosen]
            if "geen" not in chosen and rng.random() < 0.5:
                put("drempels_toelichting", text("drempels_toelichting"))
        put("samenwerking", str(rng.choice(["2", "3", "4", "5", "na"], p=[0.05, 0.25, 0.45, 0.20, 0.05])))
        if rng.random() < 0.7:
            put("samenwerking_beter", text("samenwerking_beter"))
        if _has(questionnaire, "signalen"):
            signals = ["stress_burnout", "financiele_problemen", "relatie_gezin", "gezondheid", "zorgtaken"]
            weights = [0.8, 0.45, 0.4, 0.35, 0.3]
            chosen = {s for s, w in zip(signals, weights) if rng.random() < w} or {"geen"}
            a["signalen"] = [code for code in _codes(questionnaire, "signalen") if code in chosen]
        put(
            "signalen_evolutie",
            str(rng.choice(["meer", "even_veel", "minder", "weet_niet"], p=[0.55, 0.3, 0.05, 0.1])),
        )
        if _has(questionnaire, "nood_aanbod"):
            for item in questionnaire.question("nood_aanbod").items:
                p = [0.03, 0.12, 0.40, 0.40, 0.05]
                a[f"nood_aanbod/{item.id}"] = str(rng.choice(["1", "2", "3", "4", "weet_niet"], p=p))
        if rng.random() < 0.8:
            put("suggesties", text("suggesties"))
        results.append(_finish(questionnaire, a, strict=strict))
    return results
