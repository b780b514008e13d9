"""The run report: one dict built from the session's records, rendered in several formats.

:mod:`.data` builds the dict (the JSON report's schema, see ``docs/report-schema.md``);
:mod:`.terminal`, :mod:`.json_report`, :mod:`.html` and :mod:`.markdown` only lay it out;
:mod:`.baseline` compares it with an earlier report and :mod:`.budget` caps live spend.
"""
