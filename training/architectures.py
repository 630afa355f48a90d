"""The architectures' names, importable without TensorFlow (the command line lists them in --help)."""

ARCHITECTURES = ("npr", "unmasknet", "paper")
DEFAULT_ARCHITECTURE = "npr"
