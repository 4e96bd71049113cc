"""Ticket wording in the store's language ("fr" or "en")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from edge.orders.model import OrderType

Locale = Literal["fr", "en"]

_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class Labels:
    """The words printed on tickets, in one language."""

    order_types: Mapping[OrderType, str]
    reprint: str
    cancelled: str
    updated: str
    manual_entry: str
    scheduled_for: str
    placed_at: str
    customer: str
    phone: str
    allergens: str
    notes: str
    website: str


LABELS: Mapping[Locale, Labels] = MappingProxyType(
    {
        "fr": Labels(
            order_types=MappingProxyType(
                {
                    "delivery": "LIVRAISON",
                    "self_delivery": "LIVRAISON RESTAURANT",
                    "pickup": "À EMPORTER",
                    "dine_in": "SUR PLACE",
                }
            ),
            reprint="RÉIMPRESSION",
            cancelled="ANNULÉE",
            updated="MODIFIÉE",
            manual_entry="SAISIE MANUELLE",
            scheduled_for="Programmée pour",
            placed_at="Reçue à",
            customer="Client",
            phone="Tél.",
            allergens="Allergies",
            notes="Notes",
            website="Site web",
        ),
        "en": Labels(
            order_types=MappingProxyType(
                {
                    "delivery": "DELIVERY",
                    "self_delivery": "OWN DELIVERY",
                    "pickup": "PICKUP",
                    "dine_in": "DINE IN",
                }
            ),
            reprint="REPRINT",
            cancelled="CANCELLED",
            updated="UPDATED",
            manual_entry="MANUAL ENTRY",
            scheduled_for="Scheduled for",
            placed_at="Placed at",
            customer="Customer",
            phone="Phone",
            allergens="Allergens",
            notes="Notes",
            website="Website",
        ),
    }
)

_PARTNERS = {
    "ubereats": "Uber Eats",
    "deliveroo": "Deliveroo",
    "doordash": "DoorDash",
    "justeat": "Just Eat",
}


def partner_name(partner: str, locale: Locale) -> str:
    """How staff know the partner: "ubereats" -> "Uber Eats"; unknown names are capitalised."""
    key = partner.lower().replace("_", "").replace("-", "").replace(" ", "")
    if key == "website":
        return LABELS[locale].website
    return _PARTNERS.get(key) or partner[:1].upper() + partner[1:]


def short_date(when: datetime, locale: Locale) -> str:
    """Day and month: "23/11" in French, "Nov 23" in English."""
    if locale == "fr":
        return f"{when.day:02d}/{when.month:02d}"
    return f"{_EN_MONTHS[when.month - 1]} {when.day}"
