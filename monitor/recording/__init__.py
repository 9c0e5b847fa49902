"""``vixmon record``: the live quote stream written to session files the replay feed reads."""
