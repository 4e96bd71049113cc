"""A LAN CloudPRNT server: Star printers poll the box for their tickets (see PROTOCOL.md)."""

from edge.cloudprnt.service import CloudPrnt, ServerSettings
from edge.cloudprnt.transport import CloudPrntTransport, mac_of

__all__ = ["CloudPrnt", "CloudPrntTransport", "ServerSettings", "mac_of"]
