import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from core.models import BaseModel

# Short and unambiguous: no 0/O, 1/I/L. Fits the 32-character `scene` of a mini-program code.
KEY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
KEY_PATTERN = re.compile(rf"^[{KEY_ALPHABET}]{{4,12}}\Z")


def new_rep_key(length: int = 6) -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(length))


def validate_rep_key(value: str) -> None:
    if not KEY_PATTERN.match(value or ""):
        raise ValidationError("业务员码须为 4-12 位大写字母或数字（不含 0/O/1/I/L）")


class Rep(BaseModel):
    """A field rep (地推). Reps only acquire and revisit customers; the code is their tool."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name="登录账号", null=True, blank=True,
        on_delete=models.SET_NULL, related_name="rep",
    )
    name = models.CharField("姓名", max_length=40)
    phone = models.CharField("手机号", max_length=20, blank=True)
    key = models.CharField("业务员码", max_length=12, unique=True, default=new_rep_key, validators=[validate_rep_key])
    territory = models.CharField("负责片区", max_length=40, blank=True)
    photo = models.ImageField("照片", upload_to="reps/", blank=True)
    wecom_user_id = models.CharField("企业微信账号", max_length=64, blank=True,
                                     help_text="企业微信成员 UserID，用于推送流失提醒等消息")
    is_active = models.BooleanField("在职", default=True)
    # The mini-program code (getwxacodeunlimit) as stored, and a digest of what it was made from
    # (scene, page, check_path, env_version, width): made again only when those change.
    wxacode = models.FileField("小程序码图片", upload_to="reps/wxacode/", blank=True)
    wxacode_inputs = models.CharField("小程序码参数摘要", max_length=64, blank=True)
    # The WeCom contact-me code (add_contact_way, state = key), made once per WeCom account.
    wecom_config_id = models.CharField("联系我 config_id", max_length=64, blank=True)
    wecom_qr_code = models.CharField("联系我二维码", max_length=500, blank=True)
    wecom_contact_user_id = models.CharField("联系我所属企业微信账号", max_length=64, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "业务员"
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    @property
    def scene(self) -> str:
        """The `scene` string carried by the rep's mini-program code."""
        return scene_of_key(self.key)


def scene_of_key(key: str) -> str:
    """`Rep.scene` for a rep's key (reads that have the key without the row)."""
    return f"r={key}"


class Scene:
    """WeChat launch scene values, grouped the way the company reads them.

    In person: the restaurant scanned the rep's code with the camera. Forwarded image: someone
    long-pressed (or picked from the album) a picture of the code — the rep may have sent it
    instead of visiting. Share card: a mini-program card in a chat. Direct: opened from the
    recently-used list, My Mini Programs or a home-screen icon.
    """

    IN_PERSON = "in_person"
    FORWARDED_IMAGE = "forwarded_image"
    SHARE_CARD = "share_card"
    DIRECT = "direct"
    OTHER = "other"

    CHOICES = [
        (IN_PERSON, "当面扫码"),
        (FORWARDED_IMAGE, "长按识别图片"),
        (SHARE_CARD, "分享卡片"),
        (DIRECT, "直接打开"),
        (OTHER, "其他"),
    ]
    BY_CODE = {
        1047: IN_PERSON, 1011: IN_PERSON,
        1048: FORWARDED_IMAGE, 1012: FORWARDED_IMAGE, 1049: FORWARDED_IMAGE, 1013: FORWARDED_IMAGE,
        1007: SHARE_CARD, 1008: SHARE_CARD, 1044: SHARE_CARD,
        1001: DIRECT, 1089: DIRECT, 1103: DIRECT, 1104: DIRECT, 1023: DIRECT,
    }

    @classmethod
    def classify(cls, code: int | None) -> str:
        return cls.BY_CODE.get(code, cls.OTHER)


class EntryEvent(models.Model):
    """One opening of the mini program: through whose code, how (scene), and by whom."""

    class Visit(models.TextChoices):
        FIRST = "first_visit", "首次访问"
        RETURN = "return_visit", "回访"
        CUSTOMER_RESCAN = "customer_rescan", "老客户再次扫码"

    visitor = models.ForeignKey("customers.Visitor", verbose_name="访客", on_delete=models.CASCADE,
                                related_name="entries")
    customer = models.ForeignKey("customers.Customer", verbose_name="客户(进入时)", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="entries")
    rep = models.ForeignKey(Rep, verbose_name="业务员码", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="entries")
    scene_code = models.PositiveIntegerField("场景值", null=True, blank=True)
    scene_kind = models.CharField("进入方式", max_length=16, choices=Scene.CHOICES)
    visit_kind = models.CharField("访问类型", max_length=16, choices=Visit.choices)
    scene = models.CharField("scene 参数", max_length=32, blank=True)
    launch_id = models.CharField("启动 ID", max_length=64, blank=True)
    credited = models.BooleanField("计入归属", default=False,
                                   help_text="这次进入是否让该业务员获得了客户归属（首次触达）")
    created_at = models.DateTimeField("时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = verbose_name_plural = "进入记录"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["rep", "created_at"], name="entry_rep_time_idx"),
            models.Index(fields=["visitor", "created_at"], name="entry_visitor_time_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["visitor", "launch_id"], condition=~models.Q(launch_id=""),
                                    name="entry_unique_launch"),
        ]

    def __str__(self):
        return f"{self.get_scene_kind_display()} {self.rep or '-'}"


class VisitNote(models.Model):
    """A rep's note of a visit to a restaurant, with where the rep was if the phone said."""

    rep = models.ForeignKey(Rep, verbose_name="业务员", on_delete=models.PROTECT, related_name="visit_notes")
    customer = models.ForeignKey("customers.Customer", verbose_name="客户", on_delete=models.CASCADE,
                                 related_name="visit_notes")
    note = models.CharField("拜访记录", max_length=500)
    latitude = models.DecimalField("纬度(GCJ-02)", max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField("经度(GCJ-02)", max_digits=9, decimal_places=6, null=True, blank=True)
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "拜访记录"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "created_at"], name="visitnote_customer_time_idx")]

    def __str__(self):
        return self.note[:20]


class Handover(models.Model):
    """Customers moved from one rep to another. Customers belong to the company; this keeps history."""

    from_rep = models.ForeignKey(Rep, verbose_name="移交人", on_delete=models.PROTECT, related_name="handovers_out")
    to_rep = models.ForeignKey(Rep, verbose_name="接收人", on_delete=models.PROTECT, related_name="handovers_in")
    customer_count = models.PositiveIntegerField("客户数")
    reason = models.CharField("原因", max_length=200, blank=True)
    revoked_access = models.BooleanField("同时停用移交人", default=False)
    performed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="操作人", null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "客户移交"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.from_rep} → {self.to_rep} ({self.customer_count})"


class HandoverItem(models.Model):
    handover = models.ForeignKey(Handover, on_delete=models.CASCADE, related_name="items")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="handover_items")

    class Meta:
        verbose_name = verbose_name_plural = "移交明细"
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["handover", "customer"], name="handoveritem_unique")]


class WeComContact(models.Model):
    """A restaurant in a rep's WeCom contacts (企业微信客户), as WeCom's callbacks told it.

    One row per rep and WeCom customer (`external_userid` is per corp); adding again after a
    removal reopens the same row. `customer` is the restaurant when it is known to be this
    contact; the callback carries no phone or unionid, so it stays empty until linked.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "已添加"
        REMOVED_BY_REP = "removed_by_rep", "业务员已删除客户"
        REMOVED_BY_CUSTOMER = "removed_by_customer", "客户已删除业务员"
        TRANSFERRED = "transferred", "已转接给其他业务员"

    rep = models.ForeignKey(Rep, verbose_name="业务员", on_delete=models.PROTECT, related_name="wecom_contacts")
    external_userid = models.CharField("外部联系人 ID", max_length=64)
    state = models.CharField("渠道参数(State)", max_length=30, blank=True)
    status = models.CharField("状态", max_length=24, choices=Status.choices, default=Status.ACTIVE)
    added_at = models.DateTimeField("添加时间")
    removed_at = models.DateTimeField("删除时间", null=True, blank=True)
    transfer_fail_reason = models.CharField("最近一次转接失败原因", max_length=64, blank=True)
    customer = models.ForeignKey("customers.Customer", verbose_name="客户", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="wecom_contacts")
    # From WeCom's externalcontact/get: what links the contact to a restaurant (reps.wecom_links).
    name = models.CharField("微信昵称", max_length=64, blank=True)
    unionid = models.CharField("UnionID", max_length=64, blank=True)
    phone = models.CharField("备注手机号", max_length=20, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "企业微信客户"
        ordering = ["-added_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rep", "external_userid"], name="wecomcontact_unique_rep_external"),
        ]
        indexes = [
            models.Index(fields=["rep", "added_at"], name="wecomcontact_rep_added_idx"),
            models.Index(fields=["rep", "removed_at"], name="wecomcontact_rep_removed_idx"),
            models.Index(fields=["phone"], name="wecomcontact_phone_idx", condition=~models.Q(phone="")),
            models.Index(fields=["unionid"], name="wecomcontact_unionid_idx", condition=~models.Q(unionid="")),
        ]

    def __str__(self):
        return f"{self.rep} · {self.external_userid}"


class WeComContactEvent(models.Model):
    """Each accepted `change_external_contact` callback, once (`dedupe_key` is unique)."""

    dedupe_key = models.CharField("去重键", max_length=200, unique=True)
    change_type = models.CharField("变更类型", max_length=64)
    user_id = models.CharField("成员 UserID", max_length=64, blank=True)
    external_userid = models.CharField("外部联系人 ID", max_length=64, blank=True)
    state = models.CharField("State", max_length=30, blank=True)
    fail_reason = models.CharField("失败原因", max_length=64, blank=True)
    has_welcome_code = models.BooleanField("带欢迎语 code", default=False)
    welcome_result = models.CharField("欢迎语发送结果", max_length=16, blank=True,
                                      help_text="sent 已发送；already 已发过或已开始聊天(41051)；failed 发送失败")
    event_time = models.DateTimeField("事件时间")
    rep = models.ForeignKey(Rep, verbose_name="业务员", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+")
    contact = models.ForeignKey(WeComContact, verbose_name="企业微信客户", null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="events")
    received_at = models.DateTimeField("接收时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "企业微信客户事件"
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["rep", "event_time"], name="wecomevent_rep_time_idx")]

    def __str__(self):
        return f"{self.change_type} {self.external_userid}"


class WeComTransfer(models.Model):
    """One WeCom customer moved from the leaving rep to the taker at a handover (reps.wecom_transfer).

    `pending` until submitted; WeCom then reports `waiting` until the taker has them (24 h), or the
    customer refused, or the taker is at their customer limit. `over_limit` was never sent: the
    customer was already transferred twice in the last 90 days.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "待提交"
        WAITING = "waiting", "等待接替"
        DONE = "done", "接替完毕"
        REFUSED = "refused", "客户拒绝"
        TAKER_LIMIT = "taker_limit", "接替成员客户数已达上限"
        OVER_LIMIT = "over_limit", "90 天内已转接 2 次"
        FAILED = "failed", "提交失败"

    handover = models.ForeignKey(Handover, verbose_name="移交", on_delete=models.CASCADE,
                                 related_name="wecom_transfers")
    contact = models.ForeignKey(WeComContact, verbose_name="企业微信客户", on_delete=models.CASCADE,
                                related_name="transfers")
    external_userid = models.CharField("外部联系人 ID", max_length=64)
    handover_userid = models.CharField("原跟进成员", max_length=64)
    takeover_userid = models.CharField("接替成员", max_length=64)
    resigned = models.BooleanField("离职继承", default=False)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.PENDING)
    errcode = models.IntegerField("错误码", null=True, blank=True)
    submitted_at = models.DateTimeField("提交时间", null=True, blank=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "企业微信客户转接"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["handover", "contact"], name="wecomtransfer_unique_handover_contact"),
        ]
        indexes = [models.Index(fields=["external_userid", "submitted_at"], name="wecomtransfer_ext_time_idx")]

    def __str__(self):
        return f"{self.external_userid} {self.get_status_display()}"


class WeComCorpTag(models.Model):
    """A company tag (crm.Tag) mirrored as a WeCom corp tag that this app created (reps.wecom_tags).

    `tag` empties when the company's tag is deleted; the next sync deletes it in WeCom too.
    """

    tag = models.OneToOneField("crm.Tag", verbose_name="标签", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="wecom_corp_tag")
    group = models.ForeignKey("crm.TagGroup", verbose_name="标签组", null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    name = models.CharField("名称", max_length=30)
    wecom_tag_id = models.CharField("企业微信标签 ID", max_length=64, unique=True)
    wecom_group_id = models.CharField("企业微信标签组 ID", max_length=64)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "企业微信企业标签"
        ordering = ["id"]

    def __str__(self):
        return self.name


class WeComTagMark(models.Model):
    """A mirrored tag marked on a rep's WeCom customer (what mark_tag was told, to send only changes)."""

    contact = models.ForeignKey(WeComContact, on_delete=models.CASCADE, related_name="tag_marks")
    corp_tag = models.ForeignKey(WeComCorpTag, on_delete=models.CASCADE, related_name="marks")

    class Meta:
        verbose_name = verbose_name_plural = "企业微信客户标签"
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["contact", "corp_tag"], name="wecomtagmark_unique")]
