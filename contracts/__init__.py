"""Shapes shared by every Millstream component: messages, topics, settings, errors.

This package is the leaf of the dependency graph: it imports no other Millstream
package, and every other package may import it.
"""
