"""docs/configuration.md's key tables, rendered from the definitions so the page cannot drift.

`python -m kbroker.config.docs docs/configuration.md` rewrites the generated part of the page
(between the two marker lines); tests/config checks the committed page is current.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kbroker.config.broker import BROKER_CONFIGS, DEV_PROFILE, IGNORED_KEYS
from kbroker.config.definitions import ConfigDef
from kbroker.config.kafka_keys import KAFKA_ONLY_CONFIGS
from kbroker.config.topic import TOPIC_CONFIGS, TOPIC_SYNONYMS

BEGIN = "<!-- BEGIN GENERATED: python -m kbroker.config.docs docs/configuration.md -->"
END = "<!-- END GENERATED -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default(defn: ConfigDef) -> str:
    return "(none)" if defn.default is None else f"`{defn.render(defn.default)}`" if defn.render(defn.default) else '`""`'


def _broker_table(defs: tuple[ConfigDef, ...]) -> list[str]:
    lines = ["| Key | Type | Default | Valid values | Importance | Update mode | Description |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for defn in sorted(defs, key=lambda x: x.name):
        valid = _cell(defn.validator.describe()) if defn.validator else ""
        profile = f" Dev profile: `{DEV_PROFILE[defn.name]}`." if defn.name in DEV_PROFILE else ""
        internal = " Kafka-internal: described only when set." if defn.internal else ""
        lines.append(f"| `{defn.name}` | {defn.type.label} | {_cell(_default(defn))} | {valid} | "
                     f"{defn.importance.value} | {defn.mode.value} | {_cell(defn.doc)}{profile}{internal} |")
    return lines


def render_tables() -> str:
    """The generated markdown: broker keys, Kafka's keys kbroker does not act on, topic keys, ignored keys."""
    lines = ["### Broker keys", "", *_broker_table(BROKER_CONFIGS),
             "", "### Kafka keys for features kbroker lacks", "",
             "Known, checked, described and stored like the others, so Kafka's files and admin tools work, "
             "but they change nothing in kbroker.", "", *_broker_table(KAFKA_ONLY_CONFIGS),
             "", "### Topic keys", "",
             "| Key | Type | Default | Valid values | Broker synonyms, first wins | Description |",
             "| --- | --- | --- | --- | --- | --- |"]
    for defn in TOPIC_CONFIGS:
        valid = _cell(defn.validator.describe()) if defn.validator else ""
        synonyms = ", ".join(f"`{s.broker_key}`" for s in TOPIC_SYNONYMS[defn.name])
        lines.append(f"| `{defn.name}` | {defn.type.label} | {_cell(_default(defn))} | {valid} | {synonyms} | {_cell(defn.doc)} |")
    ignored = "".join(f"`{key}`, " for key in sorted(IGNORED_KEYS))
    lines += ["", "### Keys accepted and ignored", "", f"{ignored}Any `listener.name.*` key."]
    return "\n".join(lines) + "\n"


def update_page(text: str) -> str:
    """Replace the generated part of the page's text."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{render_tables()}{END}{tail}"


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "docs/configuration.md")
    path.write_text(update_page(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
