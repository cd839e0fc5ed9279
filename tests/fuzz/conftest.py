"""The atheris harnesses here are run by hand (see README.md), never by pytest:
they import atheris, which is no dependency of the project."""

collect_ignore_glob = ["*.py"]
