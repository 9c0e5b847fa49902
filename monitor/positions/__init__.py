"""Positions: structure recognition, the realized P&L ledger (``ledger``, pure) and its store."""
