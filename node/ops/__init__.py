"""Operating a department's stack: its configuration file and ``evnet up/down/status``."""
