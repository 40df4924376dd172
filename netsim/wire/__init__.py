"""Wire formats: header parse/emit and checksums.  No protocol state lives here
(smoltcp's ``src/wire``, gVisor's ``header/``)."""

from .checksum import csum_add as csum_add
from .checksum import csum_block_add as csum_block_add
from .checksum import csum_fold as csum_fold
from .checksum import csum_partial as csum_partial
from .checksum import csum_partial_many as csum_partial_many

__all__ = ["csum_add", "csum_block_add", "csum_fold", "csum_partial", "csum_partial_many"]
