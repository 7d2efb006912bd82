from django.core.management.base import BaseCommand, CommandError

from demo.links import (
    admin_url,
    api_docs_url,
    demo_reps,
    demo_staff_logins,
    ops_login_url,
    rep_assistant_url,
    rep_entry_url,
)
from demo.people import ADMIN_PASSWORD, ADMIN_USERNAME, REP_PASSWORD


class Command(BaseCommand):
    help = ("打印演示的每个入口：经业务员二维码进入商城的链接（属于打印出的业务员账号）、业务员助手、"
            "仓库与司机页面、运营后台和 API 文档，以及各自的演示账号。")

    def add_arguments(self, parser):
        parser.add_argument("--entry", action="store_true", help="只打印第一个业务员（rep01）的商城入口链接")
        parser.add_argument("--host", default="127.0.0.1:8000", help="主机和端口（默认 127.0.0.1:8000）")

    def handle(self, *args, entry: bool, host: str, **options):
        reps = demo_reps(limit=1)
        if not reps:
            raise CommandError("还没有在职的业务员，请先运行 python manage.py seed_demo 生成演示数据。")
        rep = reps[0]
        if entry:
            self.stdout.write(rep_entry_url(rep=rep, host=host))
            return
        login = f"{rep.user.username} / {REP_PASSWORD}" if rep.user_id else "（该业务员没有登录账号）"
        self.stdout.write(f"  商城（模拟扫描业务员 {rep.name} 的小程序码，请用手机尺寸窗口打开）：")
        self.stdout.write(f"    {rep_entry_url(rep=rep, host=host)}")
        self.stdout.write(f"  业务员助手：{rep_assistant_url(host=host)}   账号 {login}（{rep.name}，"
                          "从上面的入口下的单出现在他的实时订单里）")
        staff = demo_staff_logins()
        if staff:
            accounts = "；".join(f"{s.role} {s.username} / {s.password}" for s in staff)
            self.stdout.write(f"  仓库与司机：{ops_login_url(host=host)}   {accounts}")
        self.stdout.write(f"  运营后台：{admin_url(host=host)}   账号 {ADMIN_USERNAME} / 密码 {ADMIN_PASSWORD}")
        self.stdout.write(f"  API 文档：{api_docs_url(host=host)}")
