"""Ticket content: what the daemon prints for an order, as printer-independent documents."""

from .i18n import Locale
from .kitchen import TicketKind, kitchen_ticket

__all__ = ["Locale", "TicketKind", "kitchen_ticket"]
