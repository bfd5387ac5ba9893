"""The simulated board and the host PC behind it, for laptops, demos and tests."""
