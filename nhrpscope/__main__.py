"""`python -m nhrpscope` is the `nhrpscope` command."""

from nhrpscope.cli import main

main()
