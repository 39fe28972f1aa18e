#!/bin/sh
# Stand-in agent for the bench: appends "<wall-clock ns> <argv>" to $STANDIN_RECORD, then waits
# to be stopped. A shell and one sleep, so that the agent's own start-up hides nothing.
printf '%s %s\n' "$(date +%s%N)" "$*" >> "$STANDIN_RECORD"
exec sleep 86400
