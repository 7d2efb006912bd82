from celery import shared_task

from . import services


@shared_task(acks_late=True)
def campaign_send_task(campaign_id: int) -> str:
    """Send a campaign's recipients (campaigns.services.campaign_send_process; safe to run twice)."""
    return services.campaign_send_process(campaign_id=campaign_id)


@shared_task(acks_late=True)
def campaigns_resume_task() -> int:
    """Every 5 minutes: finish any campaign left sending."""
    return services.campaigns_resume()
