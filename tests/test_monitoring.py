"""Live response monitoring against a hand-computed example, on both databases.

The example wave has 40 invited people and threshold 10. Person i (0-39):

- entiteit: A for 0-14 (15), B for 15-25 (11), C for 26-35 (10), D for 36-39 (4)
- submitted: 0-9, 15-18, 26-30 and 36 (20 of 40: overall 50.0 %); also started: 10 and 11 (22)
- niveau: A for the first 16 submitted and the first 4 not submitted, B for the others (20 + 20)
- status: gepensioneerd for 5, 12, 20, 27, 33, 38 (6), actief for the other 34
- contract: statutair for 0-29, no value for 30-39; invitation 39 opted out

By hand (z-test of a group against all other invited, pooled proportion p, two-sided):

- entiteit A 10/15 = 66.7 % (+16.7), B 4/11 = 36.4 % (-13.6; z = -1.062, p = 0.288: not lagging),
  D (4 < 10) hidden, and then C (10, the next smallest) hidden too: otherwise 40 - 15 - 11 - 10 = 4
  would give D back. Hidden D + C = 14 >= 10, two groups: enough.
- niveau A 16/20 = 80.0 % (+30.0), B 4/20 = 20.0 % (-30.0; z = -3.795, p = 0.000148: lagging)
- status gepensioneerd (6) hidden, so actief (34) too: a column of two groups shows nothing.
- contract statutair 18/30 = 60.0 % (+10.0), no value 2/10 = 20.0 % (-30.0; z = -2.191,
  p = 0.0285: lagging; 10 invited is not fewer than 10, so it is shown)
- per day (responses, opening 2026-03-01): 03-01 0, 03-02 8, 03-03 0, 03-04 7, 03-05 5;
  cumulative 0, 8, 8, 15, 20 = 0 %, 20 %, 20 %, 37.5 %, 50 % of 40.
"""

from __future__ import annotations

import math
import random
import re
import time
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import case, func, insert, select, update

from surveyapp.charts import PNG_SIGNATURE
from surveyapp.extensions import db
from surveyapp.models import Invitation, RegisterPerson, Response, Wave
from surveyapp.services import monitoring
from surveyapp.services.questionnaires import store_file
from surveyapp.services.waves import RegisterRow, add_register, create_invitations, create_wave, set_state
from tests.conftest import DATA
from tests.test_auth import login, make_users

MINI = DATA / "questionnaires" / "mini.yaml"
SUBMITTED = [*range(10), *range(15, 19), *range(26, 31), 36]
NOT_SUBMITTED = [i for i in range(40) if i not in SUBMITTED]
NIVEAU_A = set(SUBMITTED[:16] + NOT_SUBMITTED[:4])
RETIRED = {5, 12, 20, 27, 33, 38}
PER_DAY = {date(2026, 3, 2): 8, date(2026, 3, 4): 7, date(2026, 3, 5): 5}


def entiteit(i: int) -> str:
    return "A" if i < 15 else "B" if i < 26 else "C" if i < 36 else "D"


def person_groups(i: int) -> dict[str, str]:
    groups = {
        "entiteit": entiteit(i),
        "niveau": "A" if i in NIVEAU_A else "B",
        "status": "gepensioneerd" if i in RETIRED else "actief",
    }
    if i < 30:
        groups["contract"] = "statutair"
    return groups


def build_example(slug: str = "voorbeeld-2026") -> int:
    """The 40-person example wave (inside an app context); returns its id."""
    version, _ = store_file(MINI)
    wave = create_wave(version, slug=slug, title="Voorbeeld", opens_on=date(2026, 3, 1))
    add_register(wave, (RegisterRow(f"p{i}", f"p{i}@example.org", "nl", person_groups(i)) for i in range(40)))
    set_state(wave, "open")
    create_invitations(wave)
    ids = dict(
        db.session.execute(
            select(RegisterPerson.person_key, Invitation.id)
            .join(Invitation, Invitation.person_id == RegisterPerson.id)
            .where(RegisterPerson.wave_id == wave.id)
        ).all()
    )
    submitted = [ids[f"p{i}"] for i in SUBMITTED]
    started = [*submitted, ids["p10"], ids["p11"]]
    db.session.execute(
        update(Invitation).where(Invitation.id.in_(started)).values(started_on=date(2026, 3, 2))
    )
    db.session.execute(update(Invitation).where(Invitation.id.in_(submitted)).values(submitted=True))
    db.session.execute(update(Invitation).where(Invitation.id == ids["p39"]).values(opted_out=True))
    db.session.execute(
        insert(Response),
        [
            {"wave_id": wave.id, "questionnaire_version_id": version.id, "submitted_on": day, "answers": {}}
            for day, count in PER_DAY.items()
            for _ in range(count)
        ],
    )
    db.session.commit()
    return wave.id


@pytest.fixture
def example(app: Flask) -> int:
    with app.app_context():
        return build_example()


def rows_of(table: monitoring.GroupTable) -> dict[str | None, tuple[int | None, int | None, str, str, bool]]:
    return {
        row.value: (
            row.invited,
            row.submitted,
            "-" if row.rate is None else f"{100 * row.rate:.1f}",
            "-" if row.difference is None else f"{100 * row.difference:+.1f}",
            row.lagging,
        )
        for row in table.rows
        if row.shown
    }


def test_numbers_match_the_hand_computed_example(app: Flask, example: int) -> None:
    with app.app_context():
        wave = db.session.get(Wave, example)
        assert wave is not None
        monitor = monitoring.monitor_wave(wave)
    overall = monitor.overall
    assert (overall.invited, overall.started, overall.submitted, overall.opted_out) == (40, 22, 20, 1)
    assert overall.rate == 0.5 and overall.started_rate == 0.55
    tables = {table.column: table for table in monitor.groups}
    assert list(tables) == ["status", "contract", "niveau", "entiteit"]  # the usual order

    entiteit_table = tables["entiteit"]
    assert rows_of(entiteit_table) == {
        "A": (15, 10, "66.7", "+16.7", False),
        "B": (11, 4, "36.4", "-13.6", False),
    }
    hidden = {row.value: row.hidden for row in entiteit_table.rows if not row.shown}
    assert hidden == {"D": "primary", "C": "complementary"}
    assert entiteit_table.hidden_count == 2 and entiteit_table.complementary
    assert all(
        row.invited is None and row.submitted is None and row.rate is None
        for row in entiteit_table.rows
        if not row.shown
    )
    b_row = next(row for row in entiteit_table.rows if row.value == "B")
    assert b_row.p_value == pytest.approx(0.28809, abs=1e-5)  # 5+ points behind, but not significant

    assert rows_of(tables["niveau"]) == {
        "A": (20, 16, "80.0", "+30.0", False),
        "B": (20, 4, "20.0", "-30.0", True),
    }
    assert next(r for r in tables["niveau"].rows if r.value == "B").p_value == pytest.approx(
        0.00014780, rel=1e-4
    )
    assert tables["niveau"].hidden_count == 0

    assert rows_of(tables["status"]) == {}
    assert {row.value: row.hidden for row in tables["status"].rows} == {
        "gepensioneerd": "primary",
        "actief": "complementary",
    }

    assert rows_of(tables["contract"]) == {
        "statutair": (30, 18, "60.0", "+10.0", False),
        None: (10, 2, "20.0", "-30.0", True),
    }
    assert next(r for r in tables["contract"].rows if r.value is None).p_value == pytest.approx(
        0.028460, rel=1e-4
    )

    assert [(d.day, d.submitted, d.cumulative, d.cumulative_rate) for d in monitor.daily] == [
        (date(2026, 3, 1), 0, 0, 0.0),
        (date(2026, 3, 2), 8, 8, 0.2),
        (date(2026, 3, 3), 0, 8, 0.2),
        (date(2026, 3, 4), 7, 15, 0.375),
        (date(2026, 3, 5), 5, 20, 0.5),
    ]
    assert monitor.responses == 20


def test_counts_equal_a_group_by_per_column(app: Flask, example: int) -> None:
    """The one-pass combination count gives what GROUP BY groups[col].as_string() gives per column."""
    with app.app_context():
        by_column = monitoring.counts_by_column(monitoring.group_combinations(example))
        for column in ("entiteit", "niveau", "status", "contract"):
            value = RegisterPerson.groups[column].as_string()
            rows = db.session.execute(
                select(value, func.count(), func.sum(case((Invitation.submitted.is_(True), 1), else_=0)))
                .select_from(Invitation)
                .join(RegisterPerson, RegisterPerson.id == Invitation.person_id)
                .where(Invitation.wave_id == example)
                .group_by(value)
            ).all()
            assert sorted(by_column[column], key=str) == sorted(
                ((v, int(n), int(s)) for v, n, s in rows), key=str
            )


def test_two_proportion_test_and_edge_cases() -> None:
    # 4/20 against 16/20: pooled 0.5, SE sqrt(0.25 * (1/20 + 1/20)) = 0.1581, z = -3.795.
    assert monitoring.two_proportion_p(4, 20, 16, 20) == pytest.approx(math.erfc(3.7947331922 / math.sqrt(2)))
    assert monitoring.two_proportion_p(5, 10, 0, 0) is None  # no rest to compare with
    assert monitoring.two_proportion_p(0, 10, 0, 30) is None  # nobody answered yet: no variance
    overall = monitoring.Overall(invited=0, started=0, submitted=0, opted_out=0)
    assert overall.rate is None and monitoring.group_tables(overall, {}, 10) == []
    # Two hidden groups that together are still fewer than the threshold take a third along.
    overall = monitoring.Overall(invited=60, started=0, submitted=30, opted_out=0)
    tables = monitoring.group_tables(
        overall, {"x": [("a", 2, 1), ("b", 3, 1), ("c", 25, 13), ("d", 30, 15)]}, 10
    )
    assert {row.value: row.hidden for row in tables[0].rows} == {
        "a": "primary",
        "b": "primary",
        "c": "complementary",
        "d": None,
    }
    assert monitoring.order_columns({"b", "status", "a", "entiteit"}) == ["status", "entiteit", "a", "b"]
    assert monitoring.order_columns({"b", "a"}, {"groups": ["b", "zz"]}) == ["b", "a"]
    mapping = {"groups": [{"column": "Niveau", "key": "niveau"}, {"column": "Entiteit", "key": "entiteit"}]}
    assert monitoring.order_columns({"status", "entiteit", "niveau"}, mapping) == [
        "niveau",
        "entiteit",
        "status",
    ]


def test_wave_page_shows_tables_hidden_groups_lags_and_the_chart_alternative(
    app: Flask, example: int
) -> None:
    make_users(app)
    client = app.test_client()
    login(client, "viewer")
    client.get("/planner/?lang=en")
    for url in ("/planner/waves/voorbeeld-2026", "/planner/waves/voorbeeld-2026/monitor"):
        page = client.get(url)
        assert page.status_code == 200
        text = page.text
        assert '<td class="num" data-monitor="invited">40</td>' in text
        assert '<td class="num" data-monitor="submitted">20</td>' in text
        assert '<td class="num" data-monitor="rate">50.0%</td>' in text
        assert '<td class="num" data-monitor="started">22 (55.0%)</td>' in text

        niveau = re.search(r'<table class="monitor-groups" id="groups-niveau">(.*?)</table>', text, re.S)
        assert niveau is not None
        lagging_rows = re.findall(
            r'<tr class="flag-low">\s*<th scope="row">(.*?)</th>(.*?)</tr>', niveau.group(1), re.S
        )
        assert [name for name, _ in lagging_rows] == ["B"]
        assert (
            "lagging" in lagging_rows[0][1]
            and "−30.0" in lagging_rows[0][1]
            and "20.0%" in lagging_rows[0][1]
        )

        entiteit = re.search(r'id="groups-entiteit">(.*?)</table>', text, re.S)
        assert entiteit is not None
        names = re.findall(r'<th scope="row">(.*?)</th>', entiteit.group(1))
        assert names == ["A", "B"]  # C and D hidden
        footnote = " ".join(entiteit.group(1).split())
        assert "1 group with fewer than 10 invited is not shown." in footnote
        assert "1 larger group is not shown either, so that the small ones cannot be worked out" in footnote
        assert "flag-low" not in entiteit.group(1)

        status = re.search(r'id="groups-status">(.*?)</table>', text, re.S)
        assert status is not None and "actief" not in status.group(1)
        assert "No group of this column can be shown." in status.group(1)
        assert "1 group with fewer than 10 invited is not shown." in status.group(1)

        contract = re.search(r'id="groups-contract">(.*?)</table>', text, re.S)
        assert (
            contract is not None
            and "(no value)" in contract.group(1)
            and 'class="flag-low"' in contract.group(1)
        )

        assert 'src="/planner/waves/voorbeeld-2026/monitor/daily.png"' in text
        assert "The same numbers are in the table below." in text  # the image's alt text
        daily = re.search(r'<table id="daily-table">(.*?)</table>', text, re.S)
        assert daily is not None
        cells = re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", daily.group(1))
        assert cells[-8:] == ["Mar 4, 2026", "7", "15", "37.5%", "Mar 5, 2026", "5", "20", "50.0%"]


def test_daily_chart_is_a_cached_png(app: Flask, example: int) -> None:
    make_users(app)
    client = app.test_client()
    login(client, "viewer")
    chart = client.get("/planner/waves/voorbeeld-2026/monitor/daily.png")
    assert chart.status_code == 200 and chart.mimetype == "image/png"
    assert chart.data.startswith(PNG_SIGNATURE) and len(chart.data) > 1000
    assert "max-age=60" in chart.headers["Cache-Control"] and "private" in chart.headers["Cache-Control"]
    etag = chart.headers["ETag"]
    again = client.get("/planner/waves/voorbeeld-2026/monitor/daily.png", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data
    with app.app_context():  # a new response changes the chart and its ETag
        wave = db.session.get(Wave, example)
        assert wave is not None
        db.session.add(
            Response(
                wave_id=example,
                questionnaire_version_id=wave.questionnaire_version_id,
                submitted_on=date(2026, 3, 6),
            )
        )
        db.session.commit()
    changed = client.get("/planner/waves/voorbeeld-2026/monitor/daily.png", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.data.startswith(PNG_SIGNATURE)


def test_empty_wave_monitoring(app: Flask) -> None:
    with app.app_context():
        version, _ = store_file(MINI)
        create_wave(version, slug="leeg-2026", title="Leeg")
        db.session.commit()
    make_users(app)
    client = app.test_client()
    login(client, "viewer")
    client.get("/planner/?lang=en")
    page = client.get("/planner/waves/leeg-2026")
    assert (
        page.status_code == 200
        and "Nobody has been invited yet." in page.text
        and "No responses yet." in page.text
    )
    chart = client.get("/planner/waves/leeg-2026/monitor/daily.png")
    assert chart.status_code == 200 and chart.data.startswith(PNG_SIGNATURE)


def test_cli_status_prints_the_same_numbers(app: Flask, example: int) -> None:
    from surveyapp.commands.wave import command

    with app.app_context():
        result = CliRunner().invoke(command, ["status", "voorbeeld-2026"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Voorbeeld (voorbeeld-2026) - open"
    assert lines[2].split() == ["invited", "started", "submitted", "rate", "opted", "out"]
    assert lines[4].split() == ["40", "22", "20", "50.0%", "1"]

    def section(name: str) -> list[str]:
        start = lines.index(f"{name}:")
        end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
        return lines[start + 1 : end]

    niveau = section("niveau")
    assert [line.split() for line in niveau[2:]] == [
        ["A", "20", "16", "80.0%", "+30.0"],
        ["B", "20", "4", "20.0%", "-30.0", "<<", "lagging"],
    ]
    # Aligned: every number column ends at the same place as its header.
    header, *rows = [niveau[0], *niveau[2:]]
    assert {line.index("rate") + 4 for line in [header]} == {row.index("%") + 1 for row in rows}
    entiteit = section("entiteit")
    assert [line.split()[:5] for line in entiteit[2:4]] == [
        ["A", "15", "10", "66.7%", "+16.7"],
        ["B", "11", "4", "36.4%", "-13.6"],
    ]
    assert entiteit[4:] == [
        "* not shown: 1 group(s) with fewer than 10 invited",
        "* not shown either: 1 larger group(s), so that the small ones cannot be worked out from the total",
    ]
    # Columns the questionnaire asks about are named by its question (English by default).
    assert section("What is your situation")[2:] == [
        "(no group of this column can be shown)",
        "* not shown: 1 group(s) with fewer than 10 invited",
        "* not shown either: 1 larger group(s), so that the small ones cannot be worked out from the total",
    ]
    assert ["(no", "value)", "10", "2", "20.0%", "-30.0", "<<", "lagging"] in [
        line.split() for line in section("What contract do you have")
    ]
    per_day = section("responses per day")
    assert per_day[-1].split() == ["2026-03-05", "5", "20", "50.0%"]
    assert per_day[-2].split() == ["2026-03-04", "7", "15", "37.5%"]


@pytest.mark.slow
def test_monitoring_45000_invitations_is_fast(app: Flask) -> None:
    """Five register columns, 45,000 invitations: the whole picture in well under a second."""
    rng = random.Random(7)
    with app.app_context():
        version, _ = store_file(MINI)
        wave = create_wave(version, slug="groot-2026", title="Groot", opens_on=date(2026, 3, 1))
        add_register(
            wave,
            (
                RegisterRow(
                    f"p{i}",
                    None,
                    "nl",
                    {
                        "status": rng.choice(["actief", "gepensioneerd"]),
                        "leeftijd": rng.choice(["<30", "30-39", "40-49", "50-59", "60+"]),
                        "contract": rng.choice(["statutair", "contractueel"]),
                        "niveau": rng.choice("ABCD"),
                        "entiteit": f"entiteit-{rng.randrange(60):02d}",
                    },
                )
                for i in range(45_000)
            ),
        )
        set_state(wave, "open")
        create_invitations(wave)
        db.session.execute(update(Invitation).where(Invitation.id % 3 == 0).values(submitted=True))
        db.session.execute(
            insert(Response),
            [
                {
                    "wave_id": wave.id,
                    "questionnaire_version_id": version.id,
                    "submitted_on": date(2026, 3, 1) + timedelta(days=i % 20),
                    "answers": {},
                }
                for i in range(15_000)
            ],
        )
        db.session.commit()
        timings = []
        for _ in range(3):
            db.session.expire_all()
            started = time.perf_counter()
            monitor = monitoring.monitor_wave(wave)
            timings.append(time.perf_counter() - started)
    assert monitor.overall.invited == 45_000 and monitor.overall.submitted == 15_000
    assert [table.column for table in monitor.groups] == [
        "status",
        "leeftijd",
        "contract",
        "niveau",
        "entiteit",
    ]
    assert sum(row.invited or 0 for row in monitor.groups[-1].rows) == 45_000
    assert len(monitor.daily) == 20
    print(f"monitoring 45,000 invitations: best of 3 {min(timings):.3f} s")
    assert min(timings) < 1.0
