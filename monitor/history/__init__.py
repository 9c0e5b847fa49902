"""History that survives a restart: the rules' memory kept in Redis, daily VIX bars backfilled.

- ``state``: the rule memory as a plain, versioned document (pure): VIX bars, break-even
  baselines, layer-gain timers and size increases, the session; restored by name.
- ``vix_csv``: Cboe's published daily VIX history (``VIX_History.csv``: DATE,OPEN,HIGH,LOW,
  CLOSE), parsed and merged under the live daily bars (pure).
- ``store``: the I/O around them: Redis GET/SET of the state, and fetching the CSV from a
  configurable URL with a cache file for when the network does not allow it.
"""
