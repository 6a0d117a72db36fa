"""Data files shipped with peersim (the embedded default scenario)."""
