"""Codecs: the parsers and writers of data formats, apart from any transport.

============  ================================================================
module        what it does
============  ================================================================
``json``      orjson wrappers: ``loads`` (DecodeError with file:line:column),
              ``dumps`` / ``dumps_pretty`` (ConversionError for the unencodable)
``xml``       XML ⇄ dict (xmltodict conventions), refusing DTDs, entities and
              external references; size and depth caps
``csv``       CSV records from a byte stream with per-record errors (bad bytes,
              wrong field count, oversized records); row encoding for writers
``fixedwidth`` fixed-width records from field specs (position, width, type, padding,
              implied decimals, dates), per-field errors naming line and columns
``lines``     bounded-memory line splitting shared by the line formats
============  ================================================================

Every codec raises only :mod:`integrator.errors` types for bad data; connectors use
them so that the same input fails the same way whatever transport carried it.
"""
