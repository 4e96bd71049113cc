"""Bluetooth printers: the printer URIs and the GATT layouts of known ESC/POS printers."""
