"""One module per rule: ``ID``, ``MESSAGE``, ``HELP``, ``NODES``, ``check``, and the SQL cases beside it."""
