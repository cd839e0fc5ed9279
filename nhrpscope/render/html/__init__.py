"""The ``report`` command's page: one self-contained HTML file (``page.build``)."""
