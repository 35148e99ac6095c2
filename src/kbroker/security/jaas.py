"""Kafka's JAAS lines: `<LoginModule class> <flag> key="value" ...;`, as sasl.jaas.config holds them.

The broker reads the options of the first login module: PLAIN's users (`user_<name>="<password>"`)
and OAUTHBEARER's `unsecuredValidator*` settings. Values are double-quoted (with backslash
escapes) or bare words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r'\s*(?:"((?:\\.|[^"\\])*)"|([^\s=;"]+)|(=)|(;))')
_FLAGS = ("required", "requisite", "sufficient", "optional")


class JaasError(ValueError):
    """A JAAS line that does not parse; the message never repeats its values (they hold passwords)."""


@dataclass(frozen=True)
class LoginModule:
    name: str
    flag: str
    options: dict[str, str] = field(default_factory=dict)

    def users(self) -> dict[str, str]:
        """PLAIN's credentials: user_<name>="<password>" options."""
        return {key[len("user_"):]: value for key, value in self.options.items() if key.startswith("user_")}


def parse_jaas(text: str) -> list[LoginModule]:
    tokens = _tokens(text)
    modules = []
    while tokens:
        name, flag = tokens.pop(0), tokens.pop(0) if tokens else ""
        if flag.lower() not in _FLAGS:
            raise JaasError(f"login module {name} needs a flag (required, requisite, sufficient or optional)")
        options = {}
        while tokens and tokens[0] != ";":
            if len(tokens) < 3 or tokens[1] != "=":
                raise JaasError(f"options of {name} must be key=value pairs")
            options[tokens[0]] = tokens[2]
            del tokens[:3]
        if not tokens:
            raise JaasError(f"the login module {name} must end with ';'")
        tokens.pop(0)
        modules.append(LoginModule(name, flag.lower(), options))
    if not modules:
        raise JaasError("no login module given")
    return modules


def _tokens(text: str) -> list[str]:
    tokens, pos, text = [], 0, text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise JaasError(f"unexpected character at position {pos}")
        quoted, word, equals, end = match.groups()
        tokens.append(re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else word or equals or end)
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens
