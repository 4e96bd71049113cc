"""file:// on a real temporary directory."""

from pathlib import Path

import pytest

from drivers.errors import UnsupportedTransportError
from drivers.transports import open_transport


async def test_writes_are_appended(tmp_path: Path) -> None:
    path = tmp_path / "out" / "kitchen.bin"
    async with open_transport(path.as_uri()) as transport:
        assert not transport.bidirectional
        assert transport.bytes_per_second is None
        await transport.write(b"\x1b@one\n")
        await transport.write(b"two\n")
    assert path.read_bytes() == b"\x1b@one\ntwo\n"


async def test_a_path_with_a_nul_is_unsupported() -> None:
    with pytest.raises(UnsupportedTransportError, match="NUL"):
        async with open_transport("file:///tmp/ticket%00.bin") as transport:
            await transport.write(b"\x1b@")
