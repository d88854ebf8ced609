"""User-facing errors: the CLI prints their message as one line and exits with code 2."""


class AlsegError(Exception):
    """Base of every error caused by user input (files, names, values), not by a bug."""


class ConfigError(AlsegError):
    """An unknown name, an impossible budget or another invalid setting."""


class DataError(AlsegError):
    """A missing, corrupt or inconsistent data file."""


def unknown_name(kind: str, value: object, allowed: "list[str] | tuple[str, ...]") -> ConfigError:
    """The standard error for a name that is not registered."""
    return ConfigError(f"unknown {kind} {value!r}; allowed: {', '.join(sorted(allowed))}")
