"""Versioned schema migrations, one directory of `NNNN_name.sql` files per dialect."""
