"""Reading the planner-edited YAML files (questionnaires, plans) one way.

PyYAML follows YAML 1.1, where `30_39` is the number 3039, `010` is 8 and `no`/`on` are booleans;
in files planners write, those are codes, and silently changing them is a trap. These files are
read with the YAML 1.2 core schema's scalars instead, and identified by a hash of their content.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

import yaml

_BOOL_TAG, _INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


class PlannerYamlLoader(yaml.SafeLoader):
    """A SafeLoader with YAML 1.2 core scalars: codes stay what the planner typed."""


PlannerYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in {_BOOL_TAG, _INT_TAG, _FLOAT_TAG}]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
PlannerYamlLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
# No leading zeros: `010` stays the text code "010" (as a postal or entity code would).
PlannerYamlLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
PlannerYamlLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(r"^[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+.0123456789"),
)


def _int_without_octal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    return int(str(loader.construct_scalar(node)), 10)


PlannerYamlLoader.add_constructor(_INT_TAG, _int_without_octal)


class FileProblemsError(ValueError):
    """A planner file with problems; ``problems`` lists them all, each printable."""

    def __init__(self, source: str, problems: Sequence[object]) -> None:
        self.source = source
        self.problems: list[Any] = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{lines}")


class YamlSyntaxError(ValueError):
    """Text that is not valid YAML: ``where`` is "line L, column C" (or "file")."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")


def read_yaml(text: str) -> Any:
    """Parse planner YAML (1.2 scalars); a syntax error says where it is."""
    try:
        return yaml.load(text, Loader=PlannerYamlLoader)  # noqa: S506 - a SafeLoader subclass  # nosec B506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlSyntaxError(where, f"not valid YAML: {problem}") from exc


def content_hash(data: Any) -> str:
    """A stable hash of the content: formatting and comments in the file do not count."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
