#!/usr/bin/env python3
"""Converts gitleaks' default config (config/gitleaks.toml) into rules.json.

Usage: python3 convert-gitleaks.py path/to/gitleaks.toml COMMIT > rules.json

gitleaks (https://github.com/gitleaks/gitleaks) is MIT-licensed; its notice is
carried in the output header and in NOTICE beside this script.

Mechanical changes, each recorded per rule under "changes":
  * Go RE2's \\w, \\d and \\b are ASCII; the Rust `regex` crate's are Unicode.
    They become explicit ASCII forms so both the meaning and the DFA size match
    gitleaks ([0-9A-Za-z_], [0-9], (?-u:\\b)). \\s and \\S stay Unicode.
  * A '{' that does not open a counted repetition is a literal in RE2 and an
    error in Rust: it is escaped. Inside a class '[', '&', '~' are escaped
    (Rust reads them as nested classes and set operators).
  * The leading context "[\\w.-]{0,50}?" of the keyword rules only widens the
    reported match; it is removed (it cannot change the secret group and it
    costs the reverse DFA dearly).
  * The secret terminator (?:[\\x60'"\\s;]|\\\\[nr]|$) also accepts , . ! ? ) ] } > < | &
    so a token ending a sentence or a bracketed list is still found.
Rules scoped to a file path (`path`) cannot apply to memory text and are
dropped; the count is printed on stderr.
"""
import json
import re
import sys
import tomllib

TERMINATOR = "(?:[\\x60'\"\\s;]|\\\\[nr]|$)"
WIDE_TERMINATOR = "(?:[\\x60'\"\\s;,.!?)\\]}><|&]|\\\\[nr]|$)"
CONTEXT = "[\\w.-]{0,50}?"
REPEAT = re.compile(r"\{\d*(?:,\d*)?\}")

MIT = (
    "MIT License. Copyright (c) 2019 Zachary Rice. Permission is hereby granted, free of "
    "charge, to any person obtaining a copy of this software and associated documentation "
    "files (the \"Software\"), to deal in the Software without restriction, including without "
    "limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or "
    "sell copies of the Software, and to permit persons to whom the Software is furnished to do "
    "so, subject to the following conditions: The above copyright notice and this permission "
    "notice shall be included in all copies or substantial portions of the Software. THE "
    "SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, "
    "INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR "
    "PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE "
    "FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR "
    "OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER "
    "DEALINGS IN THE SOFTWARE."
)


def translate(rx):
    """RE2 syntax to Rust `regex` syntax (see the module docstring)."""
    out = []
    i, n = 0, len(rx)
    in_class = False
    while i < n:
        c = rx[i]
        if c == "\\" and i + 1 < n:
            e = rx[i + 1]
            if in_class:
                out.append({"w": "0-9A-Za-z_", "d": "0-9"}.get(e, "\\" + e))
            else:
                out.append({"w": "[0-9A-Za-z_]", "d": "[0-9]", "b": "(?-u:\\b)",
                            "B": "(?-u:\\B)"}.get(e, "\\" + e))
            i += 2
            continue
        if in_class:
            if c == "[" and rx.startswith("[:", i):
                end = rx.index(":]", i + 2) + 2
                out.append(rx[i:end])
                i = end
                continue
            if c in "[&~":
                out.append("\\" + c)
            elif c == "]":
                out.append(c)
                in_class = False
            else:
                out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < n and rx[i] == "^":
                out.append("^")
                i += 1
            if i < n and rx[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if c == "{":
            m = REPEAT.match(rx, i)
            if m and m.group(0) != "{}" and m.group(0) != "{,}":
                out.append(m.group(0))
                i = m.end()
            else:
                out.append("\\{")
                i += 1
            continue
        if c == "}":
            out.append("\\}")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def convert_rule(rule, changes):
    rx = rule["regex"]
    if CONTEXT in rx:
        rx = rx.replace(CONTEXT, "")
        changes.append("context-prefix-removed")
    if TERMINATOR in rx:
        rx = rx.replace(TERMINATOR, WIDE_TERMINATOR)
        changes.append("terminator-widened")
    new = translate(rx)
    if new != rx:
        changes.append("re2-to-rust")
    return new


def convert_allow(allow):
    if allow.get("condition", "OR").upper() == "AND" and allow.get("paths"):
        return None  # can only hold for a file path, which memory text lacks
    regexes = [translate(r) for r in allow.get("regexes", [])]
    stopwords = [s.lower() for s in allow.get("stopwords", [])]
    if not regexes and not stopwords:
        return None
    out = {"target": allow.get("regexTarget", "secret")}
    if regexes:
        out["regexes"] = regexes
    if stopwords:
        out["stopwords"] = stopwords
    return out


def main():
    path, commit = sys.argv[1], sys.argv[2]
    with open(path, "rb") as f:
        config = tomllib.load(f)
    rules, dropped = [], []
    for rule in config["rules"]:
        if "path" in rule or "regex" not in rule:
            dropped.append((rule["id"], "scoped to a file path"))
            continue
        changes = []
        out = {"id": rule["id"], "regex": convert_rule(rule, changes)}
        if rule.get("secretGroup"):
            out["group"] = rule["secretGroup"]
        out["keywords"] = sorted({k.lower() for k in rule.get("keywords", [])})
        if rule.get("entropy"):
            out["entropy"] = rule["entropy"]
        allows = [a for a in map(convert_allow, rule.get("allowlists", [])) if a]
        if allows:
            out["allow"] = allows
        if changes:
            out["changes"] = changes
        rules.append(out)
    glob = convert_allow(config.get("allowlist", {})) or {}
    doc = {
        "source": "https://github.com/gitleaks/gitleaks/blob/%s/config/gitleaks.toml" % commit,
        "commit": commit,
        "gitleaks_config_min_version": config.get("minVersion", ""),
        "license": MIT,
        "dropped": [{"id": i, "reason": r} for i, r in dropped],
        "allow": glob,
        "rules": rules,
    }
    json.dump(doc, sys.stdout, indent=0, ensure_ascii=True)
    sys.stdout.write("\n")
    print("converted %d rules, dropped %d: %s" % (len(rules), len(dropped),
          ", ".join(i for i, _ in dropped)), file=sys.stderr)


if __name__ == "__main__":
    main()
