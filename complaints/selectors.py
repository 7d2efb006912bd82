"""Reads of complaints that the customer's API, the mini-site and admin share (bounded queries).

The driver's and the rep's pages read nothing from here: a complaint and who filed it are for the
customer who filed it and the back office only.
"""

from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When
from django.utils import timezone

from core.errors import NotFound

from .models import Complaint, ComplaintEvent, overdue_q


def customer_complaints(*, customer_id) -> QuerySet[Complaint]:
    """A customer's complaints, newest first, with photos and the replies they may read: three
    queries a page whatever its length."""
    return (Complaint.objects.filter(customer_id=customer_id or 0).select_related("order")
            .prefetch_related("photos", Prefetch("events", to_attr="public_events", queryset=ComplaintEvent.objects
                                                 .filter(kind__in=ComplaintEvent.PUBLIC).order_by("created_at", "id")))
            .order_by("-created_at", "-id"))


def customer_complaint_get(*, customer_id, complaint_id) -> Complaint:
    complaint = customer_complaints(customer_id=customer_id).filter(pk=complaint_id).first()
    if complaint is None:
        raise NotFound("投诉不存在", code="complaint_not_found")
    return complaint


def overdue_flag(now=None):
    """1 for an overdue complaint (Complaint.objects.overdue), else 0: the queue's first sort key."""
    return Case(When(overdue_q(now or timezone.now()), then=Value(1)), default=Value(0), output_field=IntegerField())


def queue(queryset: QuerySet | None = None, *, now=None) -> QuerySet[Complaint]:
    """The back office's queue: overdue first (safety ones first among them), then open before
    answered before resolved, oldest first."""
    queryset = Complaint.objects.all() if queryset is None else queryset
    status_rank = Case(When(status=Complaint.Status.OPEN, then=Value(0)),
                       When(status=Complaint.Status.ANSWERED, then=Value(1)), default=Value(2),
                       output_field=IntegerField())
    return (queryset.select_related("customer", "order", "owner")
            .annotate(is_overdue=overdue_flag(now), status_rank=status_rank)
            .order_by("-is_overdue", "status_rank", "-is_safety", "created_at", "id"))
