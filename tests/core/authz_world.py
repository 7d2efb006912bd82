"""The world the authorisation table (test_authorisation.py) runs in: one object of every kind a
URL can name, and one login for every role.

Customer A ("the customer") is the resource owner: their restaurant, phone, address, orders and
the rep's note about them carry distinctive strings (SECRETS) that the table checks never reach a
role with no business seeing them.
"""

from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from datetime import timedelta
from decimal import Decimal

from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.db import transaction
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, CampaignSettings, MonthlyContact
from campaigns.services import link_token
from catalog.models import CartLine, PriceList, PriceListEntry
from catalog.services import cart_line_add
from crm.models import (
    AutoTagSettings,
    CategoryShareRule,
    CustomerTag,
    Segment,
    Tag,
    TagGroup,
    WelcomeDue,
    WelcomeSettings,
)
from customers.models import ChurnEvent, ChurnSettings, ChurnSnapshot, Customer
from customers.tokens import visitor_token_make
from logistics.models import (
    Batch,
    DeliveryRun,
    DeliverySettings,
    InventoryValueSnapshot,
    PurchaseTask,
    PurchaseTaskLine,
    Receipt,
    Stop,
)
from logistics.services import stock_reserve
from logistics.roles import WAREHOUSE_GROUP, ensure_groups
from coupons.models import Coupon, CouponIssue, CouponRedemption, CouponTemplate
from aftersales.models import AfterSalesDecision, AfterSalesLine, AfterSalesRequest, AfterSalesSettings
from complaints.models import Complaint, ComplaintEvent, ComplaintSettings, ComplaintStaff
from notifications.models import Notification, SubscribeConsent
from orders.models import Order, OrderEvent, OrderLine, OrderSettings, Payment, PaymentNotification, Refund
from reps.feed import feed_token_make
from reps.models import EntryEvent, Handover, VisitNote, WeComContact, WeComContactEvent
from tests.factories import (
    CustomerFactory,
    DeliveryDriverFactory,
    PurchasingDriverFactory,
    RepFactory,
    SupplierFactory,
    VisitorFactory,
    product_with_stock,
)
from tests.logistics.test_delivery import jpeg
from usuals.models import CutoffReminder, LostItemAlert, ReminderOptOut, UsualSettings

PASSWORD = "authz-pw-2026"

# Roles, in the order the table's columns are written.
ANON, VISITOR, OTHER_CUSTOMER, CUSTOMER = "anonymous", "visitor", "other_customer", "customer"
REP, OTHER_REP, PURCHASING, CLERK = "rep", "other_rep", "purchasing", "clerk"
DELIVERY, EX_DRIVER, STAFF, SUPERUSER = "delivery", "ex_driver", "staff", "superuser"
ROLES = (ANON, VISITOR, OTHER_CUSTOMER, CUSTOMER, REP, OTHER_REP, PURCHASING, CLERK, DELIVERY, EX_DRIVER,
         STAFF, SUPERUSER)
VISITOR_ROLES = (VISITOR, OTHER_CUSTOMER, CUSTOMER)
SESSION_ROLES = (REP, OTHER_REP, PURCHASING, CLERK, DELIVERY, EX_DRIVER, STAFF, SUPERUSER)

# Customer A's private data, and who may see each piece (besides admin staff).
SECRET_NAME = "秘鲜酒家甲号"
SECRET_CONTACT = "甲老板秘名"
SECRET_PHONE = "13977770001"
SECRET_ADDRESS = "深圳市保密路甲号仓"
SECRET_NOTE = "拜访甲秘密备注"
SECRET_COST = "47.3917"  # a batch's unit cost: the warehouse's business, never the public trace page
SECRET_ORDER_NUMBER = "AZ20261206001"
# A complaint about the delivery driver's stop and the rep: its text reaches the customer who
# filed it and the back office, never the driver or the rep it is about.
SECRET_COMPLAINT = "投诉甲司机骚扰秘文"
ADMIN = (STAFF, SUPERUSER)
SECRETS = {
    SECRET_NAME: {CUSTOMER, REP, CLERK, DELIVERY, *ADMIN},
    SECRET_CONTACT: {CUSTOMER, REP, CLERK, DELIVERY, *ADMIN},
    SECRET_ADDRESS: {CUSTOMER, REP, CLERK, DELIVERY, *ADMIN},
    SECRET_ORDER_NUMBER: {CUSTOMER, REP, CLERK, DELIVERY, *ADMIN},
    # Drivers and clerks see it masked; staff with the order role (orders.view_order) in full.
    SECRET_PHONE: {CUSTOMER, REP, *ADMIN},
    SECRET_NOTE: {REP, *ADMIN},
    SECRET_COST: {CLERK, *ADMIN},
    SECRET_COMPLAINT: {CUSTOMER, *ADMIN},
}


@dataclass
class World:
    today: object
    users: dict = field(default_factory=dict)      # role → User (session roles)
    visitors: dict = field(default_factory=dict)   # role → Visitor (visitor roles)
    sessions: dict = field(default_factory=dict)   # role → session key
    objects: dict = field(default_factory=dict)    # name → object a URL can name
    clients: dict = field(default_factory=dict)    # role → Client

    def __getattr__(self, name):
        try:
            return self.__dict__["objects"][name]
        except KeyError:
            raise AttributeError(name) from None

    def client(self, role) -> Client:
        """The client of `role` (a visitor token header, or a saved session), its cookies reset:
        one client per role for the whole module, so Django's handler is built once each."""
        client = self.clients.get(role)
        if client is None:
            client = self.clients[role] = Client(HTTP_HOST="testserver")
            if role in self.visitors:
                client.defaults["HTTP_AUTHORIZATION"] = f"Visitor {visitor_token_make(self.visitors[role].pk)}"
        client.cookies = SimpleCookie()
        if role in self.sessions:
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[role]
        return client


def _user(username, **extra) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, **extra)


def _order(*, number, customer, visitor, rep, status, product, quantity="2", delivery_date, **extra) -> Order:
    now = timezone.now()
    amount = (product.price * Decimal(quantity)).quantize(Decimal("0.01"))
    order = Order.objects.create(
        number=number, customer=customer, visitor=visitor, rep=rep, status=status, idempotency_key=f"authz-{number}",
        delivery_date=delivery_date, subtotal=amount, total=amount, restaurant_name=customer.name,
        contact_name=customer.contact_name, phone=customer.phone, address=customer.address, district="福田",
        latitude=Decimal("22.540000"), longitude=Decimal("114.060000"),
        expires_at=now + timedelta(minutes=30), paid_at=None if status == Order.Status.PENDING_PAYMENT else now,
        **extra)
    OrderLine.objects.create(order=order, product=product, product_code=product.code, product_name=product.name,
                             unit=product.unit, unit_price=product.price, quantity=Decimal(quantity), amount=amount)
    return order


def build_world() -> World:
    today = timezone.localdate()
    world = World(today=today)
    objects = world.objects
    ensure_groups()
    OrderSettings.current()
    DeliverySettings.current()
    UsualSettings.current()
    ChurnSettings.current()

    # People.
    rep_user, other_rep_user = _user("authz-rep"), _user("authz-other-rep")
    rep, other_rep = RepFactory(name="甲的业务员", user=rep_user), RepFactory(name="乙的业务员", user=other_rep_user)
    purchasing = PurchasingDriverFactory(user=_user("authz-purchasing"))
    delivery = DeliveryDriverFactory(user=_user("authz-delivery"))
    ex_driver = DeliveryDriverFactory(user=_user("authz-ex-driver"), is_active=False)
    clerk = _user("authz-clerk")
    clerk.groups.add(Group.objects.get(name=WAREHOUSE_GROUP))
    staff = _user("authz-staff", is_staff=True)
    # Staff: every permission of the product's own apps (not user and group management).
    staff.user_permissions.set(Permission.objects.exclude(content_type__app_label="auth"))
    superuser = User.objects.create_superuser("authz-superuser", password=PASSWORD)
    world.users = {REP: rep_user, OTHER_REP: other_rep_user, PURCHASING: purchasing.user, CLERK: clerk,
                   DELIVERY: delivery.user, EX_DRIVER: ex_driver.user, STAFF: staff, SUPERUSER: superuser}

    customer = CustomerFactory(name=SECRET_NAME, contact_name=SECRET_CONTACT, phone=SECRET_PHONE,
                               address=SECRET_ADDRESS, district="福田", rep=rep, acquired_by=rep,
                               latitude=Decimal("22.540000"), longitude=Decimal("114.060000"))
    other_customer = CustomerFactory(name="乙餐厅", contact_name="乙老板", rep=other_rep, acquired_by=other_rep)
    world.visitors = {
        VISITOR: VisitorFactory(),
        OTHER_CUSTOMER: VisitorFactory(customer=other_customer, phone=other_customer.phone),
        CUSTOMER: VisitorFactory(customer=customer, phone=customer.phone),
    }

    # Catalogue, stock and carts (each visitor has the product in their cart).
    supplier = SupplierFactory(name="南澳鲜供")
    product = product_with_stock(on_hand="500", code="AZFISH01", name="冻带鱼段权限", default_supplier=supplier)
    for visitor in world.visitors.values():
        cart_line_add(visitor=visitor, product_id=product.pk, quantity="5")  # above the minimum order
    price_list = PriceList.objects.create(name="大客户价")  # customer A's: 5% off the fish's shelf
    PriceListEntry.objects.create(price_list=price_list, category=product.category, percent_off="5")
    Customer.objects.filter(pk=customer.pk).update(price_list=price_list)

    # Customer A's orders: delivered today on the driver's run, paid for tomorrow (packing), unpaid.
    owner = world.visitors[CUSTOMER]
    on_run = _order(number=SECRET_ORDER_NUMBER, customer=customer, visitor=owner, rep=rep,
                    status=Order.Status.OUT_FOR_DELIVERY, product=product, delivery_date=today)
    paid = _order(number="AZ20261206002", customer=customer, visitor=owner, rep=rep, status=Order.Status.PAID,
                  product=product, delivery_date=today + timedelta(days=1))
    unpaid = _order(number="AZ20261206003", customer=customer, visitor=owner, rep=rep,
                    status=Order.Status.PENDING_PAYMENT, product=product, delivery_date=today + timedelta(days=1))
    other_order = _order(number="AZ20261206009", customer=other_customer, visitor=world.visitors[OTHER_CUSTOMER],
                         rep=other_rep, status=Order.Status.PAID, product=product,
                         delivery_date=today + timedelta(days=1))
    packing = _order(number="AZ20261206004", customer=customer, visitor=owner, rep=rep, status=Order.Status.PACKING,
                     product=product, delivery_date=today + timedelta(days=1))
    # Paid, delivered the day after tomorrow: its cut-off is tomorrow night, so it may still be reduced.
    changeable = _order(number="AZ20261206010", customer=customer, visitor=owner, rep=rep, status=Order.Status.PAID,
                        product=product, quantity="10", delivery_date=today + timedelta(days=2))
    with transaction.atomic():  # reserved at checkout, as every paid order's stock is
        stock_reserve(items={product.pk: Decimal("2")}, reference=packing.number)
        stock_reserve(items={product.pk: Decimal("2")}, reference=paid.number)
        stock_reserve(items={product.pk: Decimal("10")}, reference=changeable.number)
    for pending in (unpaid, packing, paid, changeable):
        Payment.objects.create(order=pending, out_trade_no=pending.number, amount_fen=int(pending.total * 100),
                               status=Payment.Status.CREATED if pending == unpaid else Payment.Status.SUCCEEDED)
    payment = Payment.objects.create(order=on_run, out_trade_no=on_run.number, amount_fen=int(on_run.total * 100),
                                     status=Payment.Status.SUCCEEDED, succeeded_at=timezone.now())
    notification = PaymentNotification.objects.create(notification_id="authz-n1", event_type="TRANSACTION.SUCCESS",
                                                      out_trade_no=on_run.number, outcome="paid")
    refund = Refund.objects.create(order=on_run, out_refund_no="authz-r1", amount=Decimal("1.00"), reason="少称")

    # After-sales: two delivered orders of customer A, one free to claim, one with a request
    # waiting for more photos (staff asked).
    AfterSalesSettings.current()
    delivered, claimed = (
        _order(number=number, customer=customer, visitor=owner, rep=rep, status=Order.Status.DELIVERED,
               product=product, delivery_date=today) for number in ("AZ20261206005", "AZ20261206006"))
    for done in (delivered, claimed):
        Payment.objects.create(order=done, out_trade_no=done.number, amount_fen=int(done.total * 100),
                               status=Payment.Status.SUCCEEDED, succeeded_at=timezone.now())
        OrderEvent.objects.create(order=done, from_status=Order.Status.OUT_FOR_DELIVERY,
                                  to_status=Order.Status.DELIVERED, actor="driver")
    aftersales_request = AfterSalesRequest.objects.create(
        order=claimed, customer=customer, status=AfterSalesRequest.Status.NEEDS_MORE_INFO, reason="damaged",
        claimed_amount=product.price)
    AfterSalesLine.objects.create(request=aftersales_request, order_line=claimed.lines.get(), quantity=Decimal("1"),
                                  claimed_amount=product.price)
    AfterSalesDecision.objects.create(order=claimed, request=aftersales_request, kind="more_info",
                                      actor="authz-staff", message="请补充外箱照片")

    # A coupon of the customer's, once used by an order that was cancelled (given back).
    coupon_template = CouponTemplate.objects.create(name="权限测试券", amount_off=Decimal("5.00"), valid_from=today,
                                                    valid_to=today + timedelta(days=30))
    coupon = Coupon.objects.create(template=coupon_template, customer=customer,
                                   issue=CouponIssue.objects.create(template=coupon_template, audience="authz"))
    CouponRedemption.objects.create(coupon=coupon, order=delivered, amount=Decimal("5.00"), created_at=timezone.now(),
                                    released_at=timezone.now(), release_reason="权限测试")

    # The rep's side: a visit note, an entry through the rep's code, an inbox message, a handover.
    note = VisitNote.objects.create(rep=rep, customer=customer, note=SECRET_NOTE)
    wecom_contact = WeComContact.objects.create(rep=rep, external_userid="wmAUTHZ", state=rep.key,
                                                added_at=timezone.now(), customer=customer)
    WeComContactEvent.objects.create(dedupe_key="evt:authz", change_type="add_external_contact",
                                     external_userid="wmAUTHZ", event_time=timezone.now(), rep=rep,
                                     contact=wecom_contact)
    entry = EntryEvent.objects.create(visitor=owner, customer=customer, rep=rep, scene_kind="in_person",
                                  visit_kind=EntryEvent.Visit.FIRST)
    message = Notification.objects.create(
        event_key="authz-churn", recipient_kind="rep", recipient_id=str(rep.pk), channel="inbox",
        template="churn", title="客户流失提醒", body=f"{SECRET_NAME} 已 30 天未下单", next_attempt_at=timezone.now())
    handover = Handover.objects.create(from_rep=other_rep, to_rep=rep, customer_count=0, reason="权限测试")
    # The owner accepted the delivery message once (wx.requestSubscribeMessage).
    SubscribeConsent.objects.create(openid=owner.openid, template="delivery_done", available=1, accepted_total=1,
                                    last_result="accept", last_result_at=timezone.now())
    churn_event = ChurnEvent.objects.create(customer=customer, kind="churned", rep=rep, night=today)
    LostItemAlert.objects.create(customer=customer, product=product, rep=rep, times=4,
                                 first_bought_at=timezone.now() - timedelta(days=60), last_bought_at=timezone.now() - timedelta(days=30), usual_interval=timedelta(days=10), night=today)
    CutoffReminder.objects.create(customer=customer, delivery_date=today, sent_on=today)
    ReminderOptOut.objects.create(customer=other_customer)
    churn_snapshot = ChurnSnapshot.objects.create(night=today, active=1, at_risk=0, churned=1, new_at_risk=0,
                                                  new_churned=1, reactivated=0)

    # Customer operations: a manual and an automatic tag on customer A, a rule, a segment, the welcome.
    business = TagGroup.objects.create(name="业态")
    hotpot = Tag.objects.create(group=business, name="火锅")
    preference = TagGroup.objects.create(name="购买偏好", kind=TagGroup.Kind.AUTO)
    shrimp = Tag.objects.create(group=preference, name="买鱼")
    CustomerTag.objects.create(customer=customer, tag=hotpot)
    CustomerTag.objects.create(customer=customer, tag=shrimp, source=CustomerTag.Source.AUTO)
    CategoryShareRule.objects.create(category=product.category, threshold_percent=Decimal("30"), tag=shrimp)
    AutoTagSettings.current()
    WelcomeSettings.current()
    WelcomeDue.objects.create(customer=customer, openid=owner.openid)
    segment = Segment.objects.create(name="火锅客户")
    segment.tags.set([hotpot])
    # Campaigns: a draft to the segment, and a sent rep task with customer A's task on it.
    draft_campaign = Campaign.objects.create(name="权限测试草稿", segment=segment, title="上新", text="新到冻虾",
                                             link="/shop/")
    sent_campaign = Campaign.objects.create(name="权限测试活动", segment=segment, title="上新", text="新到冻虾",
                                            link="/shop/", status=Campaign.Status.SENT, segment_count=1,
                                            send_requested_at=timezone.now(), sent_at=timezone.now())
    campaign_task = CampaignRecipient.objects.create(campaign=sent_campaign, customer=customer, rep=rep,
                                                     status=CampaignRecipient.Status.PENDING)
    MonthlyContact.objects.create(customer=customer, month=today.replace(day=1), count=1)
    CampaignSettings.current()

    # Purchasing, receiving and delivery.
    task = PurchaseTask.objects.create(supplier=supplier, for_date=today, driver=purchasing)
    task_line = PurchaseTaskLine.objects.create(
        task=task, product=product, ordered_quantity=Decimal("2"), available_quantity=Decimal("0"),
        net_quantity=Decimal("2"), purchase_unit=product.unit, purchase_quantity=Decimal("2"))
    receipt = Receipt.objects.create(supplier=supplier, received_by=clerk, note="入库权限测试")
    batch = Batch.objects.create(receipt=receipt, product=product, code="AZB0000001", quantity=Decimal("5"),
                                 unit_cost=Decimal(SECRET_COST))
    run = DeliveryRun.objects.create(driver=delivery, delivery_date=today, status=DeliveryRun.Status.IN_PROGRESS)
    stop = Stop.objects.create(run=run, order=on_run, sequence=1)
    proved = _order(number="AZ20261206007", customer=customer, visitor=owner, rep=rep,
                    status=Order.Status.DELIVERED, product=product, delivery_date=today)
    proof = Stop(run=run, order=proved, sequence=2, status=Stop.Status.DELIVERED, proof_kind=Stop.Proof.SIGNED,
                 signed_by=SECRET_CONTACT, photo_taken_at=timezone.now(), completed_at=timezone.now())
    proof.photo.save("stop-proof.jpg", jpeg(taken_at=timezone.now()), save=False)
    proof.save()
    ex_run = DeliveryRun.objects.create(driver=ex_driver, delivery_date=today)
    ComplaintSettings.current()
    complaint = Complaint.objects.create(
        customer=customer, visitor=owner, order=on_run, category="safety", is_safety=True, text=SECRET_COMPLAINT,
        driver=delivery, rep=rep, first_response_due=timezone.now(), resolution_due=timezone.now())
    ComplaintEvent.objects.create(complaint=complaint, kind="submitted", actor="customer", message=SECRET_COMPLAINT)
    ComplaintStaff.objects.create(user=world.users[SUPERUSER], escalations=True)
    snapshot = InventoryValueSnapshot.objects.create(day=today - timedelta(days=1), value=Decimal("100.00"))
    # A locked-out login (登录锁定) and a login in axes' access log.
    AccessAttempt.objects.create(username="authz-locked", ip_address="10.0.0.9", user_agent="authz",
                                 path_info="/rep/login/", failures_since_start=settings.AXES_FAILURE_LIMIT,
                                 get_data="", post_data="", http_accept="")
    AccessLog.objects.create(username="authz-signed-in", ip_address="10.0.0.9", user_agent="authz",
                             path_info="/rep/login/", http_accept="")

    objects.update(
        rep=rep, other_rep=other_rep, purchasing=purchasing, delivery=delivery, ex_driver=ex_driver,
        customer=customer, other_customer=other_customer, supplier=supplier, product=product,
        order=on_run, paid_order=paid, delivered_order=delivered, aftersales_request=aftersales_request,
        complaint=complaint,
        coupon_template=coupon_template,
        draft_campaign=draft_campaign, sent_campaign=sent_campaign, campaign_task=campaign_task,
        campaign_link_token=link_token(campaign_task.pk),
        packing_order=packing, unpaid_order=unpaid, changeable_order=changeable, other_order=other_order, payment=payment,
        payment_notification=notification, refund=refund, note=note, entry=entry, message=message,
        tag=hotpot, handover=handover, churn_event=churn_event, churn_snapshot=churn_snapshot, task=task, task_line=task_line,
        receipt=receipt, batch=batch, run=run, stop=stop, proof_stop=proof, ex_run=ex_run, inventory_snapshot=snapshot,
        cart_line=CartLine.objects.filter(cart__visitor=owner).first(),
        feed_tokens={REP: feed_token_make(rep), OTHER_REP: feed_token_make(other_rep)},
    )
    _beat_schedules(objects)

    # One saved session per signed-in role, reused by every request (a request runs in a savepoint).
    for role, user in world.users.items():
        client = Client()
        client.force_login(user)
        world.sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return world


def _beat_schedules(objects: dict) -> None:
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        SolarSchedule,
    )

    interval = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    objects.update(
        intervalschedule=interval,
        crontabschedule=CrontabSchedule.objects.create(minute="0", hour="3"),
        solarschedule=SolarSchedule.objects.create(event="sunrise", latitude=22.54, longitude=114.06),
        clockedschedule=ClockedSchedule.objects.create(clocked_time=timezone.now()),
        periodictask=PeriodicTask.objects.create(name="authz-task", task="core.tasks.noop", interval=interval),
    )
