"""The hardware, one interface per function, each with a real driver and a sim driver."""
