"""cxpulse: configuration, command line and wiring."""
