#!/bin/sh
# A wrapper that does not exec, as site scripts often are: it sets an environment and runs the
# stand-in agent as its child, so the agent lives on in the group when the shell exits.
STANDIN_WRAPPED=1 "${STANDIN_NODE:-node}" "$(dirname "$0")/standin.mjs" "$@"
