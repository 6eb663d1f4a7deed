"""Login and logout are recorded in the audit log (who signed in, from where)."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from zhengban.core import audit
from zhengban.core.choices import AuditAction


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs) -> None:
    audit.record(actor=user, action=AuditAction.LOGIN, obj=user, unit_id=user.unit_id)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit.record(actor=user, action=AuditAction.LOGOUT, obj=user, unit_id=user.unit_id)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    audit.record(
        actor=None,
        action=AuditAction.LOGIN_FAILED,
        object_type="orgs.user",
        object_repr=str(credentials.get("username", ""))[:150],
    )
