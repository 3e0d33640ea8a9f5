"""SettingsError on its own, so the modules that parse settings values need nothing else of shared.settings."""


class SettingsError(ValueError):
    """A setting has a value the gateway can't use. The message names the setting."""
