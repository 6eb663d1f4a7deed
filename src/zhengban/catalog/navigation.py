from django.utils.translation import gettext_lazy as _

from zhengban.core import navigation

navigation.register(_("软件目录"), _("软件产品"), "catalog:product_list", order=20)
navigation.register(_("软件目录"), _("发行商"), "catalog:publisher_list", order=20)
navigation.register(_("软件目录"), _("识别规则"), "catalog:rule_list", order=20)
navigation.register(_("软件目录"), _("未识别软件"), "catalog:unrecognised", order=20)
