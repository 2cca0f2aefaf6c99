#!/usr/bin/env bash
# Flower with the project's configuration (courier flower): basic auth from
# COURIER_FLOWER_BASIC_AUTH on every page, API and /metrics, read-only, persistent state
# in FLOWER_DB, a day of history at the budget.
set -o errexit -o nounset -o pipefail

exec courier flower \
    --port "${FLOWER_PORT:-5555}" \
    --address "${FLOWER_ADDRESS:-0.0.0.0}" \
    --db "${FLOWER_DB:-/var/lib/flower/flower.db}" \
    "$@"
