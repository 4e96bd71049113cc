"""An ESC/POS receipt printer emulator: decodes jobs, renders tickets, fakes faults."""

from drivers.emulator._output import RecordedJob
from drivers.emulator._wire import Faults
from drivers.emulator.decode import DecodedJob, Line, Segment, Style, decode_job
from drivers.emulator.render import render_png
from drivers.emulator.server import PrinterEmulator, StatusMode

__all__ = [
    "DecodedJob",
    "Faults",
    "Line",
    "PrinterEmulator",
    "RecordedJob",
    "Segment",
    "StatusMode",
    "Style",
    "decode_job",
    "render_png",
]
