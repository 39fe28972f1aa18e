#!/usr/bin/env bash
# The do-it-yourself loop the bench compares the sidecar with, as users write it today:
# inotifywait reports each finished write or rename in the relation file's directory; the loop
# reads the address from the file, kills the agent and starts it again. No check, no quiet period.
# usage: inotify-loop.sh RELATION_FILE AGENT
set -u
relation=$1
agent=$2
name=$(basename "$relation")
pid=

restart() {
  local address
  address=$(sed -n 's/.*"remote-store-address": *"\([^"]*\)".*/\1/p' "$relation")
  [ -n "$address" ] || return 0
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  "$agent" "--remote-store-address=$address" --remote-store-insecure=true &
  pid=$!
}

# Events on stdout; "Setting up watches." and "Watches established." come first, on stderr.
exec 3< <(exec inotifywait -m -e close_write,moved_to --format '%f' "$(dirname "$relation")" 2>&1)
read -r _ <&3
read -r _ <&3
restart
while read -r file <&3; do
  if [ "$file" = "$name" ]; then restart; fi
done
