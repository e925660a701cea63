"""`python -m tunesdk`: the same as the `tunesdk` command."""

from tunesdk.cli import main

main()
