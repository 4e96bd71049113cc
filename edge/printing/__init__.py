"""Printing: one worker per printer owning its connection, tickets rendered at print time."""
