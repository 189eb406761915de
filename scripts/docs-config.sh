#!/usr/bin/env bash
# Writes the generated tables of docs/configuration.md (make docs-config): the
# hub's flags and variables from its flag set (`hub config-doc`), the worker's
# from its parser (`python -m inference_server.config_doc`). Each goes between
# its BEGIN/END markers; the rest of the file is hand-written and kept.
# TestConfigDoc (hub/) and test_config_doc.py check the doc against the code.
set -euo pipefail
cd "$(dirname "$0")/.."
doc=docs/configuration.md
: "${WORKER_PYTHON:=.venv/bin/python}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go run ./cmd/hub config-doc >"$tmp/hub.md"
"$WORKER_PYTHON" -m inference_server.config_doc >"$tmp/worker.md"

splice() { # marker table
  awk -v m="$1" -v f="$2" '
    $0 == "<!-- BEGIN " m " (make docs-config) -->" { print; while ((getline line < f) > 0) print line; skip = 1; next }
    $0 == "<!-- END " m " -->" { skip = 0 }
    !skip { print }' "$doc" >"$tmp/doc.md"
  cp "$tmp/doc.md" "$doc"
}
splice hub "$tmp/hub.md"
splice worker "$tmp/worker.md"
echo "docs-config: $doc written" >&2
