"""docs/configuration.md against the worker's code, both ways."""

from __future__ import annotations

import re
from pathlib import Path

from inference_server.config import build_parser
from inference_server.config_doc import ENV_IN_HELP, markdown
from inference_server.tests.procs import REPO_ROOT

DOC = REPO_ROOT / "docs" / "configuration.md"


def _section(marker: str) -> str:
    doc = DOC.read_text()
    begin, end = f"<!-- BEGIN {marker} (make docs-config) -->\n", f"<!-- END {marker} -->"
    assert begin in doc and end in doc, f"{DOC}: no {marker} section"
    return doc[doc.index(begin) + len(begin):doc.index(end)]


def test_the_doc_has_exactly_the_parsers_flags_and_variables() -> None:
    assert _section("worker") == markdown(), f"{DOC} differs from the worker: run make docs-config"


def test_every_flag_names_its_variable_and_the_variable_sets_it() -> None:
    parser = build_parser({})
    names = []
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        match = ENV_IN_HELP.search(action.help or "")
        assert match, f"{action.option_strings[0]}: help does not end with (env NAME)"
        names.append(match.group(1))
        probe = "3" if isinstance(action.default, (int, float)) else "probe"
        default = getattr(build_parser({match.group(1): probe}).parse_args([]), action.dest)
        assert str(default) in (probe, "3.0"), f"{match.group(1)} does not set {action.dest}"
    assert len(names) == len(set(names)) > 25


def test_every_variable_the_code_reads_is_in_the_doc() -> None:
    doc = DOC.read_text()
    read = re.compile(r'(?:env\.get|environ\.get|getenv|env_value)\((?:[\w.]+, )?"([A-Z][A-Z0-9_]*)"')
    found = 0
    for path in (REPO_ROOT / "inference_server").rglob("*.py"):
        if "tests" in path.parts:
            continue
        for name in read.findall(path.read_text()):
            found += 1
            # HOME is the platform's; PATH_INFO a WSGI request's (ops/metrics.py).
            assert f"`{name}`" in doc or name in ("HOME", "PATH_INFO"), \
                f"{path} reads {name}, not in {DOC}"
    assert found > 5
