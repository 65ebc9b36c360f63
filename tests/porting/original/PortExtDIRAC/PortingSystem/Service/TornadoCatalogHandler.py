"""Catalog service: answers with what the Inventory service holds (a service calling another).

Set up with DIRAC's HandlerPath form; calls Inventory as the host (UseServerCertificate).
"""

from DIRAC import S_OK, gLogger
from DIRAC.Core.Tornado.Client.TornadoClient import TornadoClient
from DIRAC.Core.Tornado.Server.TornadoService import TornadoService


class TornadoCatalogHandler(TornadoService):
    log = gLogger.getSubLogger("Catalog")

    @classmethod
    def initializeHandler(cls, serviceInfo):
        cls.inventory = cls.srv_getCSOption("InventoryService", "Porting/Inventory")
        return S_OK()

    types_listing = [(str, type(None))]

    def export_listing(self, label):
        result = TornadoClient(self.inventory).summary()
        if not result["OK"]:
            self.log.error("Cannot reach the inventory", result["Message"])
            return result
        return S_OK({"label": label, **result["Value"]})
