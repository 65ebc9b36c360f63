"""Inventory service: a stock of items per owner.

The classic (DISET) handler and the Tornado one share the mixin, as DIRAC 9.1's services do.
Ported by changing the imports only.
"""

from DIRAC import S_ERROR, S_OK, gConfig, gLogger
from DIRAC.ConfigurationSystem.Client.Helpers import Registry
from DIRAC.Core.DISET.RequestHandler import RequestHandler, getServiceOption

sLog = gLogger.getSubLogger(__name__)  # noqa: N816 (DIRAC's name)


class InventoryHandlerMixin:
    @classmethod
    def initializeHandler(cls, serviceInfo):
        cls.maxItems = cls.srv_getCSOption("MaxItems", 2)
        cls.unit = getServiceOption(serviceInfo, "Unit", "piece")
        cls.site = gConfig.getValue("/Porting/SiteName", "nowhere")
        cls.stock = {}
        sLog.info("Inventory ready", f"max {cls.maxItems} items at {cls.site}")
        return S_OK()

    types_addItem = [str, (int, float)]

    @classmethod
    def export_addItem(cls, name, quantity):
        """Add ``quantity`` of ``name``; at most MaxItems different items."""
        if name not in cls.stock and len(cls.stock) >= cls.maxItems:
            return S_ERROR(f"Inventory full: {cls.maxItems} items")
        cls.stock[name] = cls.stock.get(name, 0) + quantity
        return S_OK(cls.stock[name])

    types_getItem = [str]

    @classmethod
    def export_getItem(cls, name):
        if name not in cls.stock:
            return S_ERROR(f"No such item: {name}")
        return S_OK({"name": name, "quantity": cls.stock[name], "unit": cls.unit})

    types_describe = [(str, int), None]

    @staticmethod
    def export_describe(key, detail=None):
        return S_OK(f"{type(key).__name__}:{key}:{detail}")

    types_whoAmI = []

    def export_whoAmI(self):
        credDict = self.getRemoteCredentials()
        group = credDict.get("group")
        result = Registry.getUsernameForDN(credDict["DN"])
        return S_OK(
            {
                "user": result["Value"] if result["OK"] else None,
                "vo": Registry.getVOForGroup(group) if group else None,
                "properties": Registry.getPropertiesForGroup(group) if group else [],
                "site": self.site,
            }
        )

    types_summary = []

    def export_summary(self):
        """Called by the Catalog service with the host certificate."""
        credDict = self.getRemoteCredentials()
        return S_OK({"items": sorted(self.stock), "caller": credDict.get("username")})


class InventoryHandler(InventoryHandlerMixin, RequestHandler):
    pass
