"""The Dockerfile and .dockerignore read the way Docker reads them, for the parts Quire uses.

tests/test_dockerfile.py checks the image's rules with it, and `.ci/container-steps` uses its
command line to carry out the Dockerfile's build stage and start the image's command on a
machine without a container engine:

    python3 tests/dockerfile.py build --root DIR     # the build stage's COPY and RUN, under DIR
    python3 tests/dockerfile.py runtime --root DIR   # the final stage's ENV, USER, HEALTHCHECK
                                                     # and CMD as bash assignments

Container paths (/app, /venv: the WORKDIRs and `-m venv` targets) become paths under DIR, in
the commands as well. Standard library only: it runs before any venv exists.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
# The PATH of the python images (Debian's default with /usr/local/bin first).
BASE_IMAGE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    arguments: str  # continuation lines joined, comment lines dropped
    line: int  # where it starts in the file

    @property
    def flags(self) -> dict[str, str]:
        """Leading `--name=value` options (COPY --from=..., HEALTHCHECK --interval=...)."""
        found: dict[str, str] = {}
        for word in self.arguments.split():
            if not word.startswith("--"):
                break
            name, _, value = word[2:].partition("=")
            found[name] = value
        return found

    @property
    def body(self) -> str:
        """The arguments after the leading options."""
        words = self.arguments.split(" ")
        while words and (words[0].startswith("--") or not words[0]):
            words.pop(0)
        return " ".join(words).strip()


@dataclass(slots=True)
class Stage:
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def index(self, instruction: Instruction) -> int:
        return self.instructions.index(instruction)

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """The ENV instructions applied in order over `base` ($VAR and ${VAR} expanded)."""
        environment = dict(base)
        for instruction in self.all("ENV"):
            environment.update(parse_env(instruction.arguments, environment))
        return environment

    @property
    def workdir(self) -> str:
        workdir = "/"
        for instruction in self.all("WORKDIR"):
            workdir = os.path.join(workdir, instruction.arguments.strip())
        return workdir


def logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """(line number, instruction) with backslash continuations joined and comments dropped."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        yield start, " ".join(part for part in pending if part)
        pending = []
    if pending:
        yield start, " ".join(part for part in pending if part)


def parse(text: str) -> list[Stage]:
    stages: list[Stage] = []
    for number, line in logical_lines(text):
        keyword, _, arguments = line.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip(), number)
        if instruction.keyword == "FROM":
            words = instruction.body.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, number))
        if instruction.keyword == "ARG" and not stages:
            continue  # an ARG before the first FROM belongs to no stage
        if not stages:
            raise ValueError(f"line {number}: {instruction.keyword} before the first FROM")
        stages[-1].instructions.append(instruction)
    return stages


def load(path: Path = DOCKERFILE) -> list[Stage]:
    return parse(path.read_text())


def stage_named(stages: list[Stage], name: str) -> Stage:
    for stage in stages:
        if stage.name == name:
            return stage
    raise KeyError(f"no stage named {name!r}")


def _expand(value: str, environment: Mapping[str, str]) -> str:
    return re.sub(
        r"\$(?:\{(\w+)\}|(\w+))",
        lambda match: environment.get(match.group(1) or match.group(2), ""),
        value,
    )


def parse_env(arguments: str, environment: Mapping[str, str]) -> dict[str, str]:
    """`ENV a=1 b="two words"` (or the old `ENV key value`)."""
    words = shlex.split(arguments)
    if words and "=" not in words[0]:
        return {words[0]: _expand(" ".join(words[1:]), environment)}
    result: dict[str, str] = {}
    for word in words:
        key, _, value = word.partition("=")
        result[key] = _expand(value, {**environment, **result})
    return result


def exec_form(arguments: str) -> list[str] | None:
    """The argv of a JSON array form (CMD ["quire", "serve"]), None for the shell form."""
    text = arguments.strip()
    if not text.startswith("["):
        return None
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(word, str) for word in value):
        raise ValueError(f"not a JSON array of strings: {text}")
    return value


def healthcheck_command(instruction: Instruction) -> list[str]:
    """The argv a HEALTHCHECK runs (the shell form runs under /bin/sh -c)."""
    body = instruction.body
    if not body.upper().startswith("CMD "):
        raise ValueError(f"HEALTHCHECK without CMD: {instruction.arguments}")
    command = body[4:].strip()
    return exec_form(command) or ["/bin/sh", "-c", command]


def command_of(instruction: Instruction) -> list[str]:
    return exec_form(instruction.arguments) or ["/bin/sh", "-c", instruction.arguments]


# .dockerignore: Go's filepath.Match plus `**`, with the last matching line deciding, and a
# directory's exclusion covering everything in it (moby/patternmatcher).


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    pattern = os.path.normpath(pattern.strip().lstrip("/"))
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            index += 2
            if pattern.startswith("/", index):
                index += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                inner = pattern[index + 1 : end]
                if inner.startswith(("!", "^")):
                    inner = "^" + inner[1:]
                out.append(f"[{inner}]")
                index = end
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            out.append(re.escape(pattern[index]))
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out))


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    text: str
    negated: bool
    regex: re.Pattern[str]


def ignore_rules(text: str) -> list[IgnoreRule]:
    rules: list[IgnoreRule] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:].strip() if negated else line
        rules.append(IgnoreRule(line, negated, _pattern_regex(pattern)))
    return rules


def load_ignore_rules(path: Path = DOCKERIGNORE) -> list[IgnoreRule]:
    return ignore_rules(path.read_text()) if path.exists() else []


def is_ignored(relative_path: str, rules: list[IgnoreRule]) -> bool:
    """Whether the build context leaves out this path (relative to the context, `/`-separated)."""
    parts = relative_path.strip("/").split("/")
    prefixes = ["/".join(parts[:length]) for length in range(1, len(parts) + 1)]
    ignored = False
    for rule in rules:
        if any(rule.regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not rule.negated
    return ignored


# Carrying out the build stage on this machine.


class PathMap:
    """Container paths (/app, /venv) as paths under `root` on this machine."""

    def __init__(self, root: Path, container_roots: Iterable[str]) -> None:
        self.root = root
        self.names = sorted({name.strip("/").split("/")[0] for name in container_roots} - {""})
        alternatives = "|".join(re.escape(name) for name in self.names)
        self._pattern = re.compile(rf"(?<![\w./-])/(?:{alternatives})(?![\w.-])")

    def host(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def translate(self, text: str) -> str:
        if not self.names:
            return text
        return self._pattern.sub(lambda match: f"{self.root}{match.group(0)}", text)


def container_roots(stages: list[Stage]) -> set[str]:
    roots = {stage.workdir for stage in stages} - {"/"}
    for stage in stages:
        for instruction in stage.all("RUN"):
            roots.update(re.findall(r"-m venv (/\S+)", instruction.arguments))
    return roots


def copy_from_context(
    sources: list[str],
    destination: Path,
    *,
    into_directory: bool,
    context: Path = REPO,
    rules: list[IgnoreRule] | None = None,
) -> None:
    """COPY: a directory source copies its contents; ignored paths are not in the context."""
    rules = load_ignore_rules() if rules is None else rules
    for source in sources:
        path = context / source
        if not path.exists() or is_ignored(source, rules):
            raise FileNotFoundError(f"COPY {source}: not in the build context")
        if path.is_dir():
            for item in sorted(path.rglob("*")):
                relative = item.relative_to(context).as_posix()
                if item.is_dir() or is_ignored(relative, rules):
                    continue
                target = destination / item.relative_to(path)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(item, target)
        else:
            target = destination / path.name if into_directory else destination
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def build(stage_name: str, root: Path, python: str) -> None:
    """Carries out one stage's WORKDIR, ENV, COPY (from the context) and RUN under `root`.
    `python` is what the base image's `python` would be."""
    stages = load()
    stage = stage_named(stages, stage_name)
    paths = PathMap(root, container_roots(stages))
    rules = load_ignore_rules()
    shims = root / ".image-bin"
    shims.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3"):
        (shims / name).unlink(missing_ok=True)
        (shims / name).symlink_to(shutil.which(python) or python)
    environment = {
        "PATH": f"{shims}:{BASE_IMAGE_PATH}",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        # This machine's pip configuration (an index mirror, certificates) and proxies apply.
        **{
            key: value
            for key, value in os.environ.items()
            if key.startswith("PIP_") or key.lower() in {"http_proxy", "https_proxy", "no_proxy"}
        },
    }
    workdir = "/"
    for instruction in stage.instructions:
        print(f"==> {instruction.keyword} {instruction.arguments}", flush=True)
        if instruction.keyword == "WORKDIR":
            workdir = os.path.join(workdir, instruction.arguments.strip())
            paths.host(workdir).mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "ENV":
            environment.update(parse_env(paths.translate(instruction.arguments), environment))
        elif instruction.keyword == "COPY":
            if "from" in instruction.flags:
                raise ValueError(f"line {instruction.line}: COPY --from is not supported here")
            *sources, destination = shlex.split(instruction.body)
            copy_from_context(
                sources,
                paths.host(os.path.join(workdir, destination)),
                into_directory=len(sources) > 1 or destination.endswith("/"),
                rules=rules,
            )
        elif instruction.keyword == "RUN":
            command = paths.translate(instruction.body)
            subprocess.run(  # noqa: S603 - the Dockerfile's own command, under /bin/sh as Docker runs it
                ["/bin/sh", "-c", command], cwd=paths.host(workdir), env=environment, check=True
            )
        elif instruction.keyword not in {"FROM", "ARG", "LABEL"}:
            raise ValueError(f"line {instruction.line}: {instruction.keyword} not supported here")


def runtime(root: Path) -> str:
    """The final stage's settings as bash assignments, with container paths under `root`."""
    stages = load()
    final = stages[-1]
    paths = PathMap(root, container_roots(stages))
    environment = final.environment({"PATH": BASE_IMAGE_PATH, "LANG": "C.UTF-8"})
    healthcheck = final.last("HEALTHCHECK")
    cmd = final.last("CMD")
    user = final.last("USER")
    if healthcheck is None or cmd is None:
        raise ValueError("the final stage needs a HEALTHCHECK and a CMD")
    assignments = {
        "IMAGE_ENV": [f"{key}={paths.translate(value)}" for key, value in environment.items()],
        "IMAGE_HEALTHCHECK": [paths.translate(w) for w in healthcheck_command(healthcheck)],
        "IMAGE_CMD": [paths.translate(word) for word in command_of(cmd)],
    }
    lines = [
        f"{name}=({' '.join(shlex.quote(w) for w in words)})" for name, words in assignments.items()
    ]
    lines.append(f"IMAGE_WORKDIR={shlex.quote(str(paths.host(final.workdir)))}")
    lines.append(f"IMAGE_USER={shlex.quote(user.arguments.strip() if user else '')}")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="tests/dockerfile.py", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build_command = commands.add_parser("build", help="carry out the build stage under --root")
    build_command.add_argument("--root", type=Path, required=True)
    build_command.add_argument("--stage", default="build")
    build_command.add_argument("--python", default="python3")
    runtime_command = commands.add_parser("runtime", help="the final stage as bash assignments")
    runtime_command.add_argument("--root", type=Path, required=True)
    arguments = parser.parse_args(argv)
    if arguments.command == "build":
        build(arguments.stage, arguments.root.resolve(), arguments.python)
    else:
        print(runtime(arguments.root.resolve()))


if __name__ == "__main__":
    main(sys.argv[1:])
