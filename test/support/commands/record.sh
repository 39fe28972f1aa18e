#!/bin/sh
# A restart/stop command for tests: records its arguments and the store it was told about.
# Exits with $FAIL_WITH (and a line on stderr) when set. $FAIL_RUNS and $HANG_RUNS list run
# numbers ("2,3"): those runs fail, or start a grandchild holding the command's stderr (its pid
# appended to $RECORD.hung) and wait for it, as a wedged `systemctl` or script would.
printf '%s|%s|%s|%s\n' "$*" "$PARCA_STORE_ADDRESS" "$PARCA_STORE_INSECURE" "${PARCA_STORE_BEARER_TOKEN:+token-set}" >> "$RECORD"
if [ -n "$FAIL_WITH" ]; then
  echo "Job for parca-agent.service failed (token=$PARCA_STORE_BEARER_TOKEN)" >&2
  exit "$FAIL_WITH"
fi
run=$(grep -c . "$RECORD")
case ",$FAIL_RUNS," in *",$run,"*)
  echo "Job for parca-agent.service failed (run $run)" >&2
  exit 1
esac
case ",$HANG_RUNS," in *",$run,"*)
  echo "restarting parca-agent.service" >&2
  sleep 300 &
  echo "$!" >> "$RECORD.hung"
  wait
esac
