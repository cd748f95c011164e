"""The dynamic-membership rule language: ``user.department -eq "Sales" -and user.accountEnabled -eq true``.

Framework-free, like ``hospes.expressions``: ``parser`` (the one lark grammar), ``compiler`` (checks and compiles a
rule into closures), ``properties`` (what a rule may read and where Hospes keeps it), ``errors`` (the reference's
messages with a position). Validation, preview and processing all use the ``Rule`` that ``compile_rule`` returns.
"""

from hospes.membership_rules.compiler import Detail, Rule, compile_rule
from hospes.membership_rules.errors import RuleError, RuleEvaluationError
from hospes.membership_rules.parser import MAX_LENGTH
from hospes.membership_rules.properties import MEMBER_OF

__all__ = ["MAX_LENGTH", "MEMBER_OF", "Detail", "Rule", "RuleError", "RuleEvaluationError", "compile_rule"]
