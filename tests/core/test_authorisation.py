"""One authorisation table: every URL and API operation × every role → the designed outcome.

The URLs come from the resolver (admin's included) and the operations from the OpenAPI schema, so
a new endpoint without a row here fails `test_every_url_and_operation_has_a_row`. Each row is
tried by each role (authz_world.ROLES) against one shared world (authz_world.build_world), each
request in a savepoint that is rolled back. Outcomes:

- OK (2xx) and REDIRECT (3xx, not to a login page): allowed.
- LOGIN (3xx to /admin/login/, /rep/login/ or /ops/login/), U401, F403, N404: denied.
- FORM: a login form shown again with its error, nobody signed in.
- BAD: past authorisation but refused for what the role is (4xx business rule, e.g. 409).

Every response, allowed or not, must not contain a private string of customer A that the role
has no business seeing (authz_world.SECRETS); a write that is not allowed must change nothing.
Admin is covered generically: every registered ModelAdmin's changelist, add, change, delete and
history pages against ADMIN_DESIGN (what staff holding every permission of the model may do).
"""

import contextlib

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from tests.logistics.test_delivery import jpeg
from wechat.backends import get_backend
from wechat.backends.dev import new_dev_openid

from .authz_support import (
    ALLOWED,
    BAD,
    F403,
    FORM,
    LOGIN,
    N404,
    NOT_SIGNED_IN,
    OK,
    REDIRECT,
    U401,
    E,
    Row,
    V,
    classify,
    discovered_routes,
    drf_methods,
    leaks,
    openapi_path,
    response_text,
    rows_written,
    schema_operations,
    url_for,
)
from .authz_world import (
    ADMIN,
    ANON,
    CLERK,
    CUSTOMER,
    DELIVERY,
    OTHER_CUSTOMER,
    OTHER_REP,
    PASSWORD,
    PURCHASING,
    REP,
    ROLES,
    STAFF,
    SUPERUSER,
    VISITOR,
    build_world,
)

# --- Bodies and headers ----------------------------------------------------------------------

def _login_code(world, role):
    return {"code": get_backend().issue_login_code(new_dev_openid())}


def _phone_code(world, role):
    visitor = world.visitors.get(role) or world.visitors[VISITOR]
    phone = visitor.phone or "13800009999"
    return {"code": get_backend().issue_phone_code(openid=visitor.openid, phone=phone)}


def _checkout(world, role):
    return {"idempotency_key": f"authz-{role}", "restaurant_name": "权限测试餐厅", "contact_name": "王",
            "address": "深圳市福田区福华路 88 号", "district": "福田", "latitude": "22.541234",
            "longitude": "114.061234"}


def _credentials(world, role):
    user = world.users.get(role)
    return {"username": user.username if user else "nobody", "password": PASSWORD}


def _feed_token(world, role):
    token = world.feed_tokens.get(role)
    return {"HTTP_X_FEED_TOKEN": token} if token else {}


def _receipt(world, role):
    return {"supplier": str(world.supplier.pk), "product": str(world.product.pk), "quantity": "3",
            "unit_cost": "20.00", "weight": "", "production_date": "", "expiry_date": ""}


def _pack(world, role):
    line = world.packing_order.lines.get()
    return {f"qty_{line.pk}": str(line.quantity)}


def _proof(world, role):
    return {"proof_kind": "signed", "signed_by": "王", "photo": jpeg(taken_at=timezone.now())}


def _aftersales(world, role):
    import json

    line = world.delivered_order.lines.get()
    return {"order_id": str(world.delivered_order.pk), "reason": "short_weight", "note": "少了一斤",
            "lines": json.dumps([{"line_id": line.pk, "quantity": "1"}]), "photos": jpeg()}


def _complaint_on_order(world, role):
    return {"category": "delivery", "text": "送货迟到两小时", "order_id": str(world.delivered_order.pk)}


def _subscribe_result(world, role):
    from django.conf import settings

    return {"result": {"errMsg": "requestSubscribeMessage:ok",
                       settings.WECHAT_SUBSCRIBE_TEMPLATES["order_paid"]: "accept"}}


def _collect(world, role):
    line = world.task_line
    return {f"quantity-{line.pk}": str(line.purchase_quantity)}


# --- The table -------------------------------------------------------------------------------

VISITOR_ONLY = E(U401, {V: OK})
OWNER_ONLY = E(U401, {CUSTOMER: OK, (VISITOR, OTHER_CUSTOMER): N404})
REP_API = E(F403, {ANON: U401, (REP, OTHER_REP): OK})
REP_OWN_CUSTOMER = E(F403, {ANON: U401, REP: OK, OTHER_REP: N404})
REP_PAGE = E(F403, {NOT_SIGNED_IN: LOGIN, (REP, OTHER_REP): OK})
PURCHASING_PAGE = E(F403, {NOT_SIGNED_IN: LOGIN, PURCHASING: OK})
CLERK_PAGE = E(F403, {NOT_SIGNED_IN: LOGIN, (CLERK, SUPERUSER): OK})
CLERK_WRITE = E(F403, {NOT_SIGNED_IN: LOGIN, (CLERK, SUPERUSER): REDIRECT})
DRIVER_PAGE = E(F403, {NOT_SIGNED_IN: LOGIN, DELIVERY: OK})
DRIVER_WRITE = E(F403, {NOT_SIGNED_IN: LOGIN, DELIVERY: REDIRECT})
ADMIN_PAGE = E(LOGIN, {ADMIN: OK})


def _order(name="order"):
    return lambda w: {"order_id": getattr(w, name).pk}


TABLE = {
    # The mini program's API.
    ("POST", "api:auth-session"): Row(E(OK), body=_login_code, json=True),
    ("POST", "api:entries"): Row(VISITOR_ONLY, body=lambda w, r: {}, json=True),
    ("GET", "api:category-list"): Row(E(OK)),
    ("GET", "api:product-list"): Row(E(OK), query="q=AZFISH"),
    ("GET", "api:product-detail"): Row(E(OK), kwargs=lambda w: {"code": w.product.code}),
    ("GET", "api:cart"): Row(VISITOR_ONLY),
    ("DELETE", "api:cart"): Row(VISITOR_ONLY),
    ("POST", "api:cart-lines"): Row(VISITOR_ONLY, body=lambda w, r: {"product": w.product.pk, "quantity": "1"},
                                    json=True),
    ("PUT", "api:cart-line"): Row(VISITOR_ONLY, kwargs=lambda w: {"product_id": w.product.pk},
                                  body=lambda w, r: {"quantity": "2"}, json=True),
    ("DELETE", "api:cart-line"): Row(VISITOR_ONLY, kwargs=lambda w: {"product_id": w.product.pk}),
    ("POST", "api:auth-phone"): Row(VISITOR_ONLY, body=_phone_code, json=True),
    ("GET", "api:checkout"): Row(VISITOR_ONLY),
    ("GET", "api:order-list"): Row(VISITOR_ONLY),
    # Placing an order needs an authorised phone: a visitor without one is refused.
    ("POST", "api:order-list"): Row(E(U401, {(OTHER_CUSTOMER, CUSTOMER): OK, VISITOR: F403}), body=_checkout,
                                    json=True),
    ("GET", "api:order-detail"): Row(OWNER_ONLY, kwargs=_order()),
    ("POST", "api:order-pay"): Row(OWNER_ONLY, kwargs=_order("unpaid_order")),
    ("POST", "api:order-sync"): Row(OWNER_ONLY, kwargs=_order("unpaid_order")),
    ("POST", "api:order-cancel"): Row(OWNER_ONLY, kwargs=_order("unpaid_order")),
    # Reducing a paid order before its cut-off (the day after tomorrow's: always open).
    ("POST", "api:order-lines"): Row(OWNER_ONLY, kwargs=_order("changeable_order"), json=True,
                                     body=lambda w, r: {"lines": [{"product_id": w.product.pk, "quantity": "9"}]}),
    ("POST", "api:order-reorder"): Row(OWNER_ONLY, kwargs=_order()),
    ("GET", "api:coupon-list"): Row(VISITOR_ONLY),
    ("GET", "api:usual-list"): Row(VISITOR_ONLY),
    ("POST", "api:usual-add"): Row(E(U401, {(OTHER_CUSTOMER, CUSTOMER): OK, VISITOR: F403}),
                                   body=lambda w, r: {}, json=True),
    ("PATCH", "api:usual-mark"): Row(E(U401, {(OTHER_CUSTOMER, CUSTOMER): OK, VISITOR: F403}),
                                     kwargs=lambda w: {"product_id": w.product.pk},
                                     body=lambda w, r: {"state": "pinned"}, json=True),
    ("GET", "api:usual-reminder"): Row(E(U401, {(OTHER_CUSTOMER, CUSTOMER): OK, VISITOR: F403})),
    ("PUT", "api:usual-reminder"): Row(E(U401, {(OTHER_CUSTOMER, CUSTOMER): OK, VISITOR: F403}),
                                       body=lambda w, r: {"enabled": False}, json=True),
    ("GET", "api:order-aftersales"): Row(OWNER_ONLY, kwargs=_order("delivered_order")),
    # After-sales: a customer's own requests only (multipart bodies, photos included).
    ("GET", "api:aftersales-list"): Row(VISITOR_ONLY),
    ("POST", "api:aftersales-list"): Row(OWNER_ONLY, body=_aftersales),
    ("GET", "api:aftersales-detail"): Row(OWNER_ONLY, kwargs=lambda w: {"request_id": w.aftersales_request.pk}),
    ("POST", "api:aftersales-photos"): Row(OWNER_ONLY, kwargs=lambda w: {"request_id": w.aftersales_request.pk},
                                           body=lambda w, r: {"photos": jpeg()}),
    # Complaints: a customer's own only (about their own order); a visitor without a restaurant
    # cannot file one.
    ("GET", "api:complaint-list"): Row(VISITOR_ONLY),
    ("POST", "api:complaint-list"): Row(E(U401, {CUSTOMER: OK, OTHER_CUSTOMER: N404, VISITOR: F403}),
                                        body=_complaint_on_order),
    ("GET", "api:complaint-detail"): Row(OWNER_ONLY, kwargs=lambda w: {"complaint_id": w.complaint.pk}),


    # The customer's messages and subscribe-message consent (their own WeChat user's).
    ("GET", "api:message-list"): Row(VISITOR_ONLY),
    ("POST", "api:subscribe-consents"): Row(VISITOR_ONLY, body=_subscribe_result, json=True),
    # The rep assistant's API (session) and its feed poll (a signed token from /rep/me).
    ("GET", "api:rep-me"): Row(REP_API),
    ("GET", "api:rep-summary"): Row(REP_API),
    ("GET", "api:rep-customers"): Row(REP_API),
    ("GET", "api:rep-customer"): Row(REP_OWN_CUSTOMER, kwargs=lambda w: {"customer_id": w.customer.pk}),
    ("POST", "api:rep-customer-notes"): Row(REP_OWN_CUSTOMER, kwargs=lambda w: {"customer_id": w.customer.pk},
                                            body=lambda w, r: {"note": "又去了一次"}, json=True),
    ("GET", "api:rep-customer-tags"): Row(REP_OWN_CUSTOMER, kwargs=lambda w: {"customer_id": w.customer.pk}),
    ("PUT", "api:rep-customer-tags"): Row(REP_OWN_CUSTOMER, kwargs=lambda w: {"customer_id": w.customer.pk},
                                          body=lambda w, r: {"tag_ids": [w.tag.pk]}, json=True),
    ("GET", "api:rep-feed"): Row(REP_API),
    ("GET", "api:rep-feed-poll"): Row(E(U401, {(REP, OTHER_REP): OK}), headers=_feed_token),
    ("GET", "api:rep-inbox"): Row(REP_API),
    ("GET", "api:rep-nearby"): Row(REP_API, query="latitude=22.54&longitude=114.06"),
    ("GET", "api:rep-wecom-contacts"): Row(REP_API),
    # Rep tasks of campaigns: only the rep's own customers' tasks (another rep's: 404).
    ("GET", "api:rep-campaign-tasks"): Row(REP_API),
    ("POST", "api:rep-campaign-task-sent"): Row(REP_OWN_CUSTOMER, kwargs=lambda w: {"task_id": w.campaign_task.pk},
                                                body=lambda w, r: {}, json=True),
    # Campaign results: staff holding campaigns.view_campaign.
    ("GET", "api:campaign-results"): Row(E(F403, {ANON: U401, (STAFF, SUPERUSER): OK})),
    # A campaign's tracked link: anyone holding it (it is signed); it redirects into the shop.
    ("GET", "campaign-link"): Row(E(REDIRECT), kwargs=lambda w: {"token": w.campaign_link_token}),
    # Public pages and machine endpoints.
    ("GET", ""): Row(E(REDIRECT)),
    ("GET", "api-schema"): Row(E(OK)),
    ("GET", "api-docs"): Row(E(OK)),
    ("GET", "healthz"): Row(E(OK)),
    ("GET", "readyz"): Row(E(OK)),
    ("GET", "favicon"): Row(E(REDIRECT)),
    # WeChat Pay's notifications are authenticated by signature, never by who sends them.
    ("POST", "wechatpay-notify"): Row(E(U401), body=lambda w, r: {"id": "forged"}, json=True),
    # WeCom's callback likewise: a forged verification or event is refused (400) to everyone.
    ("GET", "wecom-callback"): Row(E(BAD), query="msg_signature=00&timestamp=1&nonce=1&echostr=AAAA"),
    ("POST", "wecom-callback"): Row(E(BAD), query="msg_signature=00&timestamp=1&nonce=1",
                                    body=lambda w, r: {"Encrypt": "forged"}),
    ("GET", "batch-trace"): Row(E(OK), kwargs=lambda w: {"code": w.batch.code}),
    # Uploaded files (served by Django only with SERVE_MEDIA): public pictures; a delivery's proof
    # photo is not among them, whoever asks (admin's photo view hands it to staff).
    ("GET", "media"): Row(E(N404), kwargs=lambda w: {"path": w.proof_stop.photo.name}, optional=True),
    # The mini-site: shells; their data comes from the API above.
    ("GET", "catalog:shop"): Row(E(OK)),
    ("GET", "catalog:product"): Row(E(OK), kwargs=lambda w: {"code": w.product.code}),
    ("GET", "catalog:cart"): Row(E(OK)),
    ("GET", "catalog:checkout"): Row(E(OK)),
    ("GET", "catalog:orders"): Row(E(OK)),
    ("GET", "catalog:usuals"): Row(E(OK)),
    ("GET", "catalog:coupons"): Row(E(OK)),
    ("GET", "catalog:messages"): Row(E(OK)),
    ("GET", "catalog:order"): Row(E(OK), kwargs=_order()),
    ("GET", "catalog:aftersales-new"): Row(E(OK), kwargs=_order("delivered_order")),
    ("GET", "catalog:aftersales-list"): Row(E(OK)),
    ("GET", "catalog:aftersales"): Row(E(OK), kwargs=lambda w: {"request_id": w.aftersales_request.pk}),
    ("GET", "complaints:list"): Row(E(OK)),
    ("GET", "complaints:new"): Row(E(OK)),
    ("GET", "complaints:detail"): Row(E(OK), kwargs=lambda w: {"complaint_id": w.complaint.pk}),
    # The rep assistant's pages.
    ("GET", "rep:assistant"): Row(E(OK)),
    ("GET", "rep:login"): Row(E(OK, {(REP, OTHER_REP): REDIRECT})),
    ("POST", "rep:login"): Row(E(FORM, {(REP, OTHER_REP): REDIRECT}), body=_credentials, login=True),
    ("POST", "rep:logout"): Row(E(LOGIN)),
    ("GET", "rep:customer"): Row(E(F403, {NOT_SIGNED_IN: LOGIN, REP: OK, OTHER_REP: N404}),
                                 kwargs=lambda w: {"customer_id": w.customer.pk}),
    ("GET", "rep:nearby"): Row(REP_PAGE),
    ("GET", "rep:qr"): Row(REP_PAGE),
    ("GET", "rep:card"): Row(REP_PAGE),
    # The world's reps have no WeCom account, so no contact-me code: a rep gets the 404 that says so.
    ("GET", "rep:contact-qr"): Row(E(F403, {NOT_SIGNED_IN: LOGIN, (REP, OTHER_REP): N404})),
    # Staff phone pages: one login for the warehouse and the drivers.
    ("GET", "logistics:ops-login"): Row(E(OK)),
    ("POST", "logistics:ops-login"): Row(E(FORM, {(PURCHASING, CLERK, DELIVERY, SUPERUSER): REDIRECT}),
                                         body=_credentials, login=True),
    ("POST", "logistics:ops-logout"): Row(E(LOGIN)),
    ("GET", "logistics:purchasing-tasks"): Row(PURCHASING_PAGE),
    ("GET", "logistics:purchasing-task"): Row(PURCHASING_PAGE, kwargs=lambda w: {"task_id": w.task.pk}),
    ("POST", "logistics:purchasing-task"): Row(E(F403, {NOT_SIGNED_IN: LOGIN, PURCHASING: REDIRECT}),
                                               kwargs=lambda w: {"task_id": w.task.pk}, body=_collect),
    ("GET", "logistics:receiving-new"): Row(CLERK_PAGE),
    ("POST", "logistics:receiving-new"): Row(CLERK_WRITE, body=_receipt),
    ("GET", "logistics:receiving-lookup"): Row(CLERK_PAGE, query="code=AZFISH01"),
    ("GET", "logistics:receiving-detail"): Row(CLERK_PAGE, kwargs=lambda w: {"receipt_id": w.receipt.pk}),
    ("GET", "logistics:receiving-labels"): Row(CLERK_PAGE, kwargs=lambda w: {"receipt_id": w.receipt.pk}),
    ("GET", "logistics:packing_list"): Row(CLERK_PAGE),
    ("GET", "logistics:packing_order"): Row(CLERK_PAGE, kwargs=_order("paid_order")),
    ("POST", "logistics:packing_order"): Row(CLERK_WRITE, kwargs=_order("packing_order"), body=_pack),
    ("POST", "logistics:packing_start"): Row(CLERK_WRITE, kwargs=_order("paid_order")),
    ("GET", "logistics:packing_result"): Row(CLERK_PAGE, kwargs=_order()),
    ("GET", "logistics:delivery_run"): Row(DRIVER_PAGE),
    ("GET", "logistics:delivery_run_json"): Row(DRIVER_PAGE),
    ("POST", "logistics:delivery_run_start"): Row(DRIVER_WRITE, kwargs=lambda w: {"run_id": w.run.pk}),
    ("GET", "logistics:delivery_stop"): Row(DRIVER_PAGE, kwargs=lambda w: {"stop_id": w.stop.pk}),
    ("POST", "logistics:delivery_stop_complete"): Row(DRIVER_WRITE, kwargs=lambda w: {"stop_id": w.stop.pk},
                                                      body=_proof),
    ("POST", "logistics:delivery_stop_fail"): Row(DRIVER_WRITE, kwargs=lambda w: {"stop_id": w.stop.pk},
                                                  body=lambda w, r: {"reason": "店门未开"}),
    # The dev WeChat client (only with WECHAT_BACKEND=dev): a device cookie or a signed payment
    # is the credential, never a role.
    ("POST", "wechat:dev-login"): Row(E(OK), optional=True),
    ("POST", "wechat:dev-phone-code"): Row(E(U401), body=lambda w, r: {"phone": "13800009999"}, json=True,
                                           optional=True),
    ("POST", "wechat:dev-pay-confirm"): Row(E(BAD), body=lambda w, r: {"appId": "x"}, json=True, optional=True),
    ("GET", "wechat:dev-pay-sheet"): Row(E(N404), kwargs=lambda w: {"prepay_id": "wx-nope"}, optional=True),
    ("GET", "wechat:dev-wecom-add"): Row(E(N404), kwargs=lambda w: {"config_id": "dev-nope"}, optional=True),
    ("POST", "wechat:dev-wecom-add"): Row(E(N404), kwargs=lambda w: {"config_id": "dev-nope"},
                                          body=lambda w, r: {"name": "王"}, optional=True),
    # Admin: the site's own pages and every ModelAdmin's extra views (standard views: ADMIN_DESIGN).
    ("GET", "admin:index"): Row(ADMIN_PAGE),
    ("GET", "admin:login"): Row(E(OK, {ADMIN: REDIRECT})),
    ("POST", "admin:login"): Row(E(FORM, {ADMIN: REDIRECT}), body=_credentials, login=True),
    ("POST", "admin:logout"): Row(E(REDIRECT, {ADMIN: OK})),  # staff see admin's "logged out" page
    ("GET", "admin:password_change"): Row(ADMIN_PAGE),
    ("GET", "admin:password_change_done"): Row(ADMIN_PAGE),
    ("GET", "admin:autocomplete"): Row(ADMIN_PAGE, query="app_label=customers&model_name=customer&field_name=rep"),
    ("GET", "admin:jsi18n"): Row(ADMIN_PAGE),
    ("GET", "admin:view_on_site"): Row(E(LOGIN, {ADMIN: N404}), kwargs=lambda w: w.view_on_site),
    ("GET", "admin:app_list"): Row(ADMIN_PAGE, kwargs=lambda w: {"app_label": "orders"}),
    ("GET", "admin:auth_user_password_change"): Row(E(LOGIN, {STAFF: F403, SUPERUSER: OK}),
                                                     kwargs=lambda w: {"id": w.users[STAFF].pk}),
    ("GET", "admin/(?P<url>.*)$"): Row(E(LOGIN, {ADMIN: N404}), extra={"path": "/admin/no/such/page/"}),
    ("GET", "admin:catalog_product_import"): Row(ADMIN_PAGE),
    ("GET", "admin:catalog_product_export"): Row(ADMIN_PAGE),
    ("POST", "admin:customers_churn_run"): Row(E(LOGIN, {ADMIN: REDIRECT})),
    ("GET", "admin:logistics_purchasetask_build"): Row(ADMIN_PAGE),
    ("GET", "admin:logistics_deliveryrun_build"): Row(ADMIN_PAGE),
    ("POST", "admin:logistics_inventoryvaluesnapshot_record"): Row(E(LOGIN, {ADMIN: REDIRECT})),
    ("GET", "admin:logistics_stop_photo"): Row(ADMIN_PAGE, kwargs=lambda w: {"object_id": w.proof_stop.pk}),
    ("GET", "admin:reps_rep_dashboard"): Row(ADMIN_PAGE),
    # The company dashboard and its CSV exports: staff holding dashboard.view_company_dashboard
    # (the world's staff hold every product permission; without it: test_company_dashboard_*).
    ("GET", "dashboard:company"): Row(ADMIN_PAGE, query="start=2026-11-01&end=2026-11-30"),
    ("GET", "dashboard:company-csv"): Row(ADMIN_PAGE, kwargs=lambda w: {"table": "reps"}),
    # The segment form's live count (JSON; POST only, a GET is 405 to staff).
    ("POST", "admin:crm_segment_count"): Row(ADMIN_PAGE, body=lambda w, r: {"tags": [str(w.tag.pk)],
                                                                            "category_mode": "bought"}),
    ("GET", "admin:aftersales_aftersalesrequest_decide"): Row(
        ADMIN_PAGE, kwargs=lambda w: {"object_id": w.aftersales_request.pk}),
    ("GET", "admin:aftersales_aftersalesrequest_goodwill"): Row(ADMIN_PAGE, kwargs=lambda w: {"order_id": w.order.pk}),
    ("GET", "admin:complaints_complaint_reply"): Row(ADMIN_PAGE, kwargs=lambda w: {"object_id": w.complaint.pk}),
    ("GET", "admin:coupons_coupontemplate_issue"): Row(ADMIN_PAGE, kwargs=lambda w: {"object_id": w.coupon_template.pk}),
    ("POST", "admin:coupons_coupontemplate_issue"): Row(E(LOGIN, {ADMIN: REDIRECT}),
                                                        kwargs=lambda w: {"object_id": w.coupon_template.pk},
                                                        body=lambda w, r: {"phones": w.customer.phone}),
    ("GET", "admin:campaigns_campaign_send"): Row(ADMIN_PAGE, kwargs=lambda w: {"object_id": w.draft_campaign.pk}),
    ("POST", "admin:campaigns_campaign_send"): Row(E(LOGIN, {ADMIN: REDIRECT}),
                                                   kwargs=lambda w: {"object_id": w.draft_campaign.pk},
                                                   body=lambda w, r: {}),
    ("GET", "admin:reps_rep_qr"): Row(ADMIN_PAGE, kwargs=lambda w: {"object_id": w.rep.pk}),
    ("GET", "admin:reps_rep_handover"): Row(ADMIN_PAGE, kwargs=lambda w: {"object_id": w.rep.pk}),
}

# What a staff member holding every permission of a model may do in admin: v(iew), a(dd),
# c(hange), d(elete). Anything else is refused even to the superuser: e.g. orders are created
# only by checkout (DESIGN: "Django admin cannot add orders"), history is never edited.
ADMIN_DESIGN = {
    "auth.group": "vacd", "auth.user": "vacd",
    "django_celery_beat.periodictask": "vacd", "django_celery_beat.clockedschedule": "vacd",
    "django_celery_beat.crontabschedule": "vacd", "django_celery_beat.solarschedule": "vacd",
    "django_celery_beat.intervalschedule": "vacd",
    "catalog.category": "vacd", "catalog.product": "vacd", "catalog.cart": "vd", "catalog.pricelist": "vacd",
    "customers.customer": "vacd", "customers.visitor": "vd", "customers.churnsettings": "vc",
    "customers.churnevent": "v", "customers.churnsnapshot": "vd",
    "reps.rep": "vacd", "reps.handover": "v", "reps.entryevent": "v", "reps.visitnote": "vd",
    "reps.wecomcontact": "v", "reps.wecomcontactevent": "v",
    "orders.order": "vc", "orders.ordersettings": "vc", "orders.payment": "v", "orders.paymentnotification": "v",
    "orders.refund": "v", "usuals.usualsettings": "vc",
    "usuals.lostitemalert": "v", "usuals.cutoffreminder": "v", "usuals.reminderoptout": "v",
    "logistics.supplier": "vacd", "logistics.stock": "v", "logistics.stockmove": "v", "logistics.purchasetask": "vcd",
    "logistics.receipt": "v", "logistics.batch": "v", "logistics.deliveryrun": "vc", "logistics.stop": "v",
    "logistics.driver": "vacd", "logistics.deliverysettings": "vc", "logistics.inventoryvaluesnapshot": "v",
    "notifications.notification": "vc", "notifications.subscribeconsent": "v",
    "core.loginlock": "vd", "axes.accesslog": "v",
    "crm.taggroup": "vacd", "crm.tag": "vacd", "crm.autotagsettings": "vc", "crm.categorysharerule": "vacd",
    "crm.segment": "vacd", "crm.welcomesettings": "vc", "crm.welcomedue": "v",
    "coupons.coupontemplate": "vacd", "coupons.couponissue": "v", "coupons.coupon": "v",
    "coupons.couponredemption": "v",
    "campaigns.campaign": "vacd", "campaigns.campaignsettings": "vc", "campaigns.campaignrecipient": "v",
    "campaigns.monthlycontact": "v",
    "aftersales.aftersalessettings": "vc", "aftersales.aftersalesrequest": "vc", "aftersales.aftersalesdecision": "v",
    "complaints.complaintsettings": "vc", "complaints.complaintstaff": "vacd", "complaints.complaint": "vc",
}
# Staff hold every permission of the product's apps but none of user and group management.
STAFF_HAS_NO_PERMISSIONS_IN = {"auth"}
ADMIN_VIEWS = {"changelist": "v", "add": "a", "change": "v", "delete": "d", "history": "v"}


def _admin_rows() -> dict:
    """Every registered ModelAdmin's standard views, judged against ADMIN_DESIGN; a model with no
    design entry gets no rows (and fails test_every_url_and_operation_has_a_row)."""
    rows = {}
    for model in admin.site._registry:
        opts = model._meta
        design = ADMIN_DESIGN.get(opts.label_lower)
        if design is None:
            continue
        info = f"admin:{opts.app_label}_{opts.model_name}"
        one = (lambda m: lambda w: {"object_id": w.admin_objects[m].pk})(model)

        def expect(allowed, app=opts.app_label):
            staff = allowed and app not in STAFF_HAS_NO_PERMISSIONS_IN
            return E(LOGIN, {STAFF: OK if staff else F403, SUPERUSER: OK if allowed else F403})

        for view, needs in ADMIN_VIEWS.items():
            rows[("GET", f"{info}_{view}")] = Row(expect(needs in design),
                                                  kwargs=None if view in ("changelist", "add") else one)
        # Writes that are not in the design are refused to everyone, superuser included.
        if "a" not in design:
            rows[("POST", f"{info}_add")] = Row(expect(False), body=lambda w, r: {})
        if "c" not in design:
            rows[("POST", f"{info}_change")] = Row(expect(False), kwargs=one, body=lambda w, r: {})
        # The object's bare URL redirects to its change page (then to the login, for everyone else).
        rows[("GET", f"admin/{opts.app_label}/{opts.model_name}/<path:object_id>/")] = Row(
            E(LOGIN, {ADMIN: REDIRECT}), kwargs=one)
    return rows


ROWS = {**TABLE, **_admin_rows()}


def test_every_url_and_operation_has_a_row():
    routes = discovered_routes()
    keys_with_rows = {key for _, key in ROWS}
    problems = []
    for key, (route, callback) in routes.items():
        if key not in keys_with_rows:
            problems.append(f"no row for /{route} ({key}): add it to TABLE or ADMIN_DESIGN")
        for method in drf_methods(callback):
            if (method, key) not in ROWS:
                problems.append(f"no row for {method} /{route} ({key})")
    by_path = {openapi_path(route): key for key, (route, _) in routes.items()}
    for method, path in schema_operations():
        if (method, by_path.get(path)) not in ROWS:
            problems.append(f"no row for the schema's {method} {path}")
    for (method, key), row in ROWS.items():
        if key not in routes and not row.optional:
            problems.append(f"row {method} {key} names no URL: remove it or mark it optional")
    for model in admin.site._registry:
        if model._meta.label_lower not in ADMIN_DESIGN:
            problems.append(f"{model._meta.label_lower} is in admin but not in ADMIN_DESIGN")
    assert not problems, "\n".join(problems)


# --- Running the table -----------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _clean_cache():
    """Overrides conftest's per-test flush: the world's sessions stay in the cache across rows
    (the module's first use flushes it, in `world`)."""
    yield


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once for the module inside a transaction that is rolled back at its end; each
    row runs in a savepoint inside it, each write of each role in one more."""
    files = tmp_path_factory.mktemp("authz-files")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=files / "media",
                                                        PRIVATE_MEDIA_ROOT=files / "private-media"):
        cache.clear()
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            world = build_world()
            world.objects["admin_objects"] = {model: model._default_manager.order_by("pk").first()
                                              for model in admin.site._registry}
            world.objects["view_on_site"] = {
                "content_type_id": ContentType.objects.get_for_model(world.product).pk,
                "object_id": world.product.pk}
            yield world
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def _request(world, key, row, role):
    method = key[0]
    client = world.client(None if row.login else role)
    url = url_for(key[1], row, world)
    data = row.body(world, role) if row.body else None
    headers = row.headers(world, role) if row.headers else {}
    send = getattr(client, method.lower())
    if row.json:
        return client, send(url, data=data or {}, content_type="application/json", **headers)
    if method in ("PUT", "DELETE"):
        return client, send(url, **headers)
    return client, (send(url, data or {}, **headers) if method == "POST" else send(url, **headers))


def _try(world, key, row, role, write, before) -> list:
    """What is wrong with `role`'s answer on this row. `before`: rows written so far (writes)."""
    expected = row.expect[role]
    try:
        client, response = _request(world, key, row, role)
    except Exception as error:  # a 500: as wrong as a hole
        return [f"{role}: raised {error!r}"]
    wrong = []
    got = classify(response, row)
    if got != expected:
        body = response_text(response)[:160]
        wrong.append(f"{role}: expected {expected}, got {got} ({response.status_code} {body!r})")
    leaked = leaks(response_text(response), role)
    if leaked:
        wrong.append(f"{role}: the response shows {leaked}")
    if row.login and got == FORM and "_auth_user_id" in client.session:
        wrong.append(f"{role}: refused at the login form but signed in")
    if write and expected not in ALLOWED and rows_written() != before:
        wrong.append(f"{role}: refused ({got}) but the database changed")
    return wrong


@pytest.mark.django_db
@pytest.mark.parametrize("key", sorted(ROWS, key=lambda k: (k[1], k[0])), ids=lambda k: f"{k[0]} {k[1] or '/'}")
def test_authorisation_table(world, key):
    row = ROWS[key]
    if key[1] not in discovered_routes():
        pytest.skip(f"{key[1]} is not mounted in this configuration")
    write = key[0] in ("POST", "PUT", "PATCH", "DELETE")
    wrong = []
    for role in ROLES:
        # A write runs in a savepoint rolled back after it; reads share the row's savepoint.
        with transaction.atomic() if write else contextlib.nullcontext():
            before = rows_written() if write and row.expect[role] not in ALLOWED else None
            wrong += _try(world, key, row, role, write, before)
            if write:
                transaction.set_rollback(True)
    assert not wrong, f"{key[0]} {key[1]}:\n" + "\n".join(wrong)


@pytest.mark.django_db
def test_company_dashboard_is_refused_to_staff_without_its_permission(client):
    """The table's staff hold every permission; staff holding all but the dashboard's get 403."""
    from django.contrib.auth.models import Permission, User
    from django.urls import reverse

    staff = User.objects.create_user(username="authz-staff-no-dashboard", password=PASSWORD, is_staff=True)
    staff.user_permissions.set(Permission.objects.exclude(content_type__app_label__in=["auth", "dashboard"]))
    client.force_login(staff)
    for url in (reverse("dashboard:company"), reverse("dashboard:company-csv", args=["daily"])):
        assert client.get(url).status_code == 403
