#!/usr/bin/env bash
# check-compose.sh — validates docker-compose.yml with docker-compose (no
# engine needed), with an empty environment and no .env, and checks the
# topology it describes: the one-shot nats-keys (`hub keys`: role nkeys and the
# server's auth file into a volume), NATS with its config (JetStream, the
# users of nats-keys), the hub and two worker replicas pointed at it with their
# seeds and healthchecks, no monitoring port published, 4222 on localhost only.
# Then every NATS configuration of deploy/ must pass `nats-server -t`, with
# throwaway certificates and nkeys made here (nothing private is committed).
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "compose check FAILED: $*" >&2; exit 1; }
NATS_SERVER=${NATS_SERVER_BIN:-.bin/nats-server}
NATS_CLI=${NATS_CLI_BIN:-.bin/nats}
HUB=${HUB_BIN:-.bin/hub}
[ -x "$HUB" ] || fail "the hub binary not found (make deps builds it)"
[ -x "$NATS_SERVER" ] || fail "nats-server not found (make test-deps installs it)"
[ -x "$NATS_CLI" ] || fail "the nats CLI not found (make tools installs it)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/empty.env"

# A fresh checkout: no .env, nothing in the environment, and compose takes it.
[ -e .env ] && echo "compose check: note: an .env exists here; checking with an empty one" >&2
out=$(env -i PATH="$PATH" docker-compose -f docker-compose.yml --env-file "$tmp/empty.env" config) ||
  fail "docker-compose.yml does not validate with an empty environment"
for svc in nats-keys nats hub worker; do
  grep -qE "^  $svc:$" <<<"$out" || fail "no service $svc"
done
section() { awk -v s="  $1:" '$0==s{p=1;next} /^  [a-z]/{p=0} p' <<<"$out"; }
keys=$(section nats-keys)
grep -qE -- "- keys$" <<<"$keys" || fail "nats-keys does not run \`hub keys\`"
grep -q 'target: /keys\|:/keys' <<<"$keys" || fail "nats-keys writes no volume at /keys"
grep -q 'service_completed_successfully' <<<"$(section nats)" || fail "nats does not wait for nats-keys"
grep -q 'NATS_NKEY: /keys/hub.nk' <<<"$(section hub)" || fail "the hub does not log in with its seed"
grep -q 'NATS_NKEY: /keys/worker.nk' <<<"$(section worker)" || fail "the workers do not log in with their seed"
grep -qE 'PASSWORD' <<<"$out" && fail "a password is still asked for"
for svc in hub worker; do
  grep -q 'healthcheck:' <<<"$(section $svc)" || fail "$svc has no healthcheck"
done
grep -q '/healthz' <<<"$(section worker)" || fail "the worker's healthcheck is not its /healthz"
# The hub's metrics on a port of their own, on the compose network only.
hub=$(section hub)
grep -qE 'HUB_METRICS_ADDR: 0\.0\.0\.0:9090$' <<<"$hub" || fail "the hub serves no metrics on :9090 (HUB_METRICS_ADDR)"
hub_ports=$(awk '/^    ports:/{p=1;next} /^    [a-z]/{p=0} p' <<<"$hub")
grep -q '9090' <<<"$hub_ports" && fail "the hub's metrics port is published"
nats=$(awk '/^  nats:/{n=1;next} /^  [a-z]/{n=0} n' <<<"$out")
grep -q -- '/etc/nats/nats.conf' <<<"$nats" || fail "nats does not run with deploy/nats/nats.conf"
grep -qE '(/deploy/nats:/etc/nats|target: /etc/nats$)' <<<"$nats" || fail "deploy/nats is not mounted into the nats container"
nats_ports=$(awk '/^    ports:/{p=1;next} /^    [a-z]/{p=0} p' <<<"$nats")
grep -q '8222' <<<"$nats_ports" && fail "the NATS monitoring port is published"
grep -qE '(127\.0\.0\.1:4222:4222|host_ip: 127\.0\.0\.1)' <<<"$nats_ports" || fail "NATS 4222 is not bound to 127.0.0.1 by default"
grep -q 'NATS_URL: nats://nats:4222' <<<"$out" || fail "hub/worker not pointed at nats"
grep -qE '^ +replicas: 2$' <<<"$out" || fail "worker replicas are not 2"
for f in cmd/hub/Dockerfile inference_server/Dockerfile; do
  [ -f "$f" ] || fail "$f missing"
done
grep -qE '^FROM node:(22|24)' cmd/hub/Dockerfile || fail "the page is not built on a supported Node (22 or 24)"
grep -qxF 'RUN pip install -r inference_server/requirements-runtime.txt' inference_server/Dockerfile || fail "the runtime worker image does not install requirements-runtime.txt alone"
grep -qE '^FROM runtime AS keras' inference_server/Dockerfile || fail "no keras worker image beside runtime"
grep -q 'mkdir -p /cache /home/worker/.keras' inference_server/Dockerfile || fail "the worker image does not make its volumes' folders"
grep -qE '^ +- models:/models:ro$|source: models$' <<<"$(section worker)" || fail "/models is not the named volume models by default"
tls=$(env -i PATH="$PATH" docker-compose -f docker-compose.yml -f docker-compose.tls.yml --env-file "$tmp/empty.env" config) ||
  fail "docker-compose.tls.yml does not validate as an override"
grep -q 'HUB_TLS_CERT: /tls/fullchain.pem' <<<"$tls" || fail "docker-compose.tls.yml does not give the hub a certificate"
grep -q 'https://127.0.0.1:8080/healthz' <<<"$tls" || fail "docker-compose.tls.yml does not probe over https"
# Scaling the workers is a command-line matter: the file must not pin names or ports on them.
worker=$(awk '/^  worker:/{w=1;next} /^  [a-z]/{w=0} w' <<<"$out")
grep -qE 'container_name|ports:' <<<"$worker" && fail "worker pins a container name or port (breaks --scale)"
# The worker image holds runtime code only: its build context is the repository root,
# whose .dockerignore keeps the tests and the benchmarks out of every image.
grep -qxF "      context: $PWD" <<<"$worker" || fail "the worker's build context is not the repository root (.dockerignore would not apply)"
for p in inference_server/tests bench e2e; do
  grep -qxF "$p" .dockerignore || fail ".dockerignore does not keep $p out of the images"
done
# Captured first: `grep -q` closing the pipe early would fail the pipeline under pipefail.
opened=$(env -i PATH="$PATH" NATS_PUBLISH_ADDR=0.0.0.0 docker-compose -f docker-compose.yml --env-file "$tmp/empty.env" config)
grep -qE '(0\.0\.0\.0:4222:4222|host_ip: 0\.0\.0\.0)' <<<"$opened" || fail "NATS_PUBLISH_ADDR does not open 4222"
# Your own seeds override the volume.
mine=$(env -i PATH="$PATH" NATS_KEYS_DIR=./my-keys docker-compose -f docker-compose.yml --env-file "$tmp/empty.env" config)
grep -qE '(my-keys:/keys|source: .*my-keys)' <<<"$mine" || fail "NATS_KEYS_DIR does not replace the keys volume"
echo "1 passed, 0 failed: docker-compose.yml with an empty environment (nats-keys makes the role nkeys, nats with them and JetStream, hub with its metrics unpublished, 2 worker replicas with healthchecks, 4222 on localhost, no monitoring port)"

# The "observability" profile: off by default, and when asked for, Prometheus
# (scraping the hub's metrics port and every worker), Jaeger with OTLP, Grafana with the dashboard.
for svc in prometheus jaeger grafana; do
  service=$(awk -v s="  $svc:" '$0==s{p=1;next} /^  [a-z]/{p=0} p' <<<"$out")
  grep -qE '^    - observability$' <<<"$service" || fail "$svc is not only in the profile observability"
done
obs=$(env -i PATH="$PATH" docker-compose -f docker-compose.yml --env-file "$tmp/empty.env" --profile observability config)
for svc in nats-keys nats hub worker prometheus jaeger grafana; do
  grep -qE "^  $svc:$" <<<"$obs" || fail "no service $svc in the observability profile"
done
grep -qE 'image: jaegertracing/jaeger:2\.' <<<"$obs" || fail "jaeger is not Jaeger v2 (v1's all-in-one is end of life)"
grep -q 'WORKER_METRICS_ADDR' <<<"$obs" || fail "workers serve no metrics"
# The mounted files exist, and everything the Prometheus config and the
# dashboard name is in the metric catalog (docs/metrics.md).
"${PYTHON_BIN:-.venv/bin/python}" - <<'PY' || fail "observability files (see above)"
import json, re, sys
import yaml
prom = yaml.safe_load(open("deploy/prometheus/prometheus.yml"))
jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
assert set(jobs) == {"hub", "worker"}, f"scrape jobs {sorted(jobs)}"
# The hub's metrics port, not its public one (which answers 404 for /metrics).
assert jobs["hub"]["static_configs"][0]["targets"] == ["hub:9090"], jobs["hub"]
assert jobs["worker"]["dns_sd_configs"][0]["port"] == 9101
dash = json.load(open("deploy/grafana/dashboards/webcamhub.json"))
catalog = set(re.findall(r"^\| `((?:hub|worker)_[a-z_]+)` \|", open("docs/metrics.md").read(), re.M))
used = set()
for panel in dash["panels"]:
    for target in panel["targets"]:
        used |= set(re.findall(r"\b((?:hub|worker)_[a-z_]+)", target["expr"]))
used = {re.sub(r"_(bucket|sum|count)$", "", m) for m in used}
missing = used - catalog
assert not missing, f"dashboard uses metrics not in docs/metrics.md: {sorted(missing)}"
assert len(dash["panels"]) >= 5
# Any Prometheus, any scrape job name: a datasource variable, no job= matchers
# (compose's jobs are hub and worker, the chart's ServiceMonitors' others).
assert any(v.get("type") == "datasource" for v in dash.get("templating", {}).get("list", [])), "the dashboard has no datasource variable"
for panel in dash["panels"]:
    assert panel.get("datasource", {}).get("uid") == "${datasource}", f"panel {panel['title']!r} is not on the datasource variable"
    for target in panel["targets"]:
        assert "job=" not in target["expr"].replace(" ", ""), f"panel {panel['title']!r} assumes a job name: {target['expr']}"
assert {"worker_frames_held", "worker_frames_capacity", "hub_workers"} <= used, "the dashboard does not show the scaling signal and the workers answering"
for f in ("deploy/grafana/provisioning/datasources/prometheus.yml",
          "deploy/grafana/provisioning/dashboards/webcamhub.yml"):
    yaml.safe_load(open(f))
print(f"1 passed, 0 failed: observability profile ({len(used)} catalogued metrics on {len(dash['panels'])} panels)")
PY

# compose's server: deploy/nats/nats.conf beside what `hub keys` makes, as
# the containers see them (/etc/nats, /etc/nats-keys).
mkdir -p "$tmp/etc/nats"
cp deploy/nats/*.conf "$tmp/etc/nats/"
# Anonymous access must not validate into an open server: without the keys the file is refused.
"$NATS_SERVER" -t -c "$tmp/etc/nats/nats.conf" >/dev/null 2>&1 && fail "deploy/nats/nats.conf starts without the keys of nats-keys"
"$HUB" keys -dir "$tmp/etc/nats-keys" 2>/dev/null || fail "hub keys failed"
"$NATS_SERVER" -t -c "$tmp/etc/nats/nats.conf" >"$tmp/t.out" 2>&1 || { cat "$tmp/t.out" >&2; fail "deploy/nats/nats.conf with the keys of \`hub keys\` is not a valid nats-server configuration"; }
echo "1 passed, 0 failed: deploy/nats/nats.conf with the keys of \`hub keys\` is a valid nats-server configuration (refused without them)"

# The cluster example of docs/scaling.md: example CA, node certificate (server
# and client use, for TLS routes) and role nkeys, all made here.
scripts/node-certs.sh "$tmp" 1 "DNS:nats-1,DNS:nats-2,DNS:nats-3" "example webcam CA" nats-1
export NATS_TLS_CERT="$tmp/node.pem" NATS_TLS_KEY="$tmp/node-key.pem" NATS_TLS_CA="$tmp/ca.pem"
for role in hub worker cli; do
  "$NATS_CLI" auth nkey gen user --output="$tmp/$role.nk" >/dev/null
  export "NATS_${role^^}_NKEY=$("$NATS_CLI" auth nkey show "$tmp/$role.nk")"
done
for f in deploy/nats-cluster/*.conf; do
  "$NATS_SERVER" -t -c "$f" >"$tmp/t.out" 2>&1 || { cat "$tmp/t.out" >&2; fail "$f is not a valid nats-server configuration"; }
  for want in 'tls {' 'verify: true' 'include ../nats/permissions.conf' 'nkey: $NATS_HUB_NKEY'; do
    grep -qF "$want" "$f" || fail "$f lacks $want"
  done
  grep -qE '^http: 127\.0\.0\.1:' "$f" || fail "$f serves monitoring beyond localhost"
done
echo "1 passed, 0 failed: deploy/nats-cluster/*.conf are valid nats-server configurations (client TLS, nkey users with role permissions, mutual-TLS routes)"
