"""Development tools shipped in the package (the emulator, the demo, a private redis-server).

Nothing on the production path imports this package."""
