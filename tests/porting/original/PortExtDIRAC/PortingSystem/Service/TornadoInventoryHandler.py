"""The Tornado form of the Inventory service (found without HandlerPath, as DIRAC finds it)."""

from DIRAC.Core.Tornado.Server.TornadoService import TornadoService
from PortExtDIRAC.PortingSystem.Service.InventoryHandler import InventoryHandlerMixin


class TornadoInventoryHandler(InventoryHandlerMixin, TornadoService):
    pass
