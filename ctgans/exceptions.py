"""Errors that the command-line tools report as one line and exit status 2."""


class CtgansInputError(ValueError):
    """Bad user input: a config key, a file, a value. The message is one line."""


class ConfigError(CtgansInputError):
    """A YAML config that does not validate."""


class DataError(CtgansInputError):
    """A data file that does not hold what the config asks for."""
