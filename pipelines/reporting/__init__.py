"""Reporting: the terminal report, the HTML decision page and charts, all read from the published warehouse."""
