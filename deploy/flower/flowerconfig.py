"""Flower settings for cognito-courier (``celery -A worker.app flower --conf=this file``).

Flower executes this file at start-up. What operators see: every job as a task named
``courier.resend_confirmation_code`` or ``courier.get_user_attribute_verification_code``
(campaign work as ``courier.campaign_chunk``, ``courier.campaign_tick`` and
``courier.campaign_ingest``), with secrets shown as ``<sealed>`` in the arguments.
"""

import os

# Basic auth is required: Flower shows usernames and can reach the workers.
# FLOWER_BASIC_AUTH holds "user:password", several separated by commas.
_credentials = os.environ.get("FLOWER_BASIC_AUTH", "").strip()
if not _credentials:
    raise SystemExit(
        "FLOWER_BASIC_AUTH is not set: give it as user:password (comma-separated for several)"
    )
basic_auth = [pair.strip() for pair in _credentials.split(",") if pair.strip()]

# Events are the source of truth for Flower and the job status store is ours: nothing
# to persist, and a restart of Flower loses nothing an operator needs.
persistent = False

# Bounded memory: the most recent tasks and workers only (each task is a few KB).
max_tasks = 10000
max_workers = 500
purge_offline_workers = 600  # seconds before a stopped worker leaves the dashboard

# Read-only: revoking or terminating a task from Flower would leave its job status
# document "queued" for ever; cancel campaigns with `courier campaign cancel` instead.
read_only = True

# The columns of the task list; arguments are redacted by the producer (<sealed>).
tasks_columns = "name,uuid,state,received,started,runtime,worker,retries,kwargs"

# Behind a reverse proxy or an ingress, trust its X-Forwarded-* headers.
xheaders = True
