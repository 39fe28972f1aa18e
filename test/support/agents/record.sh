#!/bin/sh
# Stand-in agent for the bench: appends "<wall-clock ns> <argv>" to $STANDIN_RECORD, then waits
# to be stopped. A shell and one sleep, so that the agent's own start-up hides nothing. The
# shell stays (it does not exec the sleep), so its command line keeps the flags it was given,
# as a real agent's does; on SIGTERM it stops its sleep and exits at once.
printf '%s %s\n' "$(date +%s%N)" "$*" >> "$STANDIN_RECORD"
trap 'kill "$child" 2>/dev/null; exit 0' TERM INT
sleep 86400 &
child=$!
wait "$child"
