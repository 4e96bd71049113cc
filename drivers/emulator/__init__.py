"""An ESC/POS receipt printer emulator: decodes jobs, renders tickets, fakes faults."""

from drivers.emulator._output import RecordedJob
from drivers.emulator._wire import Faults
from drivers.emulator.decode import DecodedJob, Line, Raster, Segment, Style, decode_job
from drivers.emulator.render import render_png, ticket_png, ticket_text
from drivers.emulator.server import PrinterEmulator, StatusMode

__all__ = [
    "DecodedJob",
    "Faults",
    "Line",
    "PrinterEmulator",
    "Raster",
    "RecordedJob",
    "Segment",
    "StatusMode",
    "Style",
    "decode_job",
    "render_png",
    "ticket_png",
    "ticket_text",
]
