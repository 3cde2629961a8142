"""labelgate align split --task T [--train 0.2 --dev 0.4] [--stratify COL] [--seed S] [--json]
labelgate align run --task T --variants FILE [--budget-usd X] [--json]
labelgate align run --task T --variants FILE --search [--budget-usd X | --budget-calls N] [--first-chunk N] [--json]
labelgate align compare --task T --labelers A,B[,C...] [--baseline A] [--json]
labelgate align final --task T --labeler L --user NAME [--password-stdin] [--json]
labelgate align propose --task T --labeler L --proposer-model M [--provider P] [--base-url URL] [--n 3]
    [--out FILE] [--json]"""

from __future__ import annotations

import json

from labelgate.align.variants import RUNNABLE
from labelgate.cli.common import CommandError, add_gold_release, login
from labelgate.llm.pricing import cost_text
from labelgate.store.tasks import get_task


def register(subparsers) -> None:
    p = subparsers.add_parser("align", help="alignment lab: train/dev/test splits, paired comparisons, final test")
    sub = p.add_subparsers(dest="align_command", required=True)
    s = sub.add_parser("split", help="split the gold items into train/dev/test once (stratified; stored)")
    s.add_argument("--task", required=True)
    s.add_argument("--train", type=float, default=None, help="train share (default 0.2): few-shot examples")
    s.add_argument("--dev", type=float, default=None, help="dev share (default 0.4): where labelers are compared")
    s.add_argument("--stratify", default=None, metavar="COL", help="also stratify by this item metadata column")
    s.add_argument("--seed", type=int, default=0)
    add_gold_release(s)
    s.add_argument("--json", action="store_true", help="print the split as JSON with the item ids of every part")
    s.set_defaults(func=_split)
    r = sub.add_parser("run", help="save variants (a YAML/JSON file) as labeler versions and run them on dev")
    r.add_argument("--task", required=True)
    r.add_argument("--variants", required=True, metavar="FILE", help="YAML or JSON list of variants")
    r.add_argument("--budget-usd", type=float, default=None, metavar="X",
                   help="refuse before any call when the estimated cost of the uncached calls exceeds X")
    r.add_argument("--search", action="store_true",
                   help="run the variants in order within the budget, stop a variant dominated after its first chunk "
                        "of dev (paired 95%% CI of the gate metric's difference against the best below 0), and "
                        "propose the best by the gate metric")
    r.add_argument("--budget-calls", type=int, default=None, metavar="N",
                   help="with --search: stop before a chunk that would send more than N uncached calls in all")
    r.add_argument("--first-chunk", type=int, default=None, metavar="N",
                   help="with --search: dev items every variant labels before the dominance check (default: a "
                        "third of dev, at least 10)")
    r.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    r.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    add_gold_release(r)
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_run)
    c = sub.add_parser("compare", help="two labelers on the dev split: paired differences and McNemar's test")
    c.add_argument("--task", required=True)
    c.add_argument("--labelers", required=True, metavar="A,B[,C...]",
                   help="two labelers (A - B), or several side by side against --baseline")
    c.add_argument("--baseline", default=None, help="with several labelers: the one differences are taken against "
                                                     "(default: the first)")
    c.add_argument("--resamples", type=int, default=2000)
    c.add_argument("--seed", type=int, default=0)
    add_gold_release(c)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_compare)
    f = sub.add_parser("final", help="a labeler's metrics on the sealed test split (recorded and counted)")
    f.add_argument("--task", required=True)
    f.add_argument("--labeler", required=True)
    f.add_argument("--user", required=True, help="the engineer or lead asking (asked for their password)")
    f.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add_gold_release(f)
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=_final)
    pr = sub.add_parser("propose", help="a model rewrites a labeler's instructions from its errors on the TRAIN split "
                                        "(never dev or test); each rewrite is saved as a variant to run on dev")
    pr.add_argument("--task", required=True)
    pr.add_argument("--labeler", required=True, help="the base labeler: run on train, its errors shown to the proposer")
    pr.add_argument("--proposer-model", required=True, metavar="M", help="the model that writes the rewrites")
    pr.add_argument("--provider", choices=RUNNABLE, default=None,
                    help="the proposer's provider (default: the base labeler's, with its base URL and key variable)")
    pr.add_argument("--base-url", default=None, help="the proposer's API base URL (required for openai-compatible)")
    pr.add_argument("--api-key-env", default=None, help="environment variable holding the proposer's API key "
                                                        "(default: the provider's)")
    pr.add_argument("--n", type=int, default=3, help="rewrites to ask for (default 3)")
    pr.add_argument("--max-errors", type=int, default=20, metavar="N",
                    help="train errors shown to the proposer at most (default 20, in item-id order)")
    pr.add_argument("--temperature", type=float, default=0.7, help="the proposer's temperature (default 0.7)")
    pr.add_argument("--max-tokens", type=int, default=4000, help="the proposer's answer length limit (default 4000)")
    pr.add_argument("--out", default=None, metavar="FILE",
                    help="also write the rewrites as a variants file for `labelgate align run --variants FILE`")
    pr.add_argument("--concurrency", type=int, default=8, help="requests in flight on train (default 8)")
    pr.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    add_gold_release(pr)
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=_propose)


def _split(args) -> int:
    from labelgate.align import make_split

    task = get_task(args.db, args.task)
    s = make_split(args.db, task, train=args.train, dev=args.dev, stratify=args.stratify, seed=args.seed,
                   gold_release=args.gold_release)
    if args.json:
        print(json.dumps(s.to_dict(), indent=2))
        return 0
    print(("made " if s.created else "already made: ") + s.describe())
    if s.gold_release is None:
        print("no gold release yet: the split is on the unreleased draft (items the draft gains later are in no part)")
    return 0


def _run(args) -> int:
    from labelgate.align.variants import read_variants, run_variants
    from labelgate.llm.runner import RunOptions
    from labelgate.llm.secrets import MissingApiKeyError

    task = get_task(args.db, args.task)
    variants = read_variants(args.variants)
    if args.search:
        return _search(args, task, variants)
    if args.budget_calls is not None or args.first_chunk is not None:
        raise CommandError("--budget-calls and --first-chunk go with --search")
    try:
        out = run_variants(args.db, task, variants, budget_usd=args.budget_usd, gold_release=args.gold_release,
                           options=RunOptions(concurrency=args.concurrency, timeout=args.timeout))
    except MissingApiKeyError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{len(out['variants'])} variant(s) of {task.name} on the dev split "
              f"(estimated ${out['estimate_usd']:,.4f} for the calls not yet cached)")
        for v in out["variants"]:
            shots = f", {v['few_shot']}-shot from train" if v["few_shot"] else ""
            print(f"  {v['name']} ({v['version']}{shots}): {v['status']}, {v['labeled']} of {v['n_dev_items']} "
                  f"dev items labeled, {v['failed']} failed, {v['requests']} requests, ${v['cost_usd']:,.4f}")
    failed = [v for v in out["variants"] if v["status"] != "done" or v["failed"]]
    return 1 if failed else 0


def _search(args, task, variants) -> int:
    from labelgate.align.search import search
    from labelgate.llm.runner import RunOptions
    from labelgate.llm.secrets import MissingApiKeyError

    try:
        out = search(args.db, task, variants, budget_usd=args.budget_usd, budget_calls=args.budget_calls,
                     first_chunk=args.first_chunk, gold_release=args.gold_release,
                     options=RunOptions(concurrency=args.concurrency, timeout=args.timeout))
    except MissingApiKeyError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0 if out["proposed"] else 1
    m = out["gate_metric"]
    print(f"search over {len(out['variants'])} variant(s) of {task.name} on the dev split ({out['n_dev_items']} items, "
          f"first chunk {out['first_chunk']}); rule: {out['rule']}")
    for v in out["variants"]:
        score = v.get(m)
        est = "" if not score else f", {m} {score['estimate']:.3f} [{score['ci_low']:.3f}, {score['ci_high']:.3f}]"
        vs = v.get("versus_best")
        diff = "" if not vs or "estimate" not in vs else (
            f", vs {vs['best']} on {vs['n_items']} items {vs['estimate']:+.3f} "
            f"[{vs['ci_low']:+.3f}, {vs['ci_high']:+.3f}]")
        print(f"  {v['name']}: {v['status']}{est}{diff}")
    print(f"spent {out['calls']} calls, ${out['spent_usd']:,.4f}" + (f"; {out['stopped']}" if out["stopped"] else ""))
    print(f"proposed: {out['proposed']}" if out["proposed"] else "no variant completed the dev split: nothing proposed")
    return 0 if out["proposed"] else 1


def _fmt(v) -> str:
    return "-" if v is None else f"{v:+.3f}"


def _cost(v) -> str:
    return "-" if v is None else f"${v:.6f}"


def _compare(args) -> int:
    from labelgate.align import compare, side_by_side

    task = get_task(args.db, args.task)
    names = [n.strip() for n in args.labelers.split(",") if n.strip()]
    several = len(names) > 2 or args.baseline is not None
    table = side_by_side(args.db, task, names, baseline=args.baseline, n_resamples=args.resamples, seed=args.seed,
                         gold_release=args.gold_release)
    if several:
        out = table
    else:
        out = compare(args.db, task, names, n_resamples=args.resamples, seed=args.seed,
                      gold_release=args.gold_release)
        out["variants"] = table["variants"]
        out["primary_metric"] = table["primary_metric"]
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    if not several:
        a, b = out["a"]["name"], out["b"]["name"]
        print(f"{a} - {b} on the dev split of {task.name} ({out['gold']}): {out['n_items']} of {out['n_dev_items']} "
              "dev items labeled by both; paired bootstrap 95% CI")
        if out.get("note"):
            print(out["note"])
        for name, m in out["metrics"].items():
            line = f"  {name:<20} {_fmt(m['estimate'])}  [{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]"
            if "mcnemar_p" in m:
                line += f"  McNemar p = {m['mcnemar_p']:.4g} ({m['mcnemar']['method']})"
            print(line)
        print()
    primary = table["primary_metric"]
    print(f"side by side on the dev split ({table['n_dev_items']} items); * on the cost-versus-{primary} Pareto front")
    for v in table["variants"]:
        m = v["metrics"].get(primary)
        est = "-" if m is None else f"{m['estimate']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
        inv = "-" if v["invalid_rate"] is None else f"{v['invalid_rate']:.1%}"
        tok = "-" if v["tokens_per_item"] is None else f"{v['tokens_per_item']:,.0f}"
        lat = "-" if v["latency_ms_per_item"] is None else f"{v['latency_ms_per_item']:,.0f} ms"
        line = (f" {'*' if v['pareto'] else ' '} {v['name']:<20} {primary} {est}  invalid {inv}  tokens/item {tok}  "
                f"cost/item {_cost(v['cost_per_item_usd'])}  latency/item {lat}")
        d = v.get("versus_baseline", {}).get("metrics", {}).get(primary)
        if several and d is not None:
            line += f"  vs {table['baseline']}: {_fmt(d['estimate'])} [{_fmt(d['ci_low'])}, {_fmt(d['ci_high'])}]"
            if "mcnemar_p" in d:
                line += f" p={d['mcnemar_p']:.3g}"
        print(line)
    return 0


def _final(args) -> int:
    from labelgate.align import final_evaluation

    task = get_task(args.db, args.task)
    user = login(args.db, args.user, args.password_stdin)
    try:
        out = final_evaluation(args.db, task, args.labeler, user=user, gold_release=args.gold_release)
    except PermissionError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"final evaluation {out['final_id']} of {args.labeler} ({out['version']}) on the test split of {task.name} "
          f"({out['gold']}): {out['n_items']} of {out['n_test_items']} test items labeled")
    for name, m in out["metrics"].items():
        lo = "-" if m["ci_low"] is None else f"{m['ci_low']:.3f}"
        hi = "-" if m["ci_high"] is None else f"{m['ci_high']:.3f}"
        print(f"  {name:<20} {m['estimate']:.3f}  [{lo}, {hi}]")
    looks = out["test_looks"]
    print(f"the test split has been looked at {looks} time{'s' if looks != 1 else ''} (every final evaluation counts)")
    return 0


def _propose(args) -> int:
    from pathlib import Path

    from labelgate.align.propose import ProposalError, propose
    from labelgate.labelers import LabelerConfig
    from labelgate.llm.runner import RunOptions
    from labelgate.llm.secrets import MissingApiKeyError
    from labelgate.store.labelers import get_labeler

    task = get_task(args.db, args.task)
    try:
        base = get_labeler(args.db, task.task_id, args.labeler)
    except LookupError as exc:
        raise CommandError(str(exc)) from None
    provider = args.provider or base.provider
    same = provider == base.provider
    if provider not in RUNNABLE:
        raise CommandError(f"{base.name} is an import labeler: name the proposer's --provider ({', '.join(RUNNABLE)})")
    try:
        proposer = LabelerConfig(name="proposer", provider=provider, model=args.proposer_model,
                                 base_url=args.base_url or (base.base_url if same else None),
                                 api_key_env=args.api_key_env or (base.api_key_env if same else None),
                                 temperature=args.temperature, max_tokens=args.max_tokens)
        out = propose(args.db, task, args.labeler, proposer=proposer, n=args.n, max_errors=args.max_errors,
                      gold_release=args.gold_release,
                      options=RunOptions(concurrency=args.concurrency, timeout=args.timeout))
    except (ProposalError, MissingApiKeyError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    if args.out:
        try:
            Path(args.out).write_text(out["variants_file"], encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"the variants are saved (proposal {out['proposal_id']}), but {args.out} could not "
                               f"be written: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    t, p = out["train_run"], out["proposer"]
    print(f"proposal {out['proposal_id']}: {out['base']['name']} ({out['base']['version']}) on the train split of "
          f"{task.name} ({out['gold']}): {out['n_errors']} wrong of {out['n_train_items']} train items, "
          f"{out['n_errors_shown']} shown to {p['model']}")
    print(f"  train run {t['run_id']}: {t['requests']} requests, {t['cached_calls']} cached, "
          f"{cost_text(t['cost_usd'], out['base']['model'])}; proposer: {p['tokens_in'] or 0:,} tokens in, "
          f"{p['tokens_out'] or 0:,} out, {cost_text(p['cost_usd'], p['model'])}")
    for v in out["variants"]:
        print(f"  saved variant {v['name']} ({v['version']})" + (f": {v['rationale']}" if v["rationale"] else ""))
    for r in out["rejected"]:
        print(f"  proposal {r['index']} not used: {r['reason']}")
    where = args.out or "a variants file (--out FILE)"
    print(f"no dev or test item was shown to the proposer; compare the rewrites on dev with "
          f"`labelgate align run --task {task.name} --variants {where}`")
    return 0
