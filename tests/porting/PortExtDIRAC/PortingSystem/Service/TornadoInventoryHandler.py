"""The Tornado form of the Inventory service (found without HandlerPath, as DIRAC finds it)."""

from PortExtDIRAC.PortingSystem.Service.InventoryHandler import InventoryHandlerMixin
from tornadoservice.compat.dirac import TornadoService


class TornadoInventoryHandler(InventoryHandlerMixin, TornadoService):
    pass
