#!/bin/sh
# A restart/stop command for tests: records its arguments and the store it was told about.
# Exits with $FAIL_WITH (and a line on stderr) when set.
printf '%s|%s|%s|%s\n' "$*" "$PARCA_STORE_ADDRESS" "$PARCA_STORE_INSECURE" "${PARCA_STORE_BEARER_TOKEN:+token-set}" >> "$RECORD"
if [ -n "$FAIL_WITH" ]; then
  echo "Job for parca-agent.service failed (token=$PARCA_STORE_BEARER_TOKEN)" >&2
  exit "$FAIL_WITH"
fi
