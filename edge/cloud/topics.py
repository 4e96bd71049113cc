"""The MQTT topics of CONTRACT §2 for one store."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    """Topic names for `{prefix}/{store}`."""

    prefix: str
    store: str

    @property
    def base(self) -> str:
        """`{p}/{s}`."""
        return f"{self.prefix}/{self.store}"

    @property
    def orders(self) -> str:
        """Orders from the cloud."""
        return f"{self.base}/in/orders"

    @property
    def commands(self) -> str:
        """Commands from the cloud."""
        return f"{self.base}/in/commands"

    @property
    def events_ack(self) -> str:
        """The cloud's confirmation of stored events."""
        return f"{self.base}/in/events-ack"

    @property
    def settings(self) -> str:
        """Retained store settings managed by the cloud."""
        return f"{self.base}/in/settings"

    @property
    def pos_events(self) -> str:
        """POS webhooks the cloud receives for this store, relayed (e.g. Lightspeed K)."""
        return f"{self.base}/in/pos-events"

    @property
    def presence(self) -> str:
        """Retained presence (and the will)."""
        return f"{self.base}/out/presence"

    @property
    def events(self) -> str:
        """The event stream."""
        return f"{self.base}/out/events"

    @property
    def replies(self) -> str:
        """Command replies without a response topic."""
        return f"{self.base}/out/replies"

    def menu(self, brand: str) -> str:
        """The retained menu of one brand (CONTRACT §1: `/`, `+`, `#` become `_`)."""
        return f"{self.base}/out/menu/{menu_topic_brand(brand)}"

    def inbound(self) -> list[str]:
        """Every topic the edge subscribes to."""
        return [self.orders, self.commands, self.events_ack, self.settings, self.pos_events]


DEFAULT_BRAND = "_default"


def menu_topic_brand(brand: str) -> str:
    """A brand's name as the last level of its menu topic."""
    return brand.replace("/", "_").replace("+", "_").replace("#", "_")
