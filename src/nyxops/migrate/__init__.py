"""The guarded migration runner: reviewed files, history, lock, census, dry run, apply."""
