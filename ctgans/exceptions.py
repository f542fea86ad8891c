"""Errors that the command-line tools report as one line and exit status 2."""


class CtgansInputError(ValueError):
    """Bad user input: a config key, a file, a value. The message is one line."""


class ConfigError(CtgansInputError):
    """A YAML config that does not validate."""


class DataError(CtgansInputError):
    """A data file that does not hold what the config asks for."""


def hdf5_reason(err: Exception) -> str:
    """The innermost line of an HDF5 error back trace (else its last line)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    end = "End of HDF5 error back trace"
    if end in lines and lines.index(end) > 0:
        return lines[lines.index(end) - 1]
    return lines[-1] if lines else type(err).__name__
