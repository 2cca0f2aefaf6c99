#!/usr/bin/env bash
# A Celery worker with the project's defaults (threads pool, events on, both queues).
# SIGTERM starts Celery's warm shutdown: running jobs finish, unstarted ones stay queued.
set -o errexit -o nounset -o pipefail

exec courier worker "$@"
