"""PiKVM's kvmd API (``/api/...`` as kvmd serves it behind its nginx, Redfish at ``/redfish/v1``).

A Litestar app of its own (its envelope, its credentials, its errors) over the same services as the
NanoKVM API; ``dispatch`` decides per request which of the two answers on the shared listener.
"""
