"""The error the data tools raise for bad input (the CLIs turn it into a message + exit 1)."""


class DataError(RuntimeError):
    """Bad input data or options: the message names the file/key and the problem."""
