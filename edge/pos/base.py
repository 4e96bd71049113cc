"""The one abstract POS connector every vendor module implements, and its typed errors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self

from edge.errors import EdgeError, PermanentError, TransientError
from edge.orders.model import Order

from .menu import Menu
from .model import Attempt, Closed, Injected, InjectionPlan, LinkStatus

if TYPE_CHECKING:
    from .paging import PageReader


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


class PosPending(PosError):
    """The POS took the request and will tell the outcome later (Lightspeed K's webhook).

    Not an error to report: the job waits `check_after` seconds, or until the cloud relays
    the POS's answer, and the connector is asked again with the same attempt.
    """

    def __init__(self, reason: str, check_after: float) -> None:
        super().__init__(reason)
        self.check_after = check_after


@dataclass(frozen=True)
class PosCredentials:
    """The secrets `[pos]` names, read from files or systemd credentials."""

    token: str = ""
    client_secret: str = ""

    def __repr__(self) -> str:  # never in a log line
        return "PosCredentials(<redacted>)"


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
    async def read_menu(self, pages: PageReader | None = None) -> Menu:
        """The whole menu of the store, normalized (CONTRACT §1 "label" for `labels`).

        Every page goes through `pages` (rate limits and passing failures waited out,
        progress counted); the caller bounds the whole read with its deadline.
        """

    @abstractmethod
    async def inject(self, order: Order, plan: InjectionPlan, attempt: Attempt) -> Injected:
        """Create the order in the POS, exactly once per order revision.

        `attempt` is the durable record written before this call. When it says an earlier
        try was sent (`attempt.ambiguous`), the order may already be in the POS: the
        connector looks it up by `attempt.reference` and adopts it before creating anything.
        """

    @abstractmethod
    async def find(self, order: Order, plan: InjectionPlan, attempt: Attempt) -> Injected | None:
        """The POS order an earlier try created for this revision, or None if there is none."""

    @abstractmethod
    async def close_ticket(
        self, order: Order, injected: Injected, plan: InjectionPlan, attempt: Attempt
    ) -> Closed:
        """Record the partner's payment for an injected order and close its ticket, exactly once."""

    @abstractmethod
    async def void(self, pos_order_id: str) -> None:
        """Cancel an injected order; voiding an already cancelled order is not an error."""

    async def update(
        self, order: Order, previous: Injected, plan: InjectionPlan, attempt: Attempt
    ) -> Injected | None:
        """Change an injected order to a new revision in place, where the API allows it safely.

        None (the default) means the POS cannot: the daemon voids the old order and injects
        the new revision instead.
        """
        return None

    def ids_in_use(self) -> dict[str, dict[str, str]]:
        """The POS ids this connector uses (order types, tenders) and where each came from."""
        return {}
