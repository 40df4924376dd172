"""kTLS: the ``"tls"`` TCP upper-layer protocol — device offload transmit with records in page
frags, software kTLS transmit and receive (net/tls/).

Importing the package registers the ULP, so ``setsockopt(SOL_TCP, TCP_ULP, b"tls")`` finds it
(:mod:`netsim` imports it).  The modules:

* :mod:`netsim.tls.main` — the ULP, ``SOL_TLS`` options, ``tls_push_sg``, close;
* :mod:`netsim.tls.device` — ``tls_device.c``: records, the record list, ACK-driven freeing,
  ``tls_get_record``, and the emulated NIC that encrypts them;
* :mod:`netsim.tls.sw` — ``tls_sw.c``: software records and all of receive;
* :mod:`netsim.tls.crypto` — crypto info, record geometry, AEAD (``cryptography``).
"""

from .crypto import TLS_HEADER_SIZE as TLS_HEADER_SIZE
from .crypto import TLS_MAX_PAYLOAD_SIZE as TLS_MAX_PAYLOAD_SIZE
from .crypto import TLS_RECORD_TYPE_ALERT as TLS_RECORD_TYPE_ALERT
from .crypto import TLS_RECORD_TYPE_DATA as TLS_RECORD_TYPE_DATA
from .crypto import TLS_RECORD_TYPE_HANDSHAKE as TLS_RECORD_TYPE_HANDSHAKE
from .crypto import TlsCryptoInfo as TlsCryptoInfo
from .crypto import TlsProtInfo as TlsProtInfo
from .crypto import tls_crypto_info as tls_crypto_info
from .device import TlsOffloadContextTx as TlsOffloadContextTx
from .device import TlsRecordInfo as TlsRecordInfo
from .device import tls_get_record as tls_get_record
from .main import TLS_BASE as TLS_BASE
from .main import TLS_HW as TLS_HW
from .main import TLS_SW as TLS_SW
from .main import TlsContext as TlsContext
from .main import tls_get_ctx as tls_get_ctx
from .main import tls_info as tls_info
from .main import tls_register

tls_register()

__all__ = [
    "TLS_BASE",
    "TLS_HEADER_SIZE",
    "TLS_HW",
    "TLS_MAX_PAYLOAD_SIZE",
    "TLS_RECORD_TYPE_ALERT",
    "TLS_RECORD_TYPE_DATA",
    "TLS_RECORD_TYPE_HANDSHAKE",
    "TLS_SW",
    "TlsContext",
    "TlsCryptoInfo",
    "TlsOffloadContextTx",
    "TlsProtInfo",
    "TlsRecordInfo",
    "tls_crypto_info",
    "tls_get_ctx",
    "tls_get_record",
    "tls_info",
]
