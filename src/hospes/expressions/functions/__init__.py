"""Every function of the expression language, one module per category, each registered next to its builder.

Importing this package imports every category module, which fills ``FUNCTIONS`` (see ``registry``).
"""

from hospes.expressions.functions import (
    dates,
    flow,
    generators,
    letters,
    logic,
    multivalued,
    replace,
    roles,
    strings,
)
from hospes.expressions.functions.registry import FUNCTIONS, suggest

__all__ = [
    "FUNCTIONS",
    "dates",
    "flow",
    "generators",
    "letters",
    "logic",
    "multivalued",
    "replace",
    "roles",
    "strings",
    "suggest",
]
