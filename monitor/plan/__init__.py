"""The roll plan: one harvest-and-roll decision per book per cycle (pure: no I/O imports).

When a short-dated hedge layer pops, the method harvests the gain and rolls part of it into
45-90-day VIX calls (or, for the conversion variant, call spreads) while restoring the book's
vega baseline. The plan chooses the harvest (which firing layers, fully or partly) and the roll
(which instrument, how many) together:

- ``model``: the harvestable layers and the roll instruments, per unit, as plain numbers;
- ``instruments``: the live roll instruments (calls or call spreads) from the market arrays;
- ``search``: the choice, exhaustive over harvest units x instruments x quantities (vectorized);
- ``breakevens``: the hedge-inclusive break-evens after the plan (the seam to the ledger);
- ``preconditions``: macro calendar, term structure, VIX momentum, break-evens, each with its
  value, and the action text that follows from them;
- ``baseline``: the book's vega baseline, the trader's target, and where it came from;
- ``build``: one ``Plan`` per book per cycle, computed when something asks for it.
"""
