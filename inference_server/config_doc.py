"""The worker's part of docs/configuration.md, from the parser itself.

`python -m inference_server.config_doc` prints it; `make docs-config` writes it into
the doc; tests/test_config_doc.py checks the doc has it.
"""

from __future__ import annotations

import argparse
import re

from .config import build_parser
from .config_aliases import DEPRECATED_NAMES

# "... (env WORKER_MODEL)" at the end of a flag's help names its variable.
ENV_IN_HELP = re.compile(r"\s*\(env ([A-Z][A-Z0-9_]*)\)$")

# Variables the worker reads that no flag stands for.
ENV_ONLY = (
    ("WORKER_TORCH_CUDA_MODE", "the torch-cuda runtime's execution: `graphs` (default), "
     "`eager`, or a `torch.compile` mode"),
    ("SHARED_TESTDATA", "without `--models-dir`, `$SHARED_TESTDATA/models` is looked in "
     "after `models`"),
    ("XDG_CACHE_HOME", "without `--model-cache-dir`, the cache is `$XDG_CACHE_HOME/webcamhub` "
     "(else `~/.cache/webcamhub`)"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTLP collector (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): "
     "set, the worker exports spans; unset, tracing is off"),
    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "the collector's traces URL"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "`http/protobuf` (default) or `grpc` "
     "(`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` for traces only)"),
    ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "the protocol of traces only"),
    ("OTEL_TRACES_EXPORTER", "`otlp` turns tracing on; `none` turns it off"),
    ("OTEL_SDK_DISABLED", "`true`: no tracing, whatever else is set"),
)


def _cell(text: str) -> str:
    return " ".join(text.replace("%%", "%").replace("|", "\\|").split())


def _default(value: object) -> str:
    return "(empty)" if value in (None, "") else f"`{value}`"


def markdown() -> str:
    """The table of flags and variables, then the deprecated names."""
    parser = build_parser({})
    rows = ["| Flag | Environment variable | Default | What it sets |", "|---|---|---|---|"]
    for action in parser._actions:  # argparse keeps them in the order they were added
        if isinstance(action, argparse._HelpAction):
            continue
        help_text = action.help or ""
        env = ""
        match = ENV_IN_HELP.search(help_text)
        if match:
            env, help_text = f"`{match.group(1)}`", help_text[:match.start()]
        rows.append(f"| `{action.option_strings[0]}` | {env} | {_default(action.default)} "
                    f"| {_cell(help_text)} |")
    rows += [f"| | `{name}` | | {what} |" for name, what in ENV_ONLY]
    rows += ["", "Deprecated names (they still work in this release, with a warning; the "
             "`WORKER_` name wins where both are set):", "",
             "| Deprecated | Use |", "|---|---|"]
    rows += [f"| `{old}` | `{new}` |" for new, old in DEPRECATED_NAMES.items()]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
