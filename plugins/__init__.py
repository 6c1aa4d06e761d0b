"""minidl's built-in components.

Each module is a plugin registered through this distribution's
``minidl.plugins`` entry points, the same way a third-party plugin is: the
registry has no other way in. The classes can also be imported directly
(``from plugins.layers import Linear``).
"""
