"""labelgate calibrate fit | list --task T --labeler L

`fit` is the Calibrate page's Correction tab for pipelines: it fits a correction of the labeler's
current version on every gold judgment (gold release N, default the latest, else the draft),
prints its cross-validated effect (5 folds by item) with the change's 95% CI and the page's
warnings, and with --save keeps it (an engineer or lead, asked for their password). A correction
that makes its cross-validated headline metric worse is refused unless --force, as the page asks
before saving one. The fit, the cross-validation and the save rules are labelgate.calibrate's, the
page's own functions, so the numbers are the page's.
"""

from __future__ import annotations

import json
import math

from labelgate.cli.common import CommandError, add_gold_release, login
from labelgate.store.tasks import get_task
from labelgate.tasks import Task

METHODS = ("linear", "isotonic", "linear_covariates", "ordinal_cuts", "confusion", "platt")


def register(subparsers) -> None:
    p = subparsers.add_parser("calibrate", help="fit, check and save a labeler's correction (as the Calibrate page)")
    sub = p.add_subparsers(dest="calibrate_command", metavar="ACTION", required=True)
    f = sub.add_parser("fit", help="fit a correction, print its cross-validated effect; --save keeps it")
    f.add_argument("--task", required=True)
    f.add_argument("--labeler", required=True)
    f.add_argument("--criterion", help="a task of several criteria: the criterion whose labels are corrected")
    f.add_argument("--method", choices=METHODS, default=None,
                   help="default: linear (ordinal, continuous) or confusion (categorical, pairwise)")
    f.add_argument("--covariates", default=None, metavar="COL,COL",
                   help="item metadata columns of the linear_covariates method (default: text_length)")
    add_gold_release(f)
    f.add_argument("--save", action="store_true", help="save it as the labeler version's correction")
    f.add_argument("--force", action="store_true",
                   help="with --save: save it although it makes the cross-validated metric worse")
    f.add_argument("--user", help="with --save: the engineer or lead saving it (asked for their password)")
    f.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    f.add_argument("--json", action="store_true", help="print the fit as JSON")
    f.set_defaults(func=_fit)
    ls = sub.add_parser("list", help="the saved corrections of a task, newest first")
    ls.add_argument("--task", required=True)
    ls.add_argument("--labeler", default=None)
    ls.add_argument("--criterion", default=None)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)


def _view(task: Task, criterion: str | None) -> Task:
    if criterion is None and task.is_multi:
        raise CommandError(f"task {task.name} has several criteria ({', '.join(task.criterion_names)}): "
                           "name one with --criterion")
    return task.criterion(criterion) if criterion else task


def _num(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def _signed(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:+.4f}"


def _fit(args) -> int:
    from labelgate import calibrate as cal

    if not args.save and (args.force or args.user):
        raise CommandError(f"{'--force' if args.force else '--user'} goes with --save")
    if args.save and not args.user:
        raise CommandError("--save needs --user NAME: the engineer or lead saving the correction")
    if args.covariates is not None and args.method != "linear_covariates":
        raise CommandError("--covariates goes with --method linear_covariates")
    task = _view(get_task(args.db, args.task), args.criterion)
    gold = cal.load_task_gold(args.db, task, args.gold_release)
    if gold.n_items == 0:
        raise CommandError(f"task {task.name} has no gold on {gold.name} yet ({gold.n_disputed} items in dispute)")
    refs = cal.labeler_refs(args.db, task)
    if args.labeler not in set(refs["name"]):
        raise CommandError(f"--labeler: task {task.name} has no labeler {args.labeler!r}; its labelers: "
                           f"{', '.join(refs['name']) or 'none'}")
    ref = refs.set_index("name").loc[args.labeler]
    data = cal.load_labeler(args.db, task, gold, args.labeler, ref["version"], ref["family"])
    if data.pairs.empty:
        raise CommandError(f"{args.labeler} (version {ref['version']}) has no labels on the gold items of {gold.name}")
    items = cal.item_frame(args.db, task)
    method = args.method or cal.correction_methods_of(task)[0]
    covariates = ([c.strip() for c in args.covariates.split(",") if c.strip()] if args.covariates is not None
                  else [cal.TEXT_LENGTH]) if method == "linear_covariates" else []
    unknown = [c for c in covariates if c not in items.columns]
    if unknown:
        raise CommandError(f"--covariates: no item column {', '.join(map(repr, unknown))}; available: "
                           f"{', '.join(cal.slice_options(items))}")
    try:
        fit = cal.fit_labeler_correction(task, data.pairs, method, items=items, covariates=covariates)
    except ValueError as exc:
        raise CommandError(f"--method {method}: {exc}") from None
    saved, refused = None, None
    if args.save:
        user = login(args.db, args.user, args.password_stdin)
        try:
            saved = cal.save_labeler_correction(args.db, task, gold, args.labeler, ref["version"], fit, user=user,
                                                confirm_worse=args.force)
        except cal.WorseCorrectionError as exc:
            refused = f"not saved: {exc}; pass --force to save it anyway"
        except cal.CorrectionPermissionError as exc:
            raise CommandError(str(exc)) from None
    if args.json:
        effect = fit.effect
        print(json.dumps({
            "task": task.name, "criterion": task.criterion_name, "labeler": args.labeler,
            "version": ref["version"], "gold": gold.name, "gold_release": gold.release, "gold_version": gold.version,
            "method": method, "method_label": cal.CORRECTION_LABELS[method], "covariates": list(fit.covariates),
            "n_fit": fit.n_fit, "params": fit.params, "cv": fit.cv_records(),
            "effect": None if effect is None else {"metric": effect.metric, "before": effect.before,
                                                   "after": effect.after, "worse": effect.worse},
            "warnings": fit.warnings, "saved": saved is not None, "correction_id": saved, "refused": refused,
        }, indent=2, default=str))
    else:
        print(f"{args.labeler} (version {ref['version']}) on {task.name}"
              + (f", criterion {task.criterion_name}" if task.is_multi or args.criterion else "")
              + f", against {gold.name} (gold version {gold.version}): {cal.CORRECTION_LABELS[method]}, "
              f"fitted on {fit.n_fit} gold items")
        if fit.covariates:
            print(f"  covariates: {', '.join(fit.covariates)}")
        print("  cross-validated (5 folds by item; each item scored by a correction fitted without it):")
        width = max(len(str(m)) for m in fit.cv["metric"])
        for r in fit.cv.to_dict("records"):
            ci = (f" [{_signed(r['change_ci_low'])}, {_signed(r['change_ci_high'])}]"
                  if not math.isnan(r["change_ci_low"]) else " (no CI for this row)")
            print(f"    {str(r['metric']):<{width}}  {_num(r['before'])} → {_num(r['after'])}  "
                  f"change {_signed(r['change'])}{ci}")
        for warning in fit.warnings:
            print(f"  WARNING: {warning}")
        if saved is not None:
            print(f"saved correction #{saved} of {args.labeler} version {ref['version']} by {args.user}, "
                  f"fitted on {gold.name}")
        elif not args.save:
            print("not saved (add --save --user NAME to save it)")
    if refused:
        raise CommandError(refused)
    return 0


def _list(args) -> int:
    from labelgate import calibrate as cal
    from labelgate.store.corrections import list_corrections

    task = get_task(args.db, args.task)
    if args.criterion is not None:
        task.criterion(args.criterion)  # names the task's criteria when it has no such one
    rows = list_corrections(args.db, task.task_id, labeler=args.labeler, criterion=args.criterion)
    current = {}
    for name in task.criterion_names:
        view = task.criterion(name)
        for r in cal.labeler_refs(args.db, view).itertuples():
            current[(name, r.name)] = r.version
    seen, out = set(), []
    for row in rows:  # newest first: the first of a (criterion, labeler, version) is the one in force
        key = (row["criterion"], row["labeler"], row["labeler_version"])
        in_force = key not in seen and current.get(key[:2]) == key[2]
        seen.add(key)
        out.append({"correction_id": int(row["correction_id"]), "criterion": row["criterion"],
                    "labeler": row["labeler"], "labeler_version": row["labeler_version"], "method": row["method"],
                    "gold_release": row["gold_release"], "gold_version": row["gold_version"],
                    "n_fit": int(row["n_fit"]), "created_by": row["created_by"], "created_at": str(row["created_at"]),
                    "in_force": in_force, "description": cal.describe_correction(row),
                    "warnings": cal.cv_warnings(row.get("cv_metrics"))})
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    if not out:
        print(f"no saved correction on {task.name}" + (f" for {args.labeler}" if args.labeler else ""))
        return 0
    for r in out:
        where = f" [{r['criterion']}]" if task.is_multi else ""
        state = "in force" if r["in_force"] else "replaced or of an earlier version"
        print(f"#{r['correction_id']} {r['labeler']}{where} version {r['labeler_version']} ({state}), "
              f"{r['created_at'][:16]}: {r['description']}")
        for warning in r["warnings"]:
            print(f"    WARNING: {warning}")
    return 0
