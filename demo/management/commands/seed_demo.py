import os
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from demo.seed import DEFAULT_HISTORY_MONTHS, DEFAULT_SEED, DemoPlan, demo_has_products, demo_seed


class Command(BaseCommand):
    help = (
        "生成演示数据：分类、商品、库存、供应商、业务员、客户、访客、历史订单和管理员账号。"
        "可重复运行，已有的数据不会重复生成。"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale", type=float, default=1.0,
            help="规模倍数：1 = 3000 个商品、5000 家餐厅、10 个业务员、30 个供应商（可为小数）",
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"随机种子（默认 {DEFAULT_SEED}）")
        parser.add_argument(
            "--history-months", type=int, default=DEFAULT_HISTORY_MONTHS,
            help=f"生成最近几个月的历史订单，每家餐厅每月约 6 单（默认 {DEFAULT_HISTORY_MONTHS}，0 = 不生成）",
        )
        parser.add_argument(
            "--jobs", type=int, default=min(2, os.cpu_count() or 1),
            help="生成历史订单的并行进程数（仅 PostgreSQL；默认 CPU 核数，最多 2）",
        )
        parser.add_argument("--if-empty", action="store_true", help="已有商品时什么也不做")
        parser.add_argument(
            "--bulk", action="store_true",
            help="PostgreSQL 大规模快速生成（COPY/集合 SQL，装载后重建索引）：--scale 100 = 50 万客户、1000 业务员、"
                 "3 万商品、约 1000 万订单（含明细、支付、进入记录、今日配送），须在没有客户的数据库上运行",
        )
        parser.add_argument(
            "--orders-per-customer", type=float, default=None,
            help="仅 --bulk：每家客户平均付款订单数（默认 20，即 --scale 100 时约 1000 万单）",
        )

    def handle(self, *args, scale: float, seed: int, history_months: int, jobs: int, if_empty: bool,
               verbosity: int, bulk: bool = False, orders_per_customer: float | None = None, **options):
        if not 0 < scale <= 1000:
            raise CommandError("--scale 须大于 0 且不超过 1000")
        if not 0 <= history_months <= 36:
            raise CommandError("--history-months 须在 0 到 36 之间")
        if not 1 <= jobs <= 32:
            raise CommandError("--jobs 须在 1 到 32 之间")
        if orders_per_customer is not None and not bulk:
            raise CommandError("--orders-per-customer 只能和 --bulk 一起使用")
        if if_empty and demo_has_products():
            self.stdout.write("已有商品数据，跳过生成演示数据。")
            return
        if bulk:
            self._bulk(scale=scale, seed=seed, jobs=jobs, verbosity=verbosity,
                       orders_per_customer=20.0 if orders_per_customer is None else orders_per_customer)
            return
        plan = DemoPlan.for_scale(scale, seed=seed, history_months=history_months, jobs=jobs,
                                  progress=verbosity > 0 and sys.stderr.isatty())
        self.stdout.write(
            f"生成演示数据（规模 {scale:g}，种子 {seed}）：商品 {plan.products}、客户 {plan.customers}、"
            f"业务员 {plan.reps}、供应商 {plan.suppliers}、历史订单 {history_months} 个月"
        )
        started = time.monotonic()
        demo_seed(plan=plan, on_step=lambda result: self.stdout.write(f"  {result}"))
        self.stdout.write(self.style.SUCCESS(f"完成，用时 {time.monotonic() - started:.1f} 秒。"))

    def _bulk(self, *, scale: float, seed: int, jobs: int, verbosity: int, orders_per_customer: float) -> None:
        from django.db import connection

        from demo.bulk import bulk_seed, plan_for

        if connection.vendor != "postgresql":
            raise CommandError("--bulk 只支持 PostgreSQL（集合 SQL 与 COPY 批量装载）；SQLite 请去掉 --bulk，用普通的小规模生成")
        if not 0 < orders_per_customer <= 200:
            raise CommandError("--orders-per-customer 须大于 0 且不超过 200")
        if connection.in_atomic_block:
            raise CommandError("--bulk 不能在事务中运行（它用两个数据库连接并行装载）")
        from customers.models import Customer

        if Customer.objects.exists():
            raise CommandError("--bulk 只能在还没有客户的数据库上运行（它从 1 开始写入编号）；请换一个空数据库，"
                               "或去掉 --bulk 用普通生成补齐")
        plan = plan_for(scale, seed=seed, jobs=jobs, progress=verbosity > 0 and sys.stderr.isatty())
        self.stdout.write(
            f"大规模生成演示数据（规模 {scale:g}，种子 {seed}）：商品 {plan.products}、客户 {plan.customers}、"
            f"业务员 {plan.reps}、订单约 {round(plan.customers * orders_per_customer)}"
        )
        started = time.monotonic()
        timings = bulk_seed(plan=plan, orders_per_customer=orders_per_customer,
                            on_step=lambda result: self.stdout.write(f"  {result}"))
        self.stdout.write("  各步用时：" + "，".join(f"{name} {seconds:.1f} 秒" for name, seconds in timings.items()))
        self.stdout.write(self.style.SUCCESS(f"完成，用时 {time.monotonic() - started:.1f} 秒。"))
