"""Ticket content: what the daemon prints for an order, as printer-independent documents."""

from .i18n import Locale
from .kitchen import TicketKind, kitchen_ticket
from .receipt import customer_receipt
from .test_page import printer_test_page

__all__ = ["Locale", "TicketKind", "customer_receipt", "kitchen_ticket", "printer_test_page"]
