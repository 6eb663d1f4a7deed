from django.utils.translation import gettext_lazy as _

from zhengban.core import navigation
from zhengban.inventory.views import can_enroll

navigation.register(_("终端与软件"), _("终端"), "inventory:device_list", order=20)
navigation.register(
    _("终端与软件"), _("客户端注册令牌"), "inventory:token_list", order=20, visible=can_enroll
)
navigation.register(
    _("终端与软件"), _("导入软件清单"), "inventory:import", order=20, visible=can_enroll
)
