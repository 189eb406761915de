# processes.sh — sourced by run-local.sh and fleet.sh: their processes out of
# reach of a terminal's Ctrl-C, and stopped in order.
#
# A terminal's Ctrl-C signals its whole foreground process group: were the hub
# in it, it would stop (and an embedded NATS with it) while the workers still
# drain, and their answers and goodbyes fail. So each process runs in a session
# of its own (setsid: Ctrl-C and a closing terminal reach the script alone) and
# the script stops them, group after group.

# detached COMMAND…: runs COMMAND in a session of its own (where setsid exists),
# in the foreground: start it with `detached COMMAND… &`; $! is its pid (setsid
# execs it: a background child of a script never leads a process group).
detached() {
  if command -v setsid >/dev/null; then
    exec setsid "$@"
  fi
  exec "$@"
}

# stop_group PID…: SIGTERM to each, then waits for every one of them (each
# bounds its own shutdown: the worker's drain, the hub's -shutdown-timeout).
stop_group() {
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  local pid
  for pid; do wait "$pid" 2>/dev/null || true; done
}
