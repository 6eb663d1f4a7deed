from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from zhengban.core.choices import AuditAction


class TimeStampedModel(models.Model):
    created = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        abstract = True


class AuditLogEntry(models.Model):
    """One change made by a person. Append-only: database triggers refuse UPDATE and DELETE.

    The actor is stored by id and name, not as a foreign key, so that removing an account
    never has to touch (and so never could rewrite) the log.
    """

    timestamp = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    actor_id = models.BigIntegerField(_("操作人ID"), null=True, blank=True, db_index=True)
    actor_name = models.CharField(_("操作人"), max_length=150, blank=True)
    action = models.CharField(_("操作"), max_length=32, choices=AuditAction.choices)
    object_type = models.CharField(_("对象类型"), max_length=100, db_index=True)
    object_id = models.CharField(_("对象ID"), max_length=64, blank=True, db_index=True)
    object_repr = models.CharField(_("对象"), max_length=300, blank=True)
    unit_id = models.BigIntegerField(_("单位ID"), null=True, blank=True, db_index=True)
    before = models.JSONField(_("变更前"), null=True, blank=True)
    after = models.JSONField(_("变更后"), null=True, blank=True)
    ip_address = models.GenericIPAddressField(_("IP地址"), null=True, blank=True)
    message = models.CharField(_("说明"), max_length=500, blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        verbose_name = _("审计日志")
        verbose_name_plural = _("审计日志")

    def __str__(self) -> str:
        return (
            f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_repr}"
        )


class Notification(models.Model):
    """An in-app message to one person (reminders, workflow steps)."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("接收人"),
    )
    created = models.DateTimeField(_("时间"), auto_now_add=True)
    subject = models.CharField(_("主题"), max_length=200)
    body = models.TextField(_("内容"), blank=True)
    link = models.CharField(_("链接"), max_length=300, blank=True)
    read_at = models.DateTimeField(_("阅读时间"), null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = _("通知")
        verbose_name_plural = _("通知")

    def __str__(self) -> str:
        return self.subject
