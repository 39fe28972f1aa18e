#!/usr/bin/env bash
# The do-it-yourself loop the bench compares the sidecar with, as users write it today:
# inotifywait reports each finished write or rename in the relation file's directory; the loop
# reads the store's three values from the file with grep and cut, kills the agent and starts it
# again with them. No check, and no quiet period unless QUIET_MS is given.
# usage: inotify-loop.sh RELATION_FILE AGENT [grep|bash] [QUIET_MS]
# `bash`: read the values with bash's own regex instead of grep and cut, with no process started
# (leaner than what users usually write; for reference). QUIET_MS: after an event, wait until
# no event came for that long before restarting (the sidecar's --debounce-ms, like for like).
set -u
relation=$1
agent=$2
reader=${3:-grep}
quiet_ms=${4:-0}
quiet=$(printf '0.%03d' "$quiet_ms")
name=$(basename "$relation")
pid=

# The three values of the flat JSON bag into address, insecure and token.
read_values() {
  if [ "$reader" = bash ]; then
    local content key
    IFS= read -r -d '' content <"$relation"
    for key in address insecure token; do
      local name=remote-store-$key
      [ "$key" = token ] && name=remote-store-bearer-token
      printf -v "$key" '%s' ""
      if [[ $content =~ \"$name\":\ *\"([^\"]*)\" ]]; then
        printf -v "$key" '%s' "${BASH_REMATCH[1]}"
      fi
    done
  else
    # The way shell scripts usually read it without jq: grep and cut for each key.
    address=$(grep -o '"remote-store-address": *"[^"]*"' "$relation" | cut -d'"' -f4)
    insecure=$(grep -o '"remote-store-insecure": *"[^"]*"' "$relation" | cut -d'"' -f4)
    token=$(grep -o '"remote-store-bearer-token": *"[^"]*"' "$relation" | cut -d'"' -f4)
  fi
}

restart() {
  local address insecure token
  read_values
  [ -n "$address" ] || return 0
  local args=("--remote-store-address=$address" "--remote-store-insecure=${insecure:-false}")
  if [ -n "$token" ]; then args+=("--remote-store-bearer-token=$token"); fi
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  "$agent" "${args[@]}" &
  pid=$!
}

# Events on stdout; "Setting up watches." and "Watches established." come first, on stderr.
exec 3< <(exec inotifywait -m -e close_write,moved_to --format '%f' "$(dirname "$relation")" 2>&1)
read -r _ <&3
read -r _ <&3
restart
while read -r file <&3; do
  if [ "$file" = "$name" ]; then
    if [ "$quiet_ms" -gt 0 ]; then
      while read -t "$quiet" -r _ <&3; do :; done
    fi
    restart
  fi
done
