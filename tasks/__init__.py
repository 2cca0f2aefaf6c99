"""The producer API of cognito-courier: submit jobs and campaigns, and follow them.

from tasks import submit_resend, wait
job_id = submit_resend("3n4b5urk1ft4fl3mg5e62d9ado", "alice")
print(wait(job_id, timeout_seconds=30)["state"])
"""

from tasks.campaigns import (
    campaign_status,
    cancel_campaign,
    list_campaigns,
    pause_campaign,
    resume_campaign,
    start_campaign,
    write_campaign_report,
)
from tasks.producer import job_status, submit_attribute_verification, submit_resend, wait

__all__ = [
    # single jobs
    "submit_resend",
    "submit_attribute_verification",
    # following a job
    "job_status",
    "wait",
    # bulk campaigns
    "start_campaign",
    "campaign_status",
    "list_campaigns",
    "pause_campaign",
    "resume_campaign",
    "cancel_campaign",
    "write_campaign_report",
]
