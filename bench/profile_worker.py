"""`make profile` (bash bench/run.sh --profile): where a Quire worker's time goes under load.

run.sh starts one Quire with one worker (the process is the worker) on the bench database;
this script checks the scenario once, warms up with wrk, then keeps wrk loading it while
py-spy samples the worker (`py-spy record --format speedscope --function`: samples aggregated
by function). It writes the speedscope profile (open it at https://www.speedscope.app) and a
summary: the functions with the most samples of their own (self) and on the stack (total), and
the files with the most self samples. Idle samples (the event loop waiting) are left out, so
the shares are of the worker's busy time.
"""

import argparse
import json
import subprocess
import sys
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import httpx
from measure import (
    body_file,
    check_scenario,
    check_viewer,
    cpu_delta,
    cpu_seconds,
    latest_published_slug,
    process_tree,
    run_wrk,
    signed_in_reader,
)
from measurements import JSON, BenchError, Options, Server
from reader_token import bearer_authorization
from scenarios import Scenario, scenarios

TOP = 25
Weights = defaultdict[str, float]  # frame or file -> seconds of samples
PTRACE_HINT = (
    "py-spy reads the worker's memory with ptrace, which needs permission (py-spy says "
    "'Permission Denied' without it): run the bench as root (or as the user that runs Quire "
    "with /proc/sys/kernel/yama/ptrace_scope set to 0), or in a container add the SYS_PTRACE "
    "capability (docker run --cap-add SYS_PTRACE)."
)


@dataclass(frozen=True, slots=True)
class Profile:
    """One thread's samples."""

    thread: str
    frames: list[str]  # "function (file:first line)", shared by all threads
    stacks: list[tuple[list[int], float]]  # frame indexes root first, and the sample's weight

    @property
    def total(self) -> float:
        return sum(weight for _, weight in self.stacks)


def read_speedscope(path: Path) -> list[Profile]:
    """py-spy writes one profile per thread, named 'Thread <id> "<name>"'."""
    document: JSON = json.loads(path.read_text())
    frames = [
        f"{frame['name']} ({short_path(frame.get('file') or '?')}:{frame.get('line') or 0})"
        for frame in document["shared"]["frames"]
    ]
    return [
        Profile(
            thread=str(profile["name"]),
            frames=frames,
            stacks=[
                (list(sample), float(weight))
                for sample, weight in zip(profile["samples"], profile["weights"], strict=True)
            ],
        )
        for profile in document["profiles"]
    ]


def main_thread(profiles: list[Profile]) -> Profile:
    """The event loop's thread, where requests are served; the others are helpers (AnyIO's
    thread pool, exporters) that py-spy may count as busy while they wait on a lock."""
    for profile in profiles:
        if '"MainThread"' in profile.thread:
            return profile
    raise BenchError(f"py-spy recorded no MainThread: {[p.thread for p in profiles]}")


def short_path(path: str) -> str:
    """site-packages/strawberry/x.py -> strawberry/x.py; the project's own files from its root."""
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python3" else tail
    root = str(Path(__file__).resolve().parent.parent) + "/"
    return path.removeprefix(root)


def self_and_total(profile: Profile) -> tuple[Weights, Weights]:
    own: Weights = defaultdict(float)
    total: Weights = defaultdict(float)
    for stack, weight in profile.stacks:
        if not stack:
            continue
        own[profile.frames[stack[-1]]] += weight
        for frame in {profile.frames[index] for index in stack}:  # recursion counts once
            total[frame] += weight
    return own, total


def below_trunk(total: Weights) -> Weights:
    """Without the frames under nearly every sample (<module>, the CLI, uvicorn's loop)."""
    trunk = 0.99 * max(total.values(), default=0.0)
    return defaultdict(float, {name: w for name, w in total.items() if w < trunk})


def by_file(own: Weights) -> Weights:
    files: Weights = defaultdict(float)
    for frame, weight in own.items():
        files[frame.rsplit("(", 1)[1].rsplit(":", 1)[0]] += weight
    return files


def ranking(title: str, counts: Weights, total: float, limit: int = TOP) -> list[str]:
    lines = [title]
    for name, weight in sorted(counts.items(), key=lambda item: -item[1])[:limit]:
        lines.append(f"  {100 * weight / total:5.1f}%  {name}")
    return lines


def summary(profiles: list[Profile], heading: str) -> str:
    profile = main_thread(profiles)
    own, total = self_and_total(profile)
    busy = profile.total or 1.0
    return "\n".join(
        [
            heading,
            "",
            *ranking(
                f"Top {TOP} functions by self time (% of the main thread's busy samples):",
                own,
                busy,
            ),
            "",
            *ranking(
                f"Top {TOP} functions by total time (on the stack; the trunk under every "
                "request - the CLI, uvicorn's event loop - left out):",
                below_trunk(total),
                busy,
            ),
            "",
            *ranking("Top 15 files by self time:", by_file(own), busy, 15),
            "",
            *other_threads(profiles, profile),
        ]
    )


def other_threads(profiles: list[Profile], main: Profile) -> list[str]:
    lines = ["Other threads (left out above):"]
    for profile in profiles:
        if profile is main:
            continue
        own, _ = self_and_total(profile)
        top = max(own, key=lambda frame: own[frame]) if own else "-"
        lines.append(f"  {profile.thread}: {profile.total:.2f} s of samples, mostly in {top}")
    return lines if len(lines) > 1 else []


# --- the load and the recording -------------------------------------------------------------


def busiest_process(root: int, seconds: float, load: threading.Thread) -> int:
    """The process of the tree that works while the warm-up load runs (the worker)."""
    before = cpu_seconds(process_tree(root))
    load.join(seconds)
    delta = cpu_delta(before, cpu_seconds(process_tree(root)))
    return max(delta, key=lambda pid: delta[pid]) if delta else root


def record(py_spy: str, *, pid: int, seconds: int, rate: int, output: Path) -> None:
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds)]
    command += ["--rate", str(rate), "--function", "--format", "speedscope", "-o", str(output)]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BenchError(
            f"{py_spy} is missing: run `make install` (py-spy is in pyproject's bench extra)"
        ) from None
    if completed.returncode != 0 or not output.exists():
        detail = (completed.stderr or completed.stdout).strip().splitlines()[:3]
        raise BenchError(f"py-spy could not record pid {pid}: {' | '.join(detail)}\n{PTRACE_HINT}")


def load_in_background(
    server: Server, body: Path, seconds: int, options: Options, authorization: str | None
) -> tuple[threading.Thread, dict[str, JSON]]:
    outcome: dict[str, JSON] = {}

    def run() -> None:
        outcome["wrk"] = run_wrk(server, body, seconds, options, authorization=authorization)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


@dataclass(frozen=True, slots=True)
class Arguments:
    server: Server
    scenario: Scenario
    options: Options
    seconds: int
    rate: int
    py_spy: str
    output_dir: Path


def parse_arguments(argv: list[str]) -> Arguments:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--scenario", default="b")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--py-spy", default="py-spy")
    parser.add_argument("--output-dir", type=Path, required=True)
    arguments = parser.parse_args(argv)
    if not arguments.url.startswith(("http://127.0.0.1:", "http://localhost:")):
        parser.error(f"only loopback targets are allowed, not {arguments.url}")
    catalogue = {s.key: s for s in scenarios(latest_published_slug(arguments.database))}
    if arguments.scenario not in catalogue:
        parser.error(f"--scenario {arguments.scenario!r}: one of {', '.join(catalogue)}")
    options = Options(
        database=arguments.database,
        connections=arguments.connections,
        threads=arguments.threads,
        duration=arguments.seconds,
        warmup=arguments.warmup,
        sql_requests=0,
        output=arguments.output_dir,
    )
    return Arguments(
        server=Server("quire", arguments.url, arguments.pid, None, frozenset(catalogue)),
        scenario=catalogue[arguments.scenario],
        options=options,
        seconds=arguments.seconds,
        rate=arguments.rate,
        py_spy=arguments.py_spy,
        output_dir=arguments.output_dir,
    )


def authorization_for(arguments: Arguments, client: httpx.Client) -> str | None:
    if not arguments.scenario.signed_in:
        return None
    reader = signed_in_reader(arguments.options.database)
    authorization = bearer_authorization(reader)
    check_viewer(client, arguments.server, reader, authorization)
    return authorization


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    server, scenario, options = arguments.server, arguments.scenario, arguments.options
    with httpx.Client(timeout=30) as client:
        authorization = authorization_for(arguments, client)
        check_scenario(client, server, scenario, authorization=authorization)
    output = arguments.output_dir / f"profile-{scenario.key}.speedscope.json"
    output.unlink(missing_ok=True)
    with body_file(scenario.bodies["quire"]) as body:
        warmup = max(options.warmup, 1)
        print(f"bench: profile ({scenario.key}): {warmup}s warm-up", flush=True)
        thread, _ = load_in_background(server, body, warmup, options, authorization)
        worker = busiest_process(server.pid, warmup + 5, thread)
        thread.join()
        print(
            f"bench: py-spy record on pid {worker} for {arguments.seconds}s at "
            f"{arguments.rate} Hz while wrk loads ({scenario.key})",
            flush=True,
        )
        # wrk outlasts the recording by a second at each end, so every sample is under load.
        thread, outcome = load_in_background(
            server, body, arguments.seconds + 2, options, authorization
        )
        threading.Event().wait(1)
        record(
            arguments.py_spy,
            pid=worker,
            seconds=arguments.seconds,
            rate=arguments.rate,
            output=output,
        )
        thread.join()
    wrk = outcome.get("wrk", {})
    requests = int(wrk.get("requests", 0))
    rate = requests / (wrk["duration_us"] / 1e6) if wrk else 0.0
    profiles = read_speedscope(output)
    busy = main_thread(profiles).total
    heading = (
        f"Profile of one Quire worker (pid {worker}) under ({scenario.key}) "
        f"{scenario.description}: {arguments.seconds}s, {options.connections} connections, "
        f"{rate:.0f} req/s while sampled (py-spy's pauses slow it). Main thread busy in "
        f"{busy:.2f} s of the {arguments.seconds} s ({100 * busy / arguments.seconds:.0f}%; "
        f"samples at {arguments.rate} Hz, idle ones left out)."
    )
    text = summary(profiles, heading)
    summary_path = arguments.output_dir / f"profile-{scenario.key}.txt"
    summary_path.write_text(text + "\n")
    print()
    print(text)
    print(f"\nbench: wrote {output} (open at https://www.speedscope.app) and {summary_path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as error:
        print(f"bench: FAILED: {error}", file=sys.stderr)
        sys.exit(1)
