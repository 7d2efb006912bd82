from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from customers.churn import customer_record_payment
from customers.models import ChurnSnapshot, Customer
from notifications.models import Notification
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_admin_runs_the_sweep_and_shows_the_dashboard(admin_client):
    customer = CustomerFactory()
    with transaction.atomic():
        customer_record_payment(customer_id=customer.pk, paid_at=timezone.now() - timedelta(days=45))

    response = admin_client.post("/admin/customers/churnsnapshot/run/")

    assert response.status_code == 302
    assert Customer.objects.get(pk=customer.pk).status == "churned"
    page = admin_client.get("/admin/customers/churnsnapshot/")
    assert page.status_code == 200
    assert "churn-chart" in page.content.decode()
    assert ChurnSnapshot.objects.get().churned == 1


def test_churn_settings_cannot_be_duplicated_or_deleted(admin_client):
    admin_client.get("/admin/customers/churnsettings/")
    assert admin_client.get("/admin/customers/churnsettings/add/").status_code in (200, 403)
    from customers.models import ChurnSettings

    ChurnSettings.current()
    assert admin_client.get("/admin/customers/churnsettings/add/").status_code == 403
    assert admin_client.post("/admin/customers/churnsettings/1/delete/", {"post": "yes"}).status_code == 403


def test_notification_admin_is_read_only_with_a_retry_action(admin_client):
    with transaction.atomic():
        from notifications.services import notify

        n = notify(event_key="e1", recipient_kind="rep", recipient_id=1, channel="wecom", template="t", title="t",
                   address="u1")
    Notification.objects.filter(pk=n.pk).update(status="unknown")
    assert admin_client.get("/admin/notifications/notification/").status_code == 200
    admin_client.post("/admin/notifications/notification/", {"action": "retry", "_selected_action": [n.pk]})
    assert Notification.objects.get(pk=n.pk).status == "pending"
    assert admin_client.get("/admin/notifications/notification/add/").status_code == 403
