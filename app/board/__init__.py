"""The hardware: one interface per function with its drivers, and one module per board kind (``sim``,
``nanokvm``, ``rpi4``) that builds the ``Board`` holding them (``base``, chosen in ``select``)."""
