#!/usr/bin/env bash
# Flower on the project's Celery app; settings (basic auth, limits) in flowerconfig.py.
set -o errexit -o nounset -o pipefail

exec celery -A worker.app flower \
    --port="${FLOWER_PORT:-5555}" \
    --conf="${FLOWER_CONFIG:-/etc/courier/flowerconfig.py}" \
    "$@"
