"""Bulk resend campaigns: sources, compact Redis storage, pacing and reports.

The producer API and the Celery tasks are in :mod:`tasks.campaigns`; the CLI is
:mod:`worker.cli.campaign`; see ``docs/campaigns.md``.
"""
