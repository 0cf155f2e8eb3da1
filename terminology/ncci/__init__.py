"""NCCI tables: CMS PTP and MUE file readers, the SQLite index and the `terminology import` commands."""
