"""zhengban import_orgs FILE: the bulk import of units and people, from the command line."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from zhengban.orgs import importer


class Command(BaseCommand):
    help = "从XLSX模板批量导入单位和人员；任何一行有错误则整个文件不导入。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", help="填写好的导入文件（.xlsx）")
        parser.add_argument(
            "--template", metavar="OUT", help="把空白导入模板写到OUT，不导入任何数据"
        )
        parser.add_argument(
            "--report",
            metavar="OUT",
            help="把逐行报告（XLSX）写到OUT：出错时为错误报告，成功时为逐行结果",
        )

    def handle(self, *args, file=None, template=None, report=None, **options) -> None:
        if template:
            Path(template).write_bytes(importer.build_template())
            self.stdout.write(f"已写出导入模板：{template}")
            return
        if not file:
            raise CommandError("请指定导入文件，或用 --template OUT 生成模板。")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"文件不存在：{file}")
        with path.open("rb") as fh:
            # Run as the server operator: no acting person, so the audit record shows none.
            result = importer.import_orgs(actor=None, file=fh, filename=path.name)
        if not result.ok:
            for error in result.errors:
                self.stderr.write(str(error))
            if report:
                Path(report).write_bytes(importer.build_error_report(result))
                self.stderr.write(f"错误报告已写出：{report}")
            raise CommandError(f"发现{len(result.errors)}处错误，未导入任何数据。")
        if report:
            Path(report).write_bytes(importer.build_result_report(result))
        self.stdout.write(result.summary())
