"""zhengban governance_remind: remind approvers of overdue steps and close expired approval
windows. Run it from cron (or a scheduled task) once an hour; it is safe to repeat."""

from django.core.management.base import BaseCommand

from zhengban.governance.services import failed_inventory_count, send_reminders


class Command(BaseCommand):
    help = "催办超过审批时限的软件使用申请，并关闭已过执行期限的批准。可重复运行。"

    def handle(self, *args, **options):
        sent = send_reminders()
        self.stdout.write(f"已发送催办 {sent} 条。")
        # The hourly run is where an administrator sees that the inventory queue set notes
        # aside (their errors are logged and kept on the notes).
        failed = failed_inventory_count()
        if failed:
            self.stdout.write(
                f"有 {failed} 份待处理清单处理失败，已暂停处理：请在“待处理清单队列”页查看错误并重新排队（或运行 zhengban governance_queue）。"
            )
