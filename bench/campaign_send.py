#!/usr/bin/env python
"""Campaign benchmark: sending a rep-task campaign with a coupon to a 50,000-customer segment, and
its results, against the raw SQL of the same writes measured in the same run.

    .venv/bin/python bench/campaign_send.py [--customers 50000] [--repeat 3]

Data (its own database, default `seafood_bench_campaigns`, made once and reused): --customers customers
spread over 100 reps (one in 20 without a rep), all carrying the tag of the segment, and a coupon
template. Each round starts from no campaign (recipients, cap counters and coupons deleted), then:

  (a) the raw baseline: in one transaction, the same rows written by three hand-written statements
      — INSERT … SELECT of the recipients from the segment, the cap counters' INSERT … ON CONFLICT
      DO UPDATE for the customers with a rep, and INSERT … SELECT of their coupons — nothing else;
  (b) campaigns.services.campaign_send_start + campaign_send_process (batches of 2,000: reach,
      cap, coupons into one issue, statuses), the product's path;
  (c) campaigns.results.campaign_results for that campaign (all tasks marked sent first).

Prints medians, (b)/(a), the statements each run sent and the peak memory of (b) (tracemalloc,
in an extra untimed run). Read the ratio, not the seconds: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import churn_sweep as churn  # noqa: E402 - its database and Django set-up

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/seafood_bench_campaigns"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/4"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_CAMPAIGN_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    args = parser.parse_args(argv)
    if args.customers < 100 or args.repeat < 1:
        parser.error("--customers >= 100, --repeat >= 1")
    return args


def sql(statement, params=None, *, fetch=False):
    return churn.sql(statement, params, fetch=fetch)


def generate(customers: int):
    """The reps, customers, tag, segment and coupon template, made once (set-based)."""
    from datetime import timedelta

    from django.utils import timezone

    from coupons.models import CouponTemplate
    from crm.models import Segment, Tag, TagGroup
    from customers.models import Customer
    from reps.models import Rep

    segment = Segment.objects.filter(name="压测分群").first()
    if segment is not None and Customer.objects.count() == customers:
        return segment, CouponTemplate.objects.get(name="压测券")
    print(f"  generating {customers:,} customers", flush=True)
    for table in ("campaigns_campaignrecipient", "campaigns_monthlycontact", "campaigns_campaign",
                  "coupons_coupon", "coupons_couponissue", "coupons_coupontemplate", "crm_segment_tags",
                  "crm_segment", "crm_customertag", "crm_tag", "crm_taggroup", "customers_customer", "reps_rep"):
        sql(f"DELETE FROM {table}")
    Rep.objects.bulk_create([Rep(name=f"压测业务员{n}") for n in range(100)])
    rep_ids = list(Rep.objects.values_list("pk", flat=True))
    Customer.objects.bulk_create([
        Customer(name=f"压测餐厅{n}", phone=f"139{n:08d}", rep_id=None if n % 20 == 0 else rep_ids[n % len(rep_ids)])
        for n in range(customers)], batch_size=5000)
    tag = Tag.objects.create(group=TagGroup.objects.create(name="压测组"), name="压测")
    sql("INSERT INTO crm_customertag (customer_id, tag_id, source, created_at) "
        "SELECT id, %s, 'manual', now() FROM customers_customer", [tag.pk])
    segment = Segment.objects.create(name="压测分群")
    segment.tags.set([tag])
    today = timezone.localdate()
    template = CouponTemplate.objects.create(name="压测券", amount_off="10.00", valid_from=today,
                                             valid_to=today + timedelta(days=3650), per_customer_limit=1000)
    sql("ANALYZE")
    return segment, template


def reset():
    for table in ("campaigns_campaignrecipient", "campaigns_monthlycontact", "campaigns_campaign", "coupons_coupon",
                  "coupons_couponissue", "bench_raw_recipient"):
        sql(f"DELETE FROM {table}") if table != "bench_raw_recipient" else sql(f"DROP TABLE IF EXISTS {table}")


def baseline(segment, template) -> float:
    """The same writes as hand-written SQL: recipients, the cap counters, the coupons."""
    from django.db import transaction

    from crm.segments import segment_filters, segment_queryset

    select, params = segment_queryset(segment_filters(segment)).values_list("pk", "rep_id").query.sql_with_params()
    started = time.perf_counter()
    with transaction.atomic():
        sql("CREATE TABLE bench_raw_recipient (customer_id bigint, rep_id bigint, status varchar(12))")
        sql(f'INSERT INTO bench_raw_recipient SELECT s."pk", s."rep_id", \'pending\' FROM ({select}) s', params)
        sql("INSERT INTO campaigns_monthlycontact (customer_id, month, count) "
            "SELECT customer_id, date_trunc('month', now())::date, 1 FROM bench_raw_recipient "
            "WHERE rep_id IS NOT NULL ORDER BY customer_id "
            "ON CONFLICT (customer_id, month) DO UPDATE SET count = campaigns_monthlycontact.count + 1 "
            "WHERE campaigns_monthlycontact.count < 1000")
        issue = sql("INSERT INTO coupons_couponissue (template_id, audience, issued_by, issued_count, skipped_count, "
                    "created_at, updated_at) VALUES (%s, 'raw', '', 0, 0, now(), now()) RETURNING id",
                    [template.pk], fetch=True)[0][0]
        sql("INSERT INTO coupons_coupon (template_id, customer_id, issue_id, created_at, updated_at) "
            "SELECT %s, customer_id, %s, now(), now() FROM bench_raw_recipient WHERE rep_id IS NOT NULL",
            [template.pk, issue])
    return time.perf_counter() - started


def send(segment, template) -> tuple[float, int, object]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns.models import Campaign
    from campaigns.services import campaign_send_process, campaign_send_start

    campaign = Campaign.objects.create(name="压测活动", segment=segment, title="压测", text="压测消息",
                                       coupon_template=template)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        campaign_send_start(campaign_id=campaign.pk)
        campaign_send_process(campaign_id=campaign.pk)
        elapsed = time.perf_counter() - started
    return elapsed, len(queries), campaign


def results(campaign) -> tuple[float, int, dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from campaigns.models import CampaignRecipient
    from campaigns.results import campaign_results

    CampaignRecipient.objects.filter(campaign=campaign, status="pending").update(status="sent", sent_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        rows = campaign_results([campaign.pk])
        elapsed = time.perf_counter() - started
    return elapsed, len(queries), rows[0]


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ["CELERY_BROKER_URL"] = "memory://"  # the send's task message goes nowhere: this script runs it
    churn.setup_django(args)
    from campaigns.models import CampaignSettings

    settings = CampaignSettings.current()
    settings.monthly_cap = 31
    settings.save()
    segment, template = generate(args.customers)
    raw, product, read, statements = [], [], [], {}
    for round_no in range(args.repeat):
        reset()
        raw.append(baseline(segment, template))
        reset()
        seconds, statements["send"], campaign = send(segment, template)
        product.append(seconds)
        seconds, statements["results"], figures = results(campaign)
        read.append(seconds)
        print(f"  round {round_no + 1}: raw {raw[-1]:.2f} s, send {product[-1]:.2f} s, results {read[-1]:.2f} s",
              flush=True)
    reset()
    tracemalloc.start()
    send(segment, template)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    reset()
    raw_s, send_s, read_s = (statistics.median(v) for v in (raw, product, read))
    print(f"\ncampaign to {args.customers:,} customers ({figures['recipients']:,} recipients, "
          f"{figures['sent']:,} reached, {figures['no_rep']:,} without a rep), medians of {args.repeat}:")
    print(f"  (a) raw SQL of the same writes      {raw_s:7.2f} s")
    print(f"  (b) campaign_send_start + process   {send_s:7.2f} s   {send_s / raw_s:5.2f}x (a)   "
          f"{statements['send']} statements, peak {peak:.1f} MiB traced")
    print(f"  (c) campaign_results                {read_s:7.2f} s   {statements['results']} statements")
    return 0


if __name__ == "__main__":
    sys.exit(main())
