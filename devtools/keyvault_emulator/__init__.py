"""A local Azure Key Vault *secrets* emulator (dev/test only, never deployed).

The real `azure.keyvault.secrets.SecretClient` runs against it unchanged, given
`StaticTokenCredential()`, `verify_challenge_resource=False` and `connection_verify=<ca_bundle>`.
Run it with `python -m devtools.keyvault_emulator --state-dir DIR`, or in-process with `start_emulator`.
"""

from devtools.keyvault_emulator._server import RunningEmulator, start_emulator

__all__ = ["RunningEmulator", "start_emulator"]
