"""System builders: geometry modules and the assembler that returns a :class:`BuiltSystem`."""

from .assemble import BUILD_FILES, BuiltSystem, build_system

__all__ = ["BUILD_FILES", "BuiltSystem", "build_system"]
