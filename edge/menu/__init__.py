"""The menu read from the POS: synced on a cadence, published per brand, checked against orders."""
