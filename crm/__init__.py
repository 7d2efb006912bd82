"""Customer operations: tags, automatic tags, segments and the welcome message.

The model API other parts build on (coupons to a segment, WeCom corp-tag mirroring):

- `TagGroup(name, kind=manual|auto, sort_order)` — 业态, 规模 (manual: people set them) or 购买偏好,
  RFM 分层 (auto: only the nightly rules set them).
- `Tag(group, name, sort_order, rfm_segment)` — unique per group; `rfm_segment` (a RfmSegment value)
  marks the tag the RFM rule gives, at most one tag per class.
- `CustomerTag(customer, tag, source=manual|auto, created_by, created_at)` — unique per
  (customer, tag); `customer.customer_tags`, `tag.customer_tags`. Manual rows only ever carry tags
  of manual groups, auto rows tags of automatic groups.
- `CategoryShareRule(category, threshold_percent, tag, is_active)` and `AutoTagSettings` (windows:
  category 90 days, RFM 365 days) — the automatic rules, edited in admin.
- `Segment(name, tags, reps, districts, near_latitude/near_longitude/radius_km, churn_statuses,
  last_order_from/to, spend_min/spend_max, category/category_mode)`.
- `CustomerSpend(customer, category or NULL for the total, amount)` — last night's spend over the
  category window, written by the automatic tags; segments' spend and category filters read it.
- `WelcomeSettings(is_active, title, text, link, coupon_template)` — the welcome; `WelcomeDue(customer,
  openid, coupon, released_at, released_by)` — a welcome owed to a new restaurant.

Functions:

- `crm.segments.segment_customer_ids(segment_or_filters)` → lazy queryset of customer ids, evaluated
  now (use it as `pk__in=`); `segment_count(segment_or_filters)` → int, the same query counted;
  `segment_filters(segment)` → `SegmentFilters` (also buildable by hand).
- `crm.services.customer_tags_set(customer_id=, tag_ids=, user=, rep=)` — a customer's manual tags
  become exactly `tag_ids` (rep: only their own customers); `crm.selectors.customer_tags(customer_id=)`.
- `crm.autotags.auto_tags_recompute(now=)` — the nightly run (Celery beat `crm-auto-tags`, 02:30).
- `crm.welcome.welcome_owe(customer=, visitor=)` — called by customers.services.customer_bind_phone
  when it creates a restaurant (a `WelcomeDue` row and the new-customer coupon); released into the
  outbox once by `welcome_on_consent(openid=)` (notifications.consent, an acceptance of `welcome`) or
  `welcome_on_first_payment(order=)` (orders.services.payments); `welcome_pending(customer_id=)`
  tells the checkout page to ask for the template.

The rules, exactly (category share at its edges, the RFM quintiles and classes) are in crm/rules.py's
docstring, shown in admin on 自动标签设置 and in the README.
"""
