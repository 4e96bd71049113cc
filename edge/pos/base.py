"""The one abstract POS connector every vendor module implements, and its typed errors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from edge.errors import EdgeError, PermanentError, TransientError
from edge.orders.model import Order

from .model import Closed, Injected, InjectionPlan, LinkStatus, Menu


class PosError(EdgeError):
    """The POS refused a request or could not be reached."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PosTransientError(PosError, TransientError):
    """Worth retrying: connection refused, timeout, 5xx, rate limit."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PosPermanentError(PosError, PermanentError):
    """Retrying the same request will not help: validation error, unlinked lines, bad token."""

    def __init__(self, reason: str, unlinked: list[str] | None = None) -> None:
        super().__init__(reason)
        self.unlinked: list[str] = list(unlinked or [])


class PosConnector(ABC):
    """A link to one store's POS; an async context manager that owns its HTTP client."""

    name: str = "pos"

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abstractmethod
    async def open(self) -> None:
        """Create the HTTP client."""

    @abstractmethod
    async def close(self) -> None:
        """Close the HTTP client."""

    @abstractmethod
    async def check_link(self) -> LinkStatus:
        """Whether the POS answers with our credentials for our store."""

    @abstractmethod
    async def read_menu(self) -> Menu:
        """The whole menu of the store, normalized."""

    @abstractmethod
    async def inject(self, order: Order, plan: InjectionPlan) -> Injected:
        """Create the order in the POS, exactly once per order revision."""

    @abstractmethod
    async def close_ticket(self, order: Order, injected: Injected, plan: InjectionPlan) -> Closed:
        """Record the partner's payment for an injected order and close its ticket, exactly once."""

    @abstractmethod
    async def void(self, pos_order_id: str) -> None:
        """Cancel an injected order; voiding an already cancelled order is not an error."""
