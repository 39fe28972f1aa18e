#!/bin/sh
# A service manager for the real agent, used as the sidecar's --restart-command: stops the agent
# it started last (its process group: SIGTERM, SIGKILL after 10 s) and starts it again, detached
# in a session of its own, with the flags file's argv (one argument a line); its pid goes to
# PIDFILE, its output to LOG.
#   agent-service.sh AGENT FLAGS_FILE PIDFILE LOG
set -eu
agent=$1 flags=$2 pidfile=$3 log=$4
if [ -s "$pidfile" ]; then
  pid=$(cat "$pidfile")
  kill -TERM "-$pid" 2>/dev/null || true
  tries=0
  while kill -0 "-$pid" 2>/dev/null && [ "$tries" -lt 200 ]; do
    sleep 0.05
    tries=$((tries + 1))
  done
  kill -KILL "-$pid" 2>/dev/null || true
fi
set --
while IFS= read -r line; do set -- "$@" "$line"; done <"$flags"
setsid "$agent" "$@" >>"$log" 2>&1 </dev/null &
echo $! >"$pidfile"
