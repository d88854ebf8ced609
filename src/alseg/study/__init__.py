"""Studies: a grid of experiments run crash-safely into one SQLite results store."""
