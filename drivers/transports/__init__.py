"""Printer transports, picked from the URI scheme and imported lazily."""

from drivers.transports.base import PrinterTransport, open_transport, transport_for

__all__ = ["PrinterTransport", "open_transport", "transport_for"]
