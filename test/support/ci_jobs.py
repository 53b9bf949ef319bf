#!/usr/bin/env python3
"""Runs a CI pipeline file's jobs here, in the order and with the rules its CI system would.

    ci_jobs.py gitlab|github FILE --workdir DIR [--set NAME=VALUE]... [--result OUT.json]

gitlab: .gitlab-ci.yml jobs in `stages` order (file order within a stage); `script` lines (after
`before_script`) in one `bash` with `set -eo pipefail`, as gitlab-runner's shell executor does;
`when` (on_success, always, on_failure; manual and never are not run), `allow_failure` (true or
`exit_codes`), `retry` (`max`, `exit_codes`), `variables`.
github: workflow jobs in `needs` order (file order among ready jobs); each step's `run` in its own
`bash` (`-eo pipefail` for `shell: bash`, `-e` by default), `uses` steps are not run; `if` with
success(), always(), failure() or !cancelled(); `env` of the workflow, job and step.

--set NAME=VALUE overrides the file's variables, as a CI project's own variables do (e.g. the
config's path on this machine). Each job's outcome is printed, and written to OUT.json as
{"jobs": [{"name", "result": passed|failed|allowed_failure|skipped, "exit", "attempts"}], "passed"}.
The exit status is 0 when the pipeline passed, 1 when it failed, 2 when the file uses something
this runner does not model (it refuses rather than guesses).
"""
import argparse
import itertools
import json
import os
import re
import subprocess
import sys

import yaml


class Unsupported(Exception):
    pass


def flatten(lines):
    # GitLab allows nested lists in script (from YAML anchors); they are flattened.
    out = []
    for line in lines or []:
        out.extend(flatten(line) if isinstance(line, list) else [str(line)])
    return out


def run_bash(script, env, cwd, flags):
    print(f"    $ {script.strip()}".replace("\n", "\n      "), flush=True)
    proc = subprocess.run(["bash", "--noprofile", "--norc", *flags, "-c", script], env=env, cwd=cwd)
    return proc.returncode


def str_env(mapping):
    return {str(k): "" if v is None else str(v) for k, v in (mapping or {}).items()}


GITLAB_KEYWORDS = {"default", "include", "stages", "variables", "workflow", "image", "services",
                   "cache", "before_script", "after_script"}


def run_gitlab(doc, base_env, cwd):
    for key in ("include", "workflow"):
        if key in doc:
            raise Unsupported(f"top-level '{key}'")
    stages = doc.get("stages", ["build", "test", "deploy"])
    stages = [".pre", *stages, ".post"]
    default = doc.get("default", {}) or {}
    jobs = []
    for name, job in doc.items():
        if name in GITLAB_KEYWORDS or name.startswith("."):
            continue
        if not isinstance(job, dict) or "script" not in job:
            raise Unsupported(f"job '{name}' without a script")
        for key in ("extends", "needs", "rules", "only", "except", "trigger", "parallel"):
            if key in job:
                raise Unsupported(f"job '{name}': '{key}'")
        stage = job.get("stage", "test")
        if stage not in stages:
            raise Unsupported(f"job '{name}': stage '{stage}' is not in stages")
        jobs.append((stages.index(stage), len(jobs), name, job))
    jobs.sort()

    results = []
    failed = False  # a job of an earlier stage failed (and was not allowed to)
    # Jobs of one stage run side by side: a failure counts for the later stages only.
    for _, group in itertools.groupby(jobs, key=lambda j: j[0]):
        stage_failed = False
        for _, _, name, job in group:
            result = run_gitlab_job(doc, default, name, job, failed, base_env, cwd)
            results.append(result)
            stage_failed = stage_failed or result["result"] == "failed"
        failed = failed or stage_failed
    return results


def run_gitlab_job(doc, default, name, job, failed, base_env, cwd):
    when = job.get("when", "on_success")
    run = {"on_success": not failed, "always": True, "on_failure": failed}.get(when, False)
    if when not in ("on_success", "always", "on_failure", "manual", "never"):
        raise Unsupported(f"job '{name}': when: {when}")
    if not run:
        print(f"job {name}: skipped (when: {when})", flush=True)
        return {"name": name, "result": "skipped", "exit": None, "attempts": 0}
    env = dict(os.environ)
    env.update(str_env(doc.get("variables")))
    env.update(str_env(job.get("variables")))
    env.update(base_env)
    env.update({"CI": "true", "GITLAB_CI": "true", "CI_JOB_NAME": name, "CI_PROJECT_DIR": cwd})
    lines = flatten(job.get("before_script", default.get("before_script"))) + flatten(job["script"])
    retry = job.get("retry", default.get("retry", 0))
    if isinstance(retry, int):
        retry = {"max": retry}
    retry_codes = retry.get("exit_codes")
    if isinstance(retry_codes, int):
        retry_codes = [retry_codes]
    attempts = 0
    while True:
        attempts += 1
        print(f"job {name} (stage {job.get('stage', 'test')}, attempt {attempts})", flush=True)
        code = run_bash("\n".join(lines), env, cwd, ["-eo", "pipefail"])
        # retry: exit_codes only retries those codes; without it, any failure is retried.
        again = code != 0 and attempts <= retry.get("max", 0) and (
            retry_codes is None or code in retry_codes)
        if not again:
            break
    after = flatten(job.get("after_script", default.get("after_script")))
    if after:
        run_bash("\n".join(after), env, cwd, ["-eo", "pipefail"])
    allow = job.get("allow_failure", False)
    allowed = allow is True or (isinstance(allow, dict) and code in (allow.get("exit_codes") or []))
    if isinstance(allow, dict) and isinstance(allow.get("exit_codes"), int):
        allowed = code == allow["exit_codes"]
    result = "passed" if code == 0 else "allowed_failure" if allowed else "failed"
    print(f"job {name}: {result} (exit {code})", flush=True)
    return {"name": name, "result": result, "exit": code, "attempts": attempts}


def github_condition(expr, what):
    expr = (expr if expr is not None else "success()")
    expr = str(expr).strip()
    m = re.fullmatch(r"\$\{\{\s*(.*?)\s*\}\}", expr)
    if m:
        expr = m.group(1)
    if expr not in ("success()", "always()", "failure()", "!cancelled()"):
        raise Unsupported(f"{what}: if: {expr}")
    return expr


def github_run(cond, any_failed):
    return {"success()": not any_failed, "failure()": any_failed}.get(cond, True)


def run_github(doc, base_env, cwd):
    jobs = doc.get("jobs") or {}
    defaults = ((doc.get("defaults") or {}).get("run") or {})
    pending = list(jobs)
    done = {}  # name -> result
    results = []
    while pending:
        ready = [n for n in pending if all(d in done for d in needs_of(jobs[n]))]
        if not ready:
            raise Unsupported(f"jobs {pending}: their needs form a cycle or name no job")
        name = ready[0]
        pending.remove(name)
        job = jobs[name]
        for key in ("strategy", "uses", "services", "container"):
            if key in job:
                raise Unsupported(f"job '{name}': '{key}'")
        needs = needs_of(job)
        cond = github_condition(job.get("if"), f"job '{name}'")
        # A needed job that failed or was skipped makes success() false.
        any_failed = any(done[d] != "passed" for d in needs)
        if not github_run(cond, any_failed):
            print(f"job {name}: skipped (if: {cond}; needs {needs})", flush=True)
            done[name] = "skipped"
            results.append({"name": name, "result": "skipped", "exit": None, "attempts": 0})
            continue
        print(f"job {name} (needs {needs})", flush=True)
        job_defaults = {**defaults, **(((job.get("defaults") or {}).get("run")) or {})}
        env = dict(os.environ)
        env.update(str_env(doc.get("env")))
        env.update(str_env(job.get("env")))
        env.update({"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_JOB": name, "GITHUB_WORKSPACE": cwd,
                    "RUNNER_TEMP": cwd})
        step_failed = False
        code = 0
        for i, step in enumerate(job.get("steps") or []):
            label = step.get("name") or step.get("run", step.get("uses", f"step {i}")).splitlines()[0]
            scond = github_condition(step.get("if"), f"job '{name}' step '{label}'")
            if not github_run(scond, step_failed):
                print(f"  step '{label}': skipped", flush=True)
                continue
            if "uses" in step:
                print(f"  step '{label}': uses {step['uses']} (an action; not run here)", flush=True)
                continue
            if "run" not in step:
                raise Unsupported(f"job '{name}' step '{label}': neither run nor uses")
            if "${{" in step["run"]:
                raise Unsupported(f"job '{name}' step '{label}': an expression in run")
            shell = step.get("shell", job_defaults.get("shell"))
            if shell not in (None, "bash"):
                raise Unsupported(f"job '{name}' step '{label}': shell {shell}")
            step_env = dict(env)
            step_env.update(str_env(step.get("env")))
            step_env.update(base_env)
            wd = step.get("working-directory", job_defaults.get("working-directory"))
            print(f"  step '{label}'", flush=True)
            scode = run_bash(step["run"], step_env, os.path.join(cwd, wd) if wd else cwd,
                             ["-eo", "pipefail"] if shell == "bash" else ["-e"])
            if scode != 0 and not step.get("continue-on-error", False):
                step_failed = True
                code = scode
        result = "failed" if step_failed else "passed"
        print(f"job {name}: {result} (exit {code})", flush=True)
        done[name] = result
        results.append({"name": name, "result": result, "exit": code, "attempts": 1})
    return results


def needs_of(job):
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=["gitlab", "github"])
    ap.add_argument("file")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--result")
    args = ap.parse_args()
    with open(args.file) as f:
        doc = yaml.safe_load(f)
    base_env = dict(s.split("=", 1) for s in args.set)
    try:
        results = (run_gitlab if args.kind == "gitlab" else run_github)(doc, base_env, args.workdir)
    except Unsupported as e:
        print(f"ci_jobs: {args.file}: not modelled here: {e}", file=sys.stderr)
        return 2
    passed = all(r["result"] in ("passed", "allowed_failure") for r in results)
    if args.result:
        with open(args.result, "w") as f:
            json.dump({"jobs": results, "passed": passed}, f, indent=1)
    print(f"pipeline {'passed' if passed else 'failed'}", flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
