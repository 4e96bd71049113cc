"""Hardware library for store-edge: transports, ESC/POS, status."""
