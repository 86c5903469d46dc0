"""The analysis and questionnaire packages are plain libraries: no Flask, no database."""

from __future__ import annotations

import subprocess
import sys


def test_analysis_imports_without_flask_or_sqlalchemy() -> None:
    code = (
        "import sys, surveyapp.analysis, surveyapp.analysis.tidy, surveyapp.analysis.sdc,"
        " surveyapp.questionnaire;"
        "bad = sorted(m for m in ('flask', 'sqlalchemy', 'flask_sqlalchemy', 'psycopg') if m in sys.modules);"
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
