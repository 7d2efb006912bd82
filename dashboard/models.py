from django.db import models


class CompanyDashboard(models.Model):
    """No table: the holder of the permission to see the company dashboard (公司经营看板), so it
    can be given to a group like any other (admin › 用户 / 组)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_company_dashboard", "可以查看公司经营看板")]
        verbose_name = verbose_name_plural = "公司经营看板"
