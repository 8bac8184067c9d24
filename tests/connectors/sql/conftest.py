"""The sql tests' database fixtures (defined in sql_support), for every test module here."""

from sql_support import db, lite, my, pg

__all__ = ["db", "lite", "my", "pg"]
