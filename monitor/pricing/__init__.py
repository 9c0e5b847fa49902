"""The pricing core: pure numerics, no I/O.

- ``black``: Black-76 prices, Greeks and implied vols over whole arrays (the public API).
- ``expiry`` and ``calendar``: settlement instants, time to expiry, monthly expiry rules.
- ``rates``, ``forwards``, ``smile``: discounting, forwards per expiry, the smile.
- ``universe`` and ``valuation``: what the engine calls once per cycle for every instrument.
- ``reasons``: why an implied vol is missing.
Modules starting with ``_`` are the kernels behind ``black``.
"""
