"""System builders: geometry modules and the assembler that returns a :class:`BuiltSystem`."""

from .assemble import BuiltSystem, build_system

__all__ = ["BuiltSystem", "build_system"]
