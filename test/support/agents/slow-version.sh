#!/bin/sh
# The stand-in agent behind a wrapper that answers --version only after a minute (a site script
# that does something slow first): the sidecar's version probe gives up on it after 2 s. Any
# other command line runs the stand-in.
if [ "$1" = "--version" ]; then
  sleep 60
  exit 0
fi
exec "$(dirname "$0")/standin.mjs" "$@"
