"""A handler written as a DIRAC service module would be, loaded from a .py file path."""

from tornadoservice import S_OK, TornadoService


class DirStyleHandler(TornadoService):
    @classmethod
    def initializeHandler(cls, serviceInfo):  # type: ignore[no-untyped-def]
        cls.greeting = "from a file"
        return S_OK()

    auth_greet = ["authenticated"]

    def export_greet(self, name):  # type: ignore[no-untyped-def]
        return S_OK(f"{self.greeting}: hello {name}")


class NotAService:
    pass
