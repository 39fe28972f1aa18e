#!/bin/sh
# The bench's stand-in agent behind a wrapper that does not exec, as site scripts often are: the
# shell runs record.sh as its child, so stopping it means signalling what the shell leaves.
"$(dirname "$0")/../../test/support/agents/record.sh" "$@"
