"""The principal of a TLS client: its certificate's distinguished name through `ssl.principal.mapping.rules`.

Kafka's default principal builder names a mutual-TLS client `User:<DN>`, the DN written as RFC 2253
does (`CN=alice,OU=eng,O=Example`), after the first mapping rule that applies: `DEFAULT` keeps the
DN, `RULE:<regex>/<replacement>/[LU]` rewrites a DN the regex matches whole (`$1` back references,
then lower- or upper-cased). A DN no rule applies to is refused, as Kafka refuses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography import x509

from kbroker.config import ConfigError

# One rule: DEFAULT, RULE:pattern/replacement/[LU], or anything else (refused). Kafka's grammar:
# patterns and replacements may hold escaped characters, including an escaped slash.
_RULE = r"(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?).*?|(.*?)"
_SPLITTER = re.compile(r"\s*(" + _RULE + r")\s*(?:,\s*|$)")
_PARSER = re.compile(_RULE)


class NoMatchingRule(ValueError):
    """No mapping rule applies to a certificate's name: the TLS client is refused."""


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: re.Pattern[str] | None  # None for DEFAULT
    replacement: str = ""
    case: str = ""  # "L", "U" or ""

    def apply(self, dn: str) -> str | None:
        if self.pattern is None:
            return dn
        if not self.pattern.fullmatch(dn):
            return None
        # Java's $n back references become Python's \g<n>; a literal backslash stays one.
        replacement = re.sub(r"\$(\d+)", r"\\g<\1>", self.replacement.replace("\\", "\\\\"))
        name = self.pattern.sub(replacement, dn)
        return name.lower() if self.case == "L" else name.upper() if self.case == "U" else name


def parse_rules(text: str) -> tuple[Rule, ...]:
    """Parse `ssl.principal.mapping.rules`; a ConfigError names a rule that is not one."""
    rules = []
    for match in _SPLITTER.finditer(text.strip()):
        rule = match[1]
        if not rule and match.end() >= len(text.strip()):
            break
        parsed = _PARSER.fullmatch(rule)
        if parsed is None or parsed[5] is not None:
            raise ConfigError("ssl.principal.mapping.rules", f"invalid rule: {rule!r}")
        if parsed[1]:
            rules.append(Rule(None))
        else:
            try:
                rules.append(Rule(re.compile(parsed[2]), parsed[3], parsed[4]))
            except re.error as exc:
                raise ConfigError("ssl.principal.mapping.rules", f"invalid rule {rule!r}: {exc}") from None
    return tuple(rules)


def map_name(rules: tuple[Rule, ...], dn: str) -> str:
    for rule in rules:
        name = rule.apply(dn)
        if name is not None:
            return name
    raise NoMatchingRule(f"no rules apply to {dn}")


def certificate_dn(der: bytes) -> str:
    """The subject of a DER certificate, written as RFC 2253 (and Java's X500Principal) write it."""
    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


def tls_principal(rules: tuple[Rule, ...], der: bytes | None) -> str | None:
    """`User:<mapped DN>` of a client certificate; None without one (the connection stays anonymous)."""
    if der is None:
        return None
    return "User:" + map_name(rules, certificate_dn(der))
