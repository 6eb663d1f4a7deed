"""zhengban governance_queue: show governance's inventory queue (notes waiting for the
background worker, and those set aside because their reaction raised); ``--requeue`` puts
the set-aside ones back once the cause is fixed."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from zhengban.governance.models import PendingInventory
from zhengban.governance.services import requeue_failed_inventories


class Command(BaseCommand):
    help = "查看治理待处理清单队列（等待处理和处理失败已暂停的清单）；--requeue 重新排队处理失败的清单。"

    def add_arguments(self, parser):
        parser.add_argument(
            "--requeue",
            action="store_true",
            help="把处理失败已暂停的清单重新放回队列（排除故障原因后使用）",
        )

    def handle(self, *args, **options):
        if options["requeue"]:
            count = requeue_failed_inventories()
            self.stdout.write(f"已重新排队 {count} 份处理失败的清单。")
            return
        waiting = PendingInventory.objects.filter(failed_at__isnull=True).count()
        failed = list(
            PendingInventory.objects.filter(failed_at__isnull=False)
            .select_related("device")
            .order_by("id")
        )
        self.stdout.write(f"等待处理 {waiting} 份清单，处理失败已暂停 {len(failed)} 份。")
        for note in failed:
            failed_at = timezone.localtime(note.failed_at)
            # One line per note: the error is "Type: message", which may itself span lines.
            error = " ".join(note.error.split())
            self.stdout.write(
                f"终端 {note.device}（ID {note.device_id}） "
                f"清单 ID {note.report_id if note.report_id is not None else '无'} "
                f"处理次数 {note.attempts} "
                f"失败时间 {failed_at:%Y-%m-%d %H:%M:%S} "
                f"错误：{error}"
            )
        if failed:
            self.stdout.write("排除故障原因后，运行 zhengban governance_queue --requeue 重新处理。")
