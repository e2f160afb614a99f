"""The wire formats the emulator speaks, one module per protocol.

`base` holds what every wire shares; each other module holds one protocol's wire class and
declares its dispatch entry next to it (`EMULATED`, an `EmulatedProtocol`), which
`providers.emulator.protocols` collects. A new protocol is one new module here.
"""
