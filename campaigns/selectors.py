"""Reads of campaigns that the rep assistant's API and the admin share."""

from datetime import timedelta

from django.utils import timezone

from .models import Campaign, CampaignRecipient

TASK_DAYS = 30  # a rep task stays on the assistant this long after the campaign was sent
MAX_TASKS = 500


def rep_campaign_tasks(*, rep) -> list[dict]:
    """The rep's tasks: for each rep-task campaign of the last TASK_DAYS days, the rep's OWN
    customers in it (their current rep: a handover moves open tasks with the customer), waiting
    (待发送) first, with the message ready to send. One query."""
    from .services import link_url

    since = timezone.now() - timedelta(days=TASK_DAYS)
    rows = (CampaignRecipient.objects
            .filter(customer__rep=rep, campaign__channel=Campaign.Channel.REP_TASK,
                    campaign__send_requested_at__gte=since,
                    status__in=[CampaignRecipient.Status.PENDING, CampaignRecipient.Status.SENT])
            .select_related("campaign", "campaign__coupon_template", "customer")
            .order_by("-campaign__send_requested_at", "-campaign_id", "-status", "customer__name", "pk")[:MAX_TASKS])
    campaigns: dict[int, dict] = {}
    for row in rows:
        campaign = row.campaign
        group = campaigns.setdefault(campaign.pk, {
            "id": campaign.pk, "name": campaign.name, "text": campaign.text,
            "coupon": campaign.coupon_template.terms if campaign.coupon_template_id else "",
            "sent_at": campaign.send_requested_at, "tasks": [], "pending": 0})
        link = link_url(row.pk)
        group["tasks"].append({
            "id": row.pk, "customer_id": row.customer_id, "customer_name": row.customer.name,
            "contact_name": row.customer.contact_name, "status": row.status,
            "sent_at": row.sent_at, "link": link, "message": f"{campaign.text}\n{link}"})
        group["pending"] += row.status == CampaignRecipient.Status.PENDING
    return list(campaigns.values())
