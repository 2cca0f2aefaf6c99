#!/usr/bin/env bash
# The HTTP front on all interfaces, port 8080. It refuses to start without
# COURIER_API_TOKENS; uvicorn's access log is off (the front logs method and path only).
set -o errexit -o nounset -o pipefail

exec courier api --host 0.0.0.0 "$@"
