from django.core.management.base import BaseCommand, CommandError

from core.demo.links import admin_url, api_docs_url, demo_reps, rep_entry_url
from core.demo.people import ADMIN_PASSWORD, ADMIN_USERNAME, REP_PASSWORD


class Command(BaseCommand):
    help = "打印演示入口：经业务员二维码进入商城的链接、运营后台和 API 文档地址。"

    def add_arguments(self, parser):
        parser.add_argument("--entry", action="store_true", help="只打印第一个业务员的商城入口链接")
        parser.add_argument("--host", default="127.0.0.1:8000", help="主机和端口（默认 127.0.0.1:8000）")

    def handle(self, *args, entry: bool, host: str, **options):
        reps = demo_reps(limit=1 if entry else 3)
        if not reps:
            raise CommandError("还没有在职的业务员，请先运行 python manage.py seed_demo 生成演示数据。")
        if entry:
            self.stdout.write(rep_entry_url(rep=reps[0], host=host))
            return
        self.stdout.write("商城入口（模拟扫描业务员小程序码）：")
        for rep in reps:
            login = f"，登录 {rep.user.username} / {REP_PASSWORD}" if rep.user_id else ""
            self.stdout.write(f"  {rep.name}（{rep.territory or '未分片区'}{login}）：{rep_entry_url(rep=rep, host=host)}")
        self.stdout.write(f"运营后台：{admin_url(host=host)}  账号 {ADMIN_USERNAME} / 密码 {ADMIN_PASSWORD}")
        self.stdout.write(f"API 文档：{api_docs_url(host=host)}")
