"""`python -m tunesdk.cli`."""

from tunesdk.cli import main

main()
