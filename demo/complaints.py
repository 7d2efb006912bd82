"""Demo complaints: the admin on the escalation list, one answered complaint about a driver and one
overdue complaint about the service without an order (at the top of admin's queue)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils import timezone

from complaints.models import Complaint, ComplaintStaff
from complaints.services import complaint_file, complaint_reply
from orders.models import Order

from .base import DemoPlan, StepResult
from .people import ADMIN_USERNAME


def complaints_seed(plan: DemoPlan) -> StepResult:
    existing = Complaint.objects.count()
    if existing:
        return StepResult("投诉", 0, existing)
    admin = get_user_model().objects.filter(username=ADMIN_USERNAME).first()
    if admin is not None:
        ComplaintStaff.objects.get_or_create(user=admin, defaults={"escalations": True, "takes_complaints": True})
    orders = list(Order.objects.filter(status__in=[Order.Status.DELIVERED, Order.Status.COMPLETED],
                                       visitor__customer=F("customer")).select_related("visitor")
                  .order_by("-delivery_date", "number")[:2])
    if not orders:
        return StepResult("投诉", 0, 0)
    answered = complaint_file(visitor=orders[0].visitor, category="driver", order_id=orders[0].pk,
                              text="司机把货放在门口没有打电话，冻品有点化了")
    complaint_reply(complaint_id=answered.pk, user=admin, message="非常抱歉，已提醒司机送达时当面交接，化冻的部分请申请售后。")
    waiting = complaint_file(visitor=orders[-1].visitor, category="service", text="下午客服电话一直占线，想改送货时间")
    now = timezone.now()
    Complaint.objects.filter(pk=waiting.pk).update(created_at=now - timedelta(hours=26),
                                                   first_response_due=now - timedelta(hours=22),
                                                   resolution_due=now - timedelta(hours=2))
    return StepResult("投诉", 2, 0)
