"""The command line: run, report, validate, export, calibrate, facts, prepare, bench and app.

Exit codes: 0 all runs finished; 1 some runs failed (named on stderr and in
manifest.json); 2 bad input (scenario file, output folder, Dask address),
reported one line per problem, with nothing written; 3 internal error (a bug: one
line naming a log file that holds the traceback); 130 interrupted (finished
runs are kept: continue with ``--resume``).
"""

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import i18n
from analysis.tables import format_table, strategy_setting_table
from experiments import resources
from experiments.folders import check_resume, finish_folder, now, start_folder, summary_markdown
from experiments.scenario import Problem, Scenario, ScenarioError, load_scenario
from experiments.variants import aim_churn_factors, lever_scenarios, variant_scenario
from i18n import _
from store import lock
from store.files import OutputError, claim, is_owned, remove_owned, write_text
from store.results import check_output, version

EXIT_OK, EXIT_FAILED_RUNS, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_INTERNAL = 0, 1, 2, 130, 3


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, as every bad input's (exit code 2).

    argparse prints the whole usage block before the error; the line says where the
    usage is instead. Subcommand parsers are of the same class (argparse's default).
    """

    def error(self, message: str):
        """Print ``message`` in one line and exit with the bad-input code."""
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be {least} or more, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    return _whole(text, 0)


def _positive_int(text: str) -> int:
    return _whole(text, 1)


def _port(text: str) -> int:
    value = _non_negative_int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, got {value}")
    return value


def _workers(text: str) -> int:
    value = _positive_int(text)
    if value > resources.max_workers():
        raise argparse.ArgumentTypeError(
            f"at most {resources.max_workers()} ({resources.WORKERS_PER_CORE} per core of "
            f"this machine's {os.cpu_count() or 1}), got {value}"
        )
    return value


def _date(text: str):
    from analysis.export import parse_date

    try:
        return parse_date(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _lang_option(command: argparse.ArgumentParser, what: str) -> None:
    """``--lang en|zh``: the language of the command's messages and errors (and of ``what``)."""
    command.add_argument(
        "--lang",
        choices=i18n.LANGUAGES,
        help=f"language of the errors and messages{what}: en (English, the default) or zh "
        "(中文); field names and allowed values stay as the scenario file writes them",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its subcommands."""
    parser = OneLineParser(
        prog="run.py",
        description="crm-sim: run customer-relationship scenarios and sweeps.",
        epilog="Example: python run.py run scenarios/compare_strategies.yaml",
    )
    # the one version is pyproject's, read from the installed package's metadata
    installed = version("crm-sim") or "(not installed: pip install -e .)"
    parser.add_argument("--version", action="version", version=f"crm-sim {installed}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a scenario (all its sweep points and replications)",
        description="Run every sweep point and replication of a scenario and write the "
        "results folder (runs.parquet, timeseries.parquet, cohorts.parquet, "
        "customers.parquet, relationships.parquet, policies.parquet, scenario.resolved.yaml, "
        "manifest.json, summary.md) and the report (report.md, report.html, "
        "figures/).",
        epilog="Exit codes: 0 ok, 1 some runs failed, 2 bad input, 130 interrupted.",
    )
    run.add_argument("scenario", metavar="SCENARIO.yaml", type=Path, help="the scenario file")
    run.add_argument(
        "--out", metavar="DIR", type=Path, help="results folder (default: results/<scenario name>/)"
    )
    run.add_argument(
        "--seed",
        metavar="N",
        type=_non_negative_int,
        help="override simulation.seed (the seed every run's seed derives from)",
    )
    run.add_argument(
        "--replications", metavar="N", type=_positive_int, help="override simulation.replications"
    )
    run.add_argument(
        "--workers",
        metavar="N",
        type=_workers,
        help="worker processes (default: execution.workers, else one per core; at most "
        f"{resources.WORKERS_PER_CORE} per core)",
    )
    run.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://10.0.0.5:8786)",
    )
    run.add_argument(
        "--ignore-memory",
        action="store_true",
        help="run even if the memory estimate (customers x bytes per customer x workers) "
        "exceeds this machine's memory",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="keep the runs already finished in the results folder, run the rest",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="replace the results of an earlier run in the output folder: only the files "
        "crm-sim listed as written there are deleted, never a file of yours",
    )
    run.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print nothing but errors (no progress bar, no table)",
    )
    run.add_argument(
        "--no-report",
        action="store_true",
        help="do not write the report (report.md, report.html, figures/) at the end",
    )
    _lang_option(run, ", the table and the report (default: the scenario's report.lang)")
    run.set_defaults(handler=run_command)

    report = commands.add_parser(
        "report",
        help="write the report of a results folder (report.md, report.html, PNGs)",
        description="Read a results folder written by 'run' and write report.md, a "
        "self-contained report.html and the figures (figures/*.png) into it. "
        "With --baseline, add the CRM ROI of this scenario against another "
        "results folder (runs paired by seed).",
        epilog="Exit codes: 0 ok, 2 bad input (nothing written).",
    )
    report.add_argument("folder", metavar="RESULTS_DIR", type=Path, help="the results folder")
    report.add_argument(
        "--baseline",
        metavar="OTHER_DIR",
        type=Path,
        help="results folder of the baseline scenario for the CRM ROI",
    )
    report.add_argument(
        "--lang",
        choices=i18n.LANGUAGES,
        help="language of the report: en (English) or zh (中文); default: the scenario's "
        "report.lang, else en",
    )
    report.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    report.set_defaults(handler=report_command)

    validate = commands.add_parser(
        "validate",
        help="check scenario files without running them",
        description="Check scenario files (syntax, fields, values, every sweep point); "
        "print every problem as FILE:LINE: field: message.",
        epilog="Exit codes: 0 all valid, 2 some file is invalid.",
    )
    validate.add_argument("files", metavar="FILE", nargs="+", type=Path, help="scenario files")
    validate.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    _lang_option(validate, "")
    validate.set_defaults(handler=validate_command)

    export = commands.add_parser(
        "export",
        help="export the purchase log and true CLV of runs (for CLV models)",
        description="Re-run runs of a results folder with the purchase log on (same "
        "configuration and seed, checked against the stored results) and write "
        "transactions.csv (customer_id, date, monetary_value, firm, ..., period, "
        "clv_increment), customers_clv.csv (per customer x firm x run: purchases, "
        "total revenue, true realized CLV, projected CLV) and export.json.",
        epilog="Example: python run.py export results/compare_strategies --transactions "
        "--start-date 2024-01-01. Exit codes: 0 ok, 2 bad input (nothing written).",
    )
    export.add_argument("folder", metavar="RESULTS_DIR", type=Path, help="the results folder")
    export.add_argument(
        "--transactions",
        action="store_true",
        help="export the purchase log and per-customer CLV (required)",
    )
    export.add_argument(
        "--run",
        metavar="RUN_ID",
        action="append",
        dest="runs",
        help="a run to export, e.g. p000-r001 (repeatable; default: "
        "replication 0 of every sweep point)",
    )
    export.add_argument(
        "--all", action="store_true", dest="every", help="export every run of the folder"
    )
    export.add_argument(
        "--start-date",
        metavar="YYYY-MM-DD",
        type=_date,
        help="date of period 1 (default 2020-01-01)",
    )
    export.add_argument(
        "--period-length",
        choices=("month", "week", "day"),
        default="month",
        help="what one period stands for in the dates (default: month)",
    )
    export.add_argument(
        "--format",
        choices=("csv", "parquet"),
        default="csv",
        dest="file_format",
        help="file format (default: csv)",
    )
    export.add_argument(
        "--out", metavar="DIR", type=Path, help="output folder (default: RESULTS_DIR/transactions/)"
    )
    export.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    _lang_option(export, "")
    export.set_defaults(handler=export_command)

    calibrate = commands.add_parser(
        "calibrate",
        help="fit a scenario's parameters to an observed cohort survival curve",
        description="Fit the parameters named in the scenario's 'calibrate' block to the "
        "survival curve in the target CSV (period, survival; optional cohort, firm "
        "or strategy) and write calibration.csv, calibration.png, calibration.md, "
        "evaluations.csv and calibrated.yaml. Periods: one model period per target "
        "period by default (calibrate.periods_per_target: 1); the sBG targets in "
        "scenarios/targets/ are yearly, and scenarios/calibrate_example.yaml sets "
        "periods_per_target: 12 so that the monthly model is compared with them "
        "at tenures of 12, 24, ... months. "
        "Each fitted value is checked against its plausible range "
        "(experiments/bounds.py, per month): one on or outside it, or on a search "
        "bound, is flagged in the table and the files.",
        epilog="Exit codes: 0 ok, 2 bad input (nothing written), 130 interrupted.",
    )
    calibrate.add_argument(
        "scenario", metavar="SCENARIO.yaml", type=Path, help="scenario with a calibrate block"
    )
    calibrate.add_argument(
        "--target",
        metavar="FILE.csv",
        type=Path,
        required=True,
        help="the observed survival curve (its periods: see above)",
    )
    calibrate.add_argument(
        "--out", metavar="DIR", type=Path, help="output folder (default: results/<scenario name>/)"
    )
    calibrate.add_argument(
        "--workers",
        metavar="N",
        type=_workers,
        help="processes evaluating candidates (default: execution.workers, "
        "else one per core); the fit does not depend on it",
    )
    calibrate.add_argument(
        "--force",
        action="store_true",
        help="replace the results of an earlier run in the output folder: only the files "
        "crm-sim listed as written there are deleted, never a file of yours",
    )
    calibrate.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    _lang_option(calibrate, "")
    calibrate.set_defaults(handler=calibrate_command)

    from analysis import facts as facts_module

    facts = commands.add_parser(
        "facts",
        help="check the stylized facts of MODEL.md section 9 on a scenario",
        description="Run a scenario and the counterfactual variants the facts need, each "
        "into a results folder under the output folder (base/, switching_low/ "
        "and switching_high/: market.switching_cost_scale x0.5 and x2; "
        "retention_lever_<firm>/, one per firm: only that firm's churn_factor "
        "set, per sweep point, to the k that halves its annual churn in base/; "
        "runs of one replication share their seed across the folders), then "
        "print the seven facts and the level "
        "checks for every strategy x setting cell: value, 95% CI over "
        "replications, band, PASS/FAIL (analysis/facts.py defines each). "
        "Each k is aimed by pilot runs after base/ has run: per firm, pilot "
        "lever folders of min("
        f"{facts_module.PILOT_REPLICATIONS}, replications) replications (paired "
        "with base/'s first ones) under pilots/, starting from the formula's k "
        "(analysis.facts.churn_factors) and then regula falsi on k in [0, 1] "
        "(analysis.facts.next_churn_factor), at most "
        f"{facts_module.PILOT_ITERATIONS} pilots per firm and setting, until the "
        "pilot's annual churn over base's is within "
        f"{facts_module.CHURN_TARGET:.2f} +- {facts_module.CHURN_TOLERANCE:.2f} "
        "(else the closest pilot's k); pilots/aims.csv lists them. "
        "Writes facts.csv and facts.md into the output folder, and the report "
        "of base/ with the same table.",
        epilog="Exit codes: 0 every fact passes, 1 some fact fails or some run failed, "
        "2 bad input, 130 interrupted.",
    )
    facts.add_argument(
        "scenario",
        metavar="SCENARIO.yaml",
        type=Path,
        nargs="?",
        default=Path("scenarios/compare_strategies.yaml"),
        help="the scenario (default: scenarios/compare_strategies.yaml)",
    )
    facts.add_argument(
        "--replications", metavar="N", type=_positive_int, help="override simulation.replications"
    )
    facts.add_argument(
        "--customers", metavar="N", type=_positive_int, help="override simulation.customers"
    )
    facts.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="output folder (default: results/<scenario name>-facts/)",
    )
    facts.add_argument(
        "--workers",
        metavar="N",
        type=_workers,
        help="worker processes (default: execution.workers, else one per core; at most "
        f"{resources.WORKERS_PER_CORE} per core)",
    )
    facts.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors and the table"
    )
    facts.add_argument(
        "--ignore-memory",
        action="store_true",
        help="run even if the memory estimate exceeds this machine's memory",
    )
    facts.add_argument(
        "--force",
        action="store_true",
        help="replace the results of an earlier run in the output folder: only the files "
        "crm-sim listed as written there are deleted, never a file of yours",
    )
    facts.add_argument("--no-report", action="store_true", help="do not write the report of base/")
    _lang_option(facts, " and the report of base/")
    facts.set_defaults(handler=facts_command)

    prepare = commands.add_parser(
        "prepare",
        help="compile the engine now (once after installing; later runs load it at once)",
        description="Compile the engine's kernels into numba's cache (sim/__pycache__), so "
        "that the first run does not wait for it; part of the install. Later processes "
        "load the compiled kernels in about a second.",
    )
    prepare.set_defaults(handler=prepare_command)

    bench = commands.add_parser(
        "bench",
        add_help=False,
        help="time the engine (or the Mesa reference); see bench --help",
        description="Time the engine or its per-agent Mesa reference.",
    )
    bench.set_defaults(handler=bench_command)  # its arguments go to benchmarks.bench (main)

    app = commands.add_parser(
        "app",
        help="serve the teaching dashboard in the browser (127.0.0.1)",
        description="Serve the interactive teaching dashboard on this machine; open the "
        "printed address in a browser. Stop it with Ctrl-C.",
    )
    app.add_argument(
        "scenario",
        metavar="SCENARIO.yaml",
        type=Path,
        nargs="?",
        help="scenario whose market and firms set the controls' starting values",
    )
    app.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    app.add_argument("--port", type=_port, default=8765, help="port, 1 to 65535 (default 8765)")
    app.add_argument(
        "--lang",
        choices=i18n.LANGUAGES,
        default=i18n.DEFAULT,
        help="language of the dashboard: en (English, the default) or zh (中文)",
    )
    app.set_defaults(handler=app_command)
    return parser


def prepare_command(args) -> int:
    """``run.py prepare``: compile the kernels now (or check that they load)."""
    from sim import warm_up

    _announce_compiling(lambda text: print(text, file=sys.stderr, flush=True))
    seconds = warm_up()
    print(f"engine ready ({seconds:.1f} s; later processes load it from numba's cache)")
    return 0


def _announce_compiling(say) -> bool:
    """Say so before the first model compiles the kernels; whether it must (none cached)."""
    from sim.cache import COMPILE_SECONDS, engine_ready

    if engine_ready():
        return False
    say(
        f"preparing the engine (first run after install: compiling, about "
        f"{COMPILE_SECONDS} s; later runs start at once)..."
    )
    return True


def _prepare_engine(say) -> None:
    """Announce a compile, and compile once, in a child, before the run's first model.

    The child compiles in two processes at once (:func:`sim.cache.warm_up`),
    where the run's first model would compile alone; for a pool of worker
    processes, every worker would otherwise compile the same kernels at once,
    each on a core of its own. A child process, so that this one starts no
    kernel thread and can still fork its workers; if the child fails, the
    run compiles (and reports any error) itself.
    """
    if _announce_compiling(say):
        root = Path(__file__).resolve().parent.parent  # where sim/ is, installed or not
        subprocess.run(
            [sys.executable, "-c", "from sim import warm_up; warm_up()"], cwd=root, check=False
        )


def bench_command(args) -> int:
    """``run.py bench ...``: hand the arguments to :func:`benchmarks.bench.main`."""
    from benchmarks.bench import main as bench_main

    return bench_main(args.argv[1:], prog="run.py bench")


def app_command(args) -> int:
    """``run.py app [SCENARIO.yaml]``: serve the dashboard until interrupted."""
    if args.scenario is not None and not args.scenario.is_file():
        _error(_("{path}: no such file").format(path=args.scenario))
        return EXIT_BAD_INPUT
    try:
        from dashboard.scenario import load_scenario as dashboard_scenario
        from dashboard.server import require_extra, serve

        require_extra()  # the page's libraries, which only the server process imports
    except ImportError as error:
        _error(
            _("the dashboard needs its extra: pip install -e '.[app]' ({error})").format(
                error=error
            )
        )
        return EXIT_BAD_INPUT
    if args.scenario is not None:  # checked as 'run' checks it (bounds, one line per problem)
        try:
            load_scenario(args.scenario)
            dashboard_scenario(args.scenario)  # and the dashboard's own needs (three firms)
        except ScenarioError as error:
            for problem in error.problems:
                print(problem, file=sys.stderr)
            return EXIT_BAD_INPUT
        except ValueError as error:
            _error(" ".join(str(error).split()))
            return EXIT_BAD_INPUT
    return serve(args.scenario, host=args.host, port=args.port, lang=args.lang)


def report_command(args) -> int:
    """``report RESULTS_DIR [--baseline OTHER_DIR]``: write the report into the folder."""
    from analysis.report import ReportError, write_report

    if (args.folder / "sensitivity.parquet").exists():  # one group per sample row: no report
        _error(
            _(
                "{folder} holds a sensitivity analysis: read sensitivity.md; "
                "'run SCENARIO.yaml --out FOLDER --resume' writes it again from the runs"
            ).format(folder=args.folder)
        )
        return EXIT_BAD_INPUT
    if is_owned(args.folder):  # not while a run replaces it (else the report refuses it)
        problem = _lock(args, args.folder)
        if problem:
            _error(problem)
            return EXIT_BAD_INPUT
    try:
        written = write_report(args.folder, args.baseline, args.lang)
    except ReportError as error:
        _error(str(error))
        return EXIT_BAD_INPUT
    except OSError as error:
        _error(
            _("{folder}: cannot write the report: {reason}").format(
                folder=args.folder, reason=error.strerror or error
            )
        )
        return EXIT_BAD_INPUT
    if not args.quiet:
        print(
            _("report: {page} ({figures} figures in {folder})").format(
                page=written[1],
                figures=len(written) - 2,
                folder=f"{args.folder / 'figures'}{os.sep}",
            ),
            file=sys.stderr,
        )
    return EXIT_OK


def export_command(args) -> int:
    """``export RESULTS_DIR --transactions``: write the purchase log and the true CLV."""
    from analysis.export import DEFAULT_START_DATE, ExportError
    from experiments.export import export_transactions

    if not args.transactions:
        _error(_("nothing to export: add --transactions (the purchase log and per-customer CLV)"))
        return EXIT_BAD_INPUT
    if args.runs and args.every:
        _error(_("give either --run or --all, not both"))
        return EXIT_BAD_INPUT
    if is_owned(args.folder):  # not while a run replaces the runs it exports
        problem = _lock(args, args.folder)
        if problem:
            _error(problem)
            return EXIT_BAD_INPUT
    say = (lambda *_: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
    try:
        written = export_transactions(
            args.folder,
            args.out,
            runs=args.runs,
            every=args.every,
            start=args.start_date or DEFAULT_START_DATE,
            period_length=args.period_length,
            file_format=args.file_format,
            progress=say,
        )
    except ExportError as error:
        _error(str(error))
        return EXIT_BAD_INPUT
    except OSError as error:
        _error(
            _("{folder}: cannot write the export: {reason}").format(
                folder=args.out or args.folder, reason=error.strerror or error
            )
        )
        return EXIT_BAD_INPUT
    say(f"export: {', '.join(str(path) for path in written)}")
    return EXIT_OK


def _error(message: str) -> None:
    print(_("error: {message}").format(message=message), file=sys.stderr)


def _note(message: str) -> None:
    print(_("note: {message}").format(message=message), file=sys.stderr)


@contextlib.contextmanager
def _terminate_as_interrupt():
    """Within the block, SIGTERM stops the command as Ctrl-C does (finished runs kept).

    Both stop it where that is safe (:func:`experiments.sweep.interrupt_safely`:
    not inside the wait on the process pool). Outside the block (while the
    tables and the report are written) SIGTERM keeps its default: every file
    is written atomically, so ``--resume`` redoes what was cut short.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from experiments.sweep import interrupt_safely

    def interrupt(signum, frame):
        interrupt_safely()

    before = {
        number: signal.signal(number, interrupt) for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _describe(scenario: Scenario) -> str:
    replications = {p.config.simulation.replications for p in scenario.points}
    each = (
        _plural(replications.pop(), "replication")
        if len(replications) == 1
        else "varying replications"
    )
    return (
        f"{scenario.name}: {_plural(len(scenario.points), 'point')} x {each} = "
        f"{_plural(scenario.runs, 'run')}"
    )


def validate_command(args) -> int:
    """``validate FILE...``: report every problem of every file."""
    invalid = 0
    for path in args.files:
        try:
            scenario = load_scenario(path)
        except ScenarioError as error:
            invalid += 1
            for problem in error.problems:
                print(problem, file=sys.stderr)
            continue
        if not args.quiet:
            print(f"{path}: ok ({_describe(scenario)})")
    return EXIT_BAD_INPUT if invalid else EXIT_OK


def calibrate_command(args) -> int:
    """``calibrate SCENARIO.yaml --target FILE.csv``: fit, print the summary, write the files."""
    from experiments import calibrate
    from experiments.sweep import default_workers

    try:
        scenario = load_scenario(args.scenario)
        if scenario.calibration is None:
            raise ScenarioError(
                [
                    Problem(
                        str(args.scenario),
                        None,
                        "calibrate",
                        _(
                            "the scenario has no calibrate block; give parameters with "
                            "[low, high] bounds (see docs/experiments.md, Calibration)"
                        ),
                    )
                ]
            )
        target = calibrate.read_target(args.target, scenario)
        folder = args.out or Path("results") / scenario.name
        check_output(folder, inputs=[args.scenario, args.target], force=args.force)
    except ScenarioError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_BAD_INPUT
    except OutputError as error:
        _error(str(error))
        return EXIT_BAD_INPUT
    problem = _lock(args, folder)
    if problem:
        _error(problem)
        return EXIT_BAD_INPUT
    workers = args.workers or scenario.execution.workers or default_workers()
    if not args.quiet:
        block = scenario.calibration
        print(
            f"calibrating {scenario.name}: {', '.join(block.parameters)} by {block.method} "
            f"(at most {block.max_evaluations} evaluations x {block.replications} "
            f"replications, {_plural(workers, 'worker')})",
            file=sys.stderr,
        )
        for note in calibrate.search_notes(block):
            print(f"note: {note}", file=sys.stderr)
    try:
        fit = calibrate.calibrate(scenario, target, workers=workers, progress=not args.quiet)
    except KeyboardInterrupt:
        _error("interrupted; nothing was written")
        return EXIT_INTERRUPTED
    try:
        written = calibrate.write_outputs(folder, scenario, fit, target)
    except OSError as error:
        _error(
            _("output folder {folder}: cannot write: {reason}").format(
                folder=folder, reason=error.strerror or error
            )
        )
        return EXIT_BAD_INPUT
    if not args.quiet:
        print(
            calibrate.summary_markdown(scenario, fit, target)
            .split("## Error per period")[0]
            .rstrip()
        )
        print(f"written: {', '.join(str(p) for p in written)}", file=sys.stderr)
    else:  # quiet prints errors only, but an implausible fit is never silent
        for line in fit.warnings():
            print(f"warning: {line}", file=sys.stderr)
    return EXIT_OK


def _executor(args, scenario: Scenario, runs: int):
    """The executor the command line and the scenario's ``execution`` section ask for."""
    from experiments.sweep import DaskExecutor, ProcessExecutor, SerialExecutor, default_workers

    execution = scenario.execution
    workers = args.workers or execution.workers
    if args.dask:  # the cluster's own workers: their threads are counted on connecting
        return DaskExecutor(args.dask)
    if execution.engine == "dask":
        return DaskExecutor(execution.address)
    if execution.engine == "dask-local":
        return DaskExecutor(workers=min(workers or default_workers(), max(runs, 1)))
    workers = min(workers or default_workers(), max(runs, 1))
    return SerialExecutor() if workers == 1 else ProcessExecutor(workers)


def _resource_problem(args, scenario: Scenario, runs: int) -> str | None:
    """Why the runs would not fit this machine (workers, memory), or None.

    Not checked when the runs go to a remote Dask cluster: its workers and
    memory are the cluster's.
    """
    from experiments.sweep import default_workers  # runs models: imported only to run them

    execution = scenario.execution
    if getattr(args, "dask", None) or execution.engine == "dask":
        return None
    workers = args.workers or execution.workers or default_workers()
    if workers > resources.max_workers():
        return (
            f"{scenario.source}: execution.workers: {workers} workers; at most "
            f"{resources.max_workers()} ({resources.WORKERS_PER_CORE} per core) on this machine"
        )
    workers = min(workers, max(runs, 1))
    customers = max(p.config.simulation.customers for p in scenario.points)
    estimate = resources.memory_estimate(customers, workers)
    memory = resources.machine_memory()
    if memory is None or estimate <= memory or args.ignore_memory:
        return None
    return (
        f"{scenario.source}: simulation.customers: {customers:,} customers x "
        f"{resources.BYTES_PER_CUSTOMER:,} B x {_plural(workers, 'worker')} (+ "
        f"{resources.gigabytes(resources.BYTES_PER_WORKER)} each) need about "
        f"{resources.gigabytes(estimate)}, more than this machine's "
        f"{resources.gigabytes(memory)}; use fewer customers or --workers, or --ignore-memory"
    )


def run_command(args) -> int:
    """``run SCENARIO.yaml``: run the scenario into its results folder."""
    # the sweep imports the model and its compiled kernels: only the commands that run load it
    from experiments.sweep import plan_runs

    overrides = {}
    if args.seed is not None:
        overrides["simulation.seed"] = args.seed
    if args.replications is not None:
        overrides["simulation.replications"] = args.replications
    try:
        scenario = load_scenario(args.scenario, overrides)
        folder = args.out or Path("results") / scenario.name
        check_output(folder, inputs=[args.scenario], force=args.force, resume=args.resume)
        resumable = check_resume(folder, scenario) if args.resume else 0
    except ScenarioError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_BAD_INPUT
    except OutputError as error:
        _error(str(error))
        return EXIT_BAD_INPUT
    specs = plan_runs(scenario)
    problem = _resource_problem(args, scenario, len(specs) - resumable)
    if problem:
        _error(problem)
        return EXIT_BAD_INPUT
    executor = _executor(args, scenario, len(specs) - resumable)
    return _run_locked(args, scenario, folder, specs, executor, resumable)


def _continue_command(args) -> str:
    """The command that continues an interrupted or failed ``run`` (with ``--resume``)."""
    argv = [a for a in args.argv if a != "--force"]
    return shlex.join(["python", "run.py", *argv, *([] if args.resume else ["--resume"])])


def _run_locked(args, scenario, folder, specs, executor, resumable) -> int:
    """The sweep, tables and report of ``run``: lock the folder once the executor is up."""
    from experiments.sweep import DaskExecutor, run_sweep

    say = (lambda *_: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
    if not isinstance(executor, DaskExecutor):  # a cluster's workers have caches of their own
        _prepare_engine(say)
    started, clock = now(), time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(executor)
            except (OSError, TimeoutError, ValueError) as error:  # ValueError: not an address
                if not isinstance(executor, DaskExecutor):
                    raise
                _error(
                    f"cannot connect to the Dask scheduler at {executor.address}: {error}; "
                    "give an address such as tcp://10.0.0.5:8786"
                )
                return EXIT_BAD_INPUT
            problem = _lock(args, folder)  # another run may have taken it since the checks
            if problem:
                _error(problem)
                return EXIT_BAD_INPUT
            try:
                store, record = start_folder(
                    folder, scenario, specs, executor, args.argv, started, resume=args.resume
                )
            except OSError as error:
                _error(
                    _("results folder {folder}: cannot write: {reason}").format(
                        folder=folder, reason=error.strerror or error
                    )
                )
                return EXIT_BAD_INPUT
            resumed = f" ({resumable} already finished)" if args.resume else ""
            say(
                f"{_describe(scenario)}{resumed}, on "
                f"{_plural(executor.workers, executor.name + ' worker')}"
            )
            stack.enter_context(_terminate_as_interrupt())
            report = run_sweep(
                specs, store, executor, progress=not args.quiet, description=scenario.name
            )
        runs, final = finish_folder(folder, store, record, report)
    except KeyboardInterrupt:
        _error(
            f"interrupted; finished runs are kept in {folder}{os.sep}parts. Continue with: "
            f"{_continue_command(args)}"
        )
        return EXIT_INTERRUPTED
    except OSError as error:  # a full disk, mid-sweep: the finished runs' parts are whole
        _error(
            f"results folder {folder}: cannot write: {error.strerror or error}; the finished "
            f"runs are kept: make room, then continue with: {_continue_command(args)}"
        )
        return EXIT_BAD_INPUT

    table = (
        strategy_setting_table(runs, scenario.sweep_paths)
        if len(runs) and scenario.sensitivity is None
        else None
    )
    if scenario.sensitivity is not None:
        _write_sensitivity(folder, scenario, runs, report, final, args, say)
    else:
        write_text(folder / "summary.md", summary_markdown(scenario, table, report, final))
    if table is not None and not args.quiet:
        with i18n.language(args.lang or scenario.report.lang):
            print(format_table(table))
    if table is not None and not args.no_report:
        from analysis.report import ReportError, write_report

        try:
            write_report(folder, lang=args.lang)
            say(f"report: {folder / 'report.html'}")
        except (ReportError, OSError) as error:  # the runs are kept; the report can be redone
            _error(
                f"the report could not be written ({error}); the results are complete, "
                f"retry with: python run.py report {folder}"
            )
    say(
        f"results: {folder}{os.sep} ({report.ok} ok, {len(report.failures)} failed, "
        f"{time.perf_counter() - clock:.1f} s)"
    )
    if report.failures:
        _error(
            f"{len(report.failures)} of {_plural(report.total, 'run')} failed "
            f"(tracebacks in {folder / 'manifest.json'}):"
        )
        for failure in report.failures:
            print(
                f"  {failure['run_id']} (seed {failure['seed']}): {failure['error']}",
                file=sys.stderr,
            )
        return EXIT_FAILED_RUNS
    return EXIT_OK


class _FolderError(Exception):
    """A results folder of the facts command cannot be written."""


def facts_command(args) -> int:
    """``facts [SCENARIO.yaml]``: run the scenario and its variants, print the facts table."""
    from analysis import facts
    from analysis.tables import grouping_paths
    from experiments.sweep import plan_runs, run_sweep

    overrides = {}
    if args.replications is not None:
        overrides["simulation.replications"] = args.replications
    if args.customers is not None:
        overrides["simulation.customers"] = args.customers
    try:
        scenario = load_scenario(args.scenario, overrides)
        if scenario.sensitivity is not None or grouping_paths(scenario.sweep_paths):
            raise ScenarioError(
                [
                    Problem(
                        str(args.scenario),
                        None,
                        "sweep",
                        "the facts compare strategy x setting cells: the "
                        "sweep may vary only market.setting and firms' "
                        "strategies (no other path, no sensitivity block)",
                    )
                ]
            )
        scenarios = {facts.BASE: scenario}
        for name, factors in facts.VARIANTS.items():
            scenarios[name] = variant_scenario(scenario, name, factors)
        # fact 7: one folder per firm; its churn factors (k = 1 here) are aimed once base/ ran
        levers = lever_scenarios(scenario)
        firms = [firm.name for firm in scenario.points[0].config.firms]
        if (
            len(levers) < len(firms)
            or set(levers) & set(scenarios)
            or facts.PILOTS in set(levers) | set(scenarios)
        ):
            raise ScenarioError(
                [
                    Problem(
                        str(args.scenario),
                        None,
                        "firms",
                        "the facts need one folder per firm: firm names "
                        f"{firms} give the folders {sorted(levers)}; give "
                        "the firms names that differ in letters, digits, "
                        "'_' or '-'",
                    )
                ]
            )
        scenarios.update(levers)
        folder = args.out or Path("results") / f"{scenario.name}-facts"
        check_output(folder, inputs=[args.scenario], force=args.force)
    except ScenarioError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_BAD_INPUT
    except OutputError as error:
        _error(str(error))
        return EXIT_BAD_INPUT
    plans = {name: plan_runs(each) for name, each in scenarios.items()}
    total = sum(len(specs) for specs in plans.values())
    args.dask = None
    problem = _resource_problem(args, scenario, total)
    if problem:
        _error(problem)
        return EXIT_BAD_INPUT
    executor = _executor(args, scenario, total)
    problem = _lock(args, folder)
    if problem:
        _error(problem)
        return EXIT_BAD_INPUT
    if args.force:  # the earlier facts' own files; each run folder is replaced as it runs
        remove_owned(folder)
    say = (lambda *_: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
    clock = time.perf_counter()
    failures = []
    pilot_size = min(
        facts.PILOT_REPLICATIONS, max(p.config.simulation.replications for p in scenario.points)
    )
    say(
        f"facts of {_describe(scenario)}, in {len(scenarios)} folders ({', '.join(scenarios)}) "
        f"= {_plural(total, 'run')}, plus fact 7's pilots ({_plural(pilot_size, 'replication')} "
        f"each, under {facts.PILOTS}/), on "
        f"{_plural(executor.workers, executor.name + ' worker')}"
    )

    def run(target, each, name, specs=None):
        """Run ``each`` into the results folder ``target``; collect its failed runs."""
        specs = specs or plan_runs(each)
        try:
            store, record = start_folder(target, each, specs, executor, args.argv, now())
        except OSError as error:
            raise _FolderError(
                f"results folder {target}: cannot write: {error.strerror or error}"
            ) from error
        report = run_sweep(specs, store, executor, progress=not args.quiet, description=name)
        runs, final = finish_folder(target, store, record, report)
        table = strategy_setting_table(runs, each.sweep_paths) if len(runs) else None
        write_text(target / "summary.md", summary_markdown(each, table, report, final))
        failures.extend((name, failure) for failure in report.failures)

    try:
        with executor:
            for name in list(scenarios):
                if name in levers and name == next(iter(levers)):
                    try:  # base/ has run: each firm's k is aimed from it by pilots
                        factors, _fitted = aim_churn_factors(scenario, folder, run, say)
                    except facts.FactsError as error:
                        _error(str(error))
                        return EXIT_FAILED_RUNS
                    say(
                        "fact 7: churn_factor k per firm and setting (aimed to halve its annual "
                        "churn in base): "
                        + ", ".join(
                            f"{row.firm} {row.setting} {row.k:.3f}"
                            + (
                                " (clipped)"
                                if row.clipped
                                else f" (pilot ratio {row.pilot_ratio:.2f}, {row.pilots} pilots)"
                            )
                            for row in factors.itertuples()
                        )
                    )
                    levers = lever_scenarios(scenario, factors)
                    scenarios.update(levers)
                    plans.update({lever: plan_runs(each) for lever, each in levers.items()})
                run(folder / name, scenarios[name], name, plans[name])
    except _FolderError as error:
        _error(str(error))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _error(f"interrupted; the finished runs are in {folder}")
        return EXIT_INTERRUPTED

    try:
        table = facts.compute_facts(folder)
    except facts.FactsError as error:
        _error(str(error))
        return EXIT_FAILED_RUNS
    facts.write_table(table, folder / "facts.csv")
    write_text(
        folder / "facts.md",
        f"# Stylized facts: {scenario.name}\n\n" + facts.format_markdown(table) + "\n",
    )
    facts.write_table(table, folder / facts.BASE / "facts.csv")  # the report's copy
    print(facts.format_text(table))
    if not args.no_report:
        from analysis.report import ReportError, write_report

        try:
            write_report(folder / facts.BASE, lang=args.lang)
            say(f"report: {folder / facts.BASE / 'report.html'}")
        except (ReportError, OSError) as error:
            _error(
                f"the report could not be written ({error}); retry with: "
                f"python run.py report {folder / facts.BASE}"
            )
    say(
        f"facts: {folder / 'facts.csv'}, {folder / 'facts.md'} "
        f"({time.perf_counter() - clock:.1f} s)"
    )
    if failures:
        _error(f"{len(failures)} runs failed (tracebacks in each folder's manifest.json):")
        for name, failure in failures:
            print(
                f"  {name}/{failure['run_id']} (seed {failure['seed']}): {failure['error']}",
                file=sys.stderr,
            )
        return EXIT_FAILED_RUNS
    return EXIT_OK if table["passed"].all() else EXIT_FAILED_RUNS


def _write_sensitivity(folder, scenario, runs, report, record, args, say) -> None:
    """The indices of a scenario with a ``sensitivity`` block, instead of its table and report."""
    from analysis.sensitivity import SensitivityError, summary_lines, write_results

    try:
        table = write_results(folder, scenario, runs, report, record, figures=not args.no_report)
    except SensitivityError as error:  # failed runs: named below, --resume finishes them
        _error(str(error))
        return
    if not args.quiet:
        print("\n".join(summary_lines(table)))
    say(f"sensitivity: {folder / 'sensitivity.md'}, {folder / 'sensitivity.csv'}")


def main(argv=None) -> int:
    """Parse ``argv`` and run the command; return the exit code."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    if argv[:1] == ["bench"]:  # the benchmark parses its own options
        return bench_command(argparse.Namespace(argv=argv))
    args = build_parser().parse_args(argv)
    args.argv = argv
    with contextlib.ExitStack() as held:  # the folders' locks, released however it ends
        args.hold = held.enter_context
        try:  # a command with --lang speaks that language, its errors too
            with i18n.language(getattr(args, "lang", None)):
                return args.handler(args)
        except Exception as error:  # a bug, not the user's input: one line and where the rest is
            return _internal_error(error)


def _lock(args, folder: Path) -> str | None:
    """Claim and lock the output ``folder`` until the command ends; else why not (one line)."""
    try:
        claim(folder)
        args.hold(lock.locked(folder, note=_note))
    except OutputError as error:
        return str(error)
    except OSError as error:
        return _("results folder {folder}: cannot write: {reason}").format(
            folder=folder, reason=error.strerror or error
        )
    return None


def _internal_error(error: Exception) -> int:
    """Write the traceback to a new log file; print one line naming it."""
    text = traceback.format_exc()
    try:
        handle, name = tempfile.mkstemp(prefix="crm-sim-error-", suffix=".log")
        with os.fdopen(handle, "w", encoding="utf-8") as log:
            log.write(f"crm-sim {version('crm-sim')}\n{text}")
        where = f"the traceback is in {name}"
    except OSError as failure:  # no log either: the traceback is all there is
        print(text, file=sys.stderr)
        where = f"no log could be written ({failure.strerror}); the traceback is above"
    what = " ".join(str(error).split())  # one line, whatever the message holds
    _error(
        f"internal error ({type(error).__name__}: {what}); {where}; please report it "
        "with the command that caused it"
    )
    return EXIT_INTERNAL
