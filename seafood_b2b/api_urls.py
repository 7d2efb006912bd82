"""Version 1 of the JSON API: what a real WeChat mini program calls."""

from django.urls import path

from aftersales import api as aftersales_api
from campaigns import api as campaigns_api
from catalog import api as catalog_api
from complaints import api as complaints_api
from coupons import api as coupons_api
from crm import api as crm_api
from customers import api as customers_api
from notifications import api as notifications_api
from orders import api as orders_api
from reps import api as reps_api
from usuals import api as usuals_api

urlpatterns = [
    path("auth/session", customers_api.SessionApi.as_view(), name="auth-session"),
    path("entries", customers_api.EntryApi.as_view(), name="entries"),
    path("catalog/categories", catalog_api.category_list, name="category-list"),
    path("catalog/products", catalog_api.product_list, name="product-list"),
    path("catalog/products/<str:code>", catalog_api.ProductDetailApi.as_view(), name="product-detail"),
    path("cart", catalog_api.CartApi.as_view(), name="cart"),
    path("cart/lines", catalog_api.CartLineListApi.as_view(), name="cart-lines"),
    path("cart/lines/<int:product_id>", catalog_api.CartLineDetailApi.as_view(), name="cart-line"),
    path("auth/phone", orders_api.PhoneApi.as_view(), name="auth-phone"),
    path("checkout", orders_api.CheckoutApi.as_view(), name="checkout"),
    path("orders", orders_api.OrderListApi.as_view(), name="order-list"),
    path("orders/<uuid:order_id>", orders_api.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<uuid:order_id>/pay", orders_api.OrderPayApi.as_view(), name="order-pay"),
    path("orders/<uuid:order_id>/sync", orders_api.OrderSyncApi.as_view(), name="order-sync"),
    path("orders/<uuid:order_id>/cancel", orders_api.OrderCancelApi.as_view(), name="order-cancel"),
    path("orders/<uuid:order_id>/lines", orders_api.OrderLinesChangeApi.as_view(), name="order-lines"),
    path("orders/<uuid:order_id>/reorder", orders_api.OrderReorderApi.as_view(), name="order-reorder"),
    path("coupons", coupons_api.CouponListApi.as_view(), name="coupon-list"),
    path("usuals", usuals_api.usual_list_view, name="usual-list"),
    path("usuals/add", usuals_api.UsualAddApi.as_view(), name="usual-add"),
    path("usuals/reminder", usuals_api.UsualReminderApi.as_view(), name="usual-reminder"),
    path("usuals/<int:product_id>", usuals_api.UsualMarkApi.as_view(), name="usual-mark"),
    path("orders/<uuid:order_id>/aftersales", aftersales_api.OrderAfterSalesApi.as_view(), name="order-aftersales"),
    path("aftersales", aftersales_api.AfterSalesListApi.as_view(), name="aftersales-list"),
    path("aftersales/<int:request_id>", aftersales_api.AfterSalesDetailApi.as_view(), name="aftersales-detail"),
    path("aftersales/<int:request_id>/photos", aftersales_api.AfterSalesPhotosApi.as_view(), name="aftersales-photos"),
    path("complaints", complaints_api.ComplaintListApi.as_view(), name="complaint-list"),
    path("complaints/<int:complaint_id>", complaints_api.ComplaintDetailApi.as_view(), name="complaint-detail"),
    path("messages", notifications_api.MessageListApi.as_view(), name="message-list"),
    path("messages/subscriptions", notifications_api.SubscribeConsentApi.as_view(), name="subscribe-consents"),
    path("rep/me", reps_api.MeApi.as_view(), name="rep-me"),
    path("rep/summary", reps_api.summary, name="rep-summary"),
    path("rep/customers", reps_api.customers, name="rep-customers"),
    path("rep/customers/<int:customer_id>", reps_api.CustomerDetailApi.as_view(), name="rep-customer"),
    path("rep/customers/<int:customer_id>/notes", reps_api.VisitNoteApi.as_view(), name="rep-customer-notes"),
    path("rep/customers/<int:customer_id>/tags", crm_api.RepCustomerTagsApi.as_view(), name="rep-customer-tags"),
    path("rep/feed", reps_api.FeedApi.as_view(), name="rep-feed"),
    path("rep/feed/poll", reps_api.feed_poll, name="rep-feed-poll"),
    path("rep/inbox", reps_api.inbox, name="rep-inbox"),
    path("rep/nearby", reps_api.NearbyApi.as_view(), name="rep-nearby"),
    path("rep/wecom-contacts", reps_api.WeComContactsApi.as_view(), name="rep-wecom-contacts"),
    path("rep/campaign-tasks", campaigns_api.RepCampaignTasksApi.as_view(), name="rep-campaign-tasks"),
    path("rep/campaign-tasks/<int:task_id>/sent", campaigns_api.RepCampaignTaskSentApi.as_view(),
         name="rep-campaign-task-sent"),
    path("campaigns/results", campaigns_api.CampaignResultsApi.as_view(), name="campaign-results"),
]
