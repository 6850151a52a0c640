"""The engine's per-customer work for one period, compiled: the rules, applied in passes.

:class:`sim.model.CRMModel` runs each period's schedule. The work that
touches every customer is done here by calling the very rule functions of
:mod:`sim.rules` and :mod:`sim.stages`, compiled by numba (:mod:`sim.compiled`):
there is no second copy of the equations here, only the order in which they
are applied and the bookkeeping.

* :func:`live_period` is steps 2-5 of the schedule for every active customer:
  experience, money, stage move, defection (search, the rivals seen, the
  decision, and the end or restart of the relationship).
* :func:`settle_period` is steps 7-8 after acquisition: re-entry of customers
  out of the market, then the per-firm sums the record and the reputations
  need (customers by stage, sums of the determinants, advocates). The
  customers of each firm by acquisition cohort are not counted there: every
  relationship's start and end adds to or takes from its count
  (:func:`start_relationship`, :func:`end_relationship`), a few thousand
  events a period instead of a pass over every customer.

How it is fast: :func:`live_period` works through blocks of :data:`BLOCK`
customers in passes, one line each in :func:`live_chunk`
(:func:`experience_shocks`, :func:`relational_growths`, :func:`experience`,
:func:`purchase_occasions`, :func:`money_and_move`, :func:`move_on`,
:func:`list_searchers`, :func:`look_around`, :func:`decide`, :func:`book`,
:func:`defect`, :func:`count_for_acquisition`). The passes up to :func:`decide` are loops
over customers without a branch or a call, which LLVM turns into vector
code (8 customers at once with AVX-512): every customer is computed and only
the active ones' results are kept (:func:`sim.compiled.choose`). What such
a loop needs, and why: tables it looks up held as tuples (compares and
blends) or on the stack (gathers; see :data:`FirmSlots` and
:func:`sim.compiled.lookup_table`), unsigned indices, scratch arrays that
arrive as arguments, no exceptions (``error_model`` "numpy"), and exp and
log written out (:mod:`sim.compiled`). The
relational growth, a function of the firm and the tenure only, is looked
up in a table the rule fills once a period (:func:`growth_table`) rather
than computed for every customer (an exp and a division). Only the
per-firm sums, the rare second tries of a normal draw and the ends and
restarts of relationships run customer by customer.

How it is built, top-down: the cached kernels (:func:`live_period_driver`
and :func:`live_chunk`, :func:`settle_period`, :func:`start_relationships`,
:func:`end_relationships`, :func:`growth_table`, and :func:`listed_rows`,
which reads no rule), the only functions compiled with ``cache=True``;
:func:`live_period`, which hands the live driver the address of the
chunk function (:func:`chunk_entry`), so that the chunk's code is compiled
once, in its own library, rather than again into the driver's parallel loop
(docs/performance.md, "Start-up"); :func:`settle_chunk`, small, compiled
into its driver's cached code; then the passes and the helpers
they share, small functions compiled with ``inline="always"``: their code
is copied into the chunk function before it is compiled, so LLVM sees one
body, as if it were written out. numba's cache checks only this file; the
cached kernels carry :func:`_rules_fingerprint` of the modules they compile
from (:data:`FINGERPRINTED`), so that editing a rule recompiles them.

Randomness: draws are counter-based (:mod:`sim.draws`), a function of the
model's key, the period, the customer and the purpose; nothing depends on the
order in which customers are visited.

Determinism: customers are split into fixed chunks, whose size depends on the
number of customers only (:func:`chunk_size`), whatever the number of
threads; each chunk adds into its own row of per-firm sums and
the model adds the rows up in chunk order, so results are identical with one
thread or many. Within a chunk, the sums every customer adds to are kept in
lanes: the money of the live pass in :data:`BLOCK` lanes, one for each place
in a block, added to element by element as vector code
(:func:`add_in_block_lanes`); the state and counts of the settle pass in
:data:`LANES` lanes by customer number, customer by customer
(:func:`fold_lanes`). Either way a fixed order, and no wait for the previous
customer's addition to the same sum.

Per-firm sums are indexed by the firm *slot* ``firm + 1``; slot 0 collects
customers without a firm.
"""

import ctypes
import hashlib
import importlib.metadata
import inspect
import os
from collections import namedtuple

# numba's OpenMP/TBB threads otherwise spin between parallel calls; on a busy
# machine that costs CPU time. Set before the threading layer loads (at the
# first parallel call); a user's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numba
import numpy as np
from numba._dispatcher import compute_fingerprint as type_fingerprint
from numba.core import types
from numba.extending import overload
from numba.np.ufunc import parallel as numba_parallel

from . import compiled, draws, population, rules, stages
from .compiled import choose, lookup_table
from .population import NO_FIRM
from .rules import take
from .stages import DECLINE, EXITED, EXPLORATION, PROSPECT, STABILITY, Stage

TBB_LIBRARIES = ("libtbb.so.12", "libtbb.12.dylib", "tbb12.dll")
"""The names of the TBB runtime that numba's ``tbb`` threading layer links to."""


def choose_threading_layer() -> str:
    """Run the kernels' threads on TBB when it is installed; return the layer asked for.

    The threading layer is the library numba's parallel kernels run their
    threads on. numba's default on Linux without TBB is GNU OpenMP, and a
    process forked after it ran (``multiprocessing``'s ``fork``, the default
    start method of pools on Linux before Python 3.14, which EMA Workbench's
    evaluator uses) is killed at its first parallel call by numba's guard
    ("fork() called from a process already using GNU OpenMP"): a pool then
    waits for it forever. TBB is safe under fork and from several threads at
    once (Dask runs models in threads; numba's ``workqueue`` layer is not), so
    the tbb package is a dependency where it has wheels (x86-64). Its wheel
    puts the runtime in the environment's ``lib`` folder, which numba's wheel
    does not search: it is loaded here first, by its path, and numba's
    ``tbbpool`` then finds it loaded. Results do not depend on the layer.

    Called once, when this module is imported, before the first parallel
    call. A user's ``NUMBA_THREADING_LAYER`` wins; without TBB the default
    stays (``"default"``: OpenMP, then workqueue), and workers must then be
    started by spawn or a fork server (``experiments.sweep`` does).
    """
    if "NUMBA_THREADING_LAYER" in os.environ:
        return numba.config.THREADING_LAYER
    try:
        files = importlib.metadata.distribution("tbb").files or []
    except importlib.metadata.PackageNotFoundError:
        return numba.config.THREADING_LAYER
    for file in files:
        if file.name in TBB_LIBRARIES:
            try:
                ctypes.CDLL(str(file.locate()), mode=ctypes.RTLD_GLOBAL)
            except OSError:
                break  # not loadable here: keep numba's default
            numba.config.THREADING_LAYER = "tbb"
            break
    return numba.config.THREADING_LAYER


THREADING_LAYER = choose_threading_layer()
"""The threading layer asked of numba (``numba.threading_layer()`` names the one running)."""

_forked_after_gnu_openmp = False


def _note_fork() -> None:
    """In a forked child: remember whether the parent had started GNU OpenMP's threads."""
    global _forked_after_gnu_openmp
    if not getattr(numba_parallel, "_is_initialized", False):
        return
    if getattr(numba_parallel, "_threading_layer", None) != "omp":
        return
    try:
        from numba.np.ufunc import omppool
    except ImportError:
        return
    _forked_after_gnu_openmp = getattr(omppool, "openmp_vendor", "") == "GNU"


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_note_fork)


def check_fork_safety() -> None:
    """Raise, rather than die, in a process forked after its parent ran GNU OpenMP threads.

    Without TBB (:func:`choose_threading_layer`) numba's guard would kill
    this process at the first parallel call, and a process pool would wait
    for it forever; an exception travels back to the pool instead.

    Raises:
        RuntimeError: saying how to start workers safely.
    """
    if _forked_after_gnu_openmp:
        raise RuntimeError(
            "this process was forked after its parent ran the engine on GNU OpenMP "
            "threads, which cannot run again here: start workers with spawn or "
            "forkserver (multiprocessing.get_context('forkserver')), or install tbb "
            "(pip install tbb) and leave NUMBA_THREADING_LAYER unset"
        )


CHUNK = 1 << 14
"""The most customers in a chunk of work (a row of partial per-firm sums), :func:`chunk_size`."""
CHUNK_GROUP = 8
"""Chunks come in groups of up to this many (a power of two): :func:`chunk_size`."""
EVEN_CHUNKS = 32
"""Fewer chunks of :data:`CHUNK` than this are made even: :func:`chunk_size`."""
BLOCK = 256
"""Customers per block: each pass of :func:`live_period` runs over one block at a time."""
LANES = 4
"""Partial sums per firm slot: customer ``i`` adds to lane ``i % LANES`` (:func:`fold_lanes`)."""


# columns of live_period's per-firm sums
(REVENUE, SERVE_COST, OCCASIONS, PROFIT, ADVANCES, DECLINES, RECOVERIES, DEFECTIONS) = range(8)
DEFECTIONS_BY_STAGE = 8  # + stage - 1: exploration, formation, stability, decline
DEFECTIONS_RIVAL, DEFECTIONS_MARKET, EXITS_FROM_DECLINE, SATISFIED_DEFECTORS = range(12, 16)
ENDED_CLV = 16
TRAJECTORY = 17  # + type - 1: I, II, III, IV
ACQUISITIONS_RIVAL = 21  # by destination firm
DECLINING, ADVOCATES_AFTER = 22, 23  # customers in decline / advocates after defection
DEFECTIONS_LIFE = 24  # relationships ended because the customer left the category
LIVE_FIELDS = 25
MONEY_SUMS = (REVENUE, SERVE_COST, PROFIT)
"""The live sums added in block lanes (:func:`add_in_block_lanes`), in this order."""

# rows of live_period's per-block scratch: what book adds into the per-firm sums
(
    ROW_SALES,
    ROW_OCCASIONS,
    ROW_PROFIT,
    ROW_INCREMENT,
    ROW_ADVANCED,
    ROW_DECLINED,
    ROW_RECOVERED,
    ROW_LIFE,
) = range(8)
TALLY_ROWS = 8
# rows of its scratch for the searchers, one column per searcher
(
    NEED_DISTANCE,
    PERSONALIZATION_NEED,
    PRICE_SENSITIVITY,
    INVOLVEMENT,
    SLOT,
    LEAVING,
    VALUE,
    TRUST,
    SWITCHING_COST,
    BEST_VALUE,
    BEST,
    DEFECTS,
    LIFE,
    IDENTITY,
) = range(14)
LOOK_ROWS = 14

# columns of settle_period's per-firm sums: customers by stage (0-5), then
SUM_VALUE, SUM_EXPECTATION, SUM_SATISFACTION, SUM_TRUST, SUM_SWITCHING_COST = range(6, 11)
SUM_MISFIT, ADVOCATES, REENTRIES, ARRIVALS = 11, 12, 13, 14
SETTLE_FIELDS = 15

Customers = namedtuple(
    "Customers",
    [
        "firm",
        "last_firm",
        "stage",
        "stage_before_decline",
        "deepest_stage",
        "stage_age",
        "tenure",
        "stability_periods",
        "acquired_period",
        "left_period",
        "need_distance",
        "personalization_need",
        "price_sensitivity",
        "spend",
        "churn_propensity",
        "involvement",
        "purchase_rate",
        "expectation_norm",
        "identity",
        "expectation",
        "value",
        "satisfaction",
        "trust",
        "switching_cost",
        "revenue_to_date",
        "clv",
        "ended_acquired",
        "ended_trajectory",
        "ended_reason",
    ],
)
"""The :class:`sim.population.Population` arrays the kernels read or update.

The last three are the relationship log's (:class:`sim.relationships.RelationshipLog`):
when a relationship ends, :func:`end_relationship` writes its start, trajectory
type and reason (:data:`ENDED_RIVAL`...) into the customer's row, before a new
relationship overwrites the state. Empty arrays when the log is off: nothing
is written.
"""

ENDED_RIVAL, ENDED_MARKET, ENDED_LIFE = 1, 2, 3
"""``ended_reason`` codes: to a rival, out of the market, out of the category (life reasons)."""
ENDED_FROM_DECLINE = 4
"""Added to ``ended_reason`` when a declining customer exited by choice (rival or market)."""

SLOT_FIELDS = (
    "quality",
    "digital_quality",
    "price",
    "adaptation",
    "relational_benefit",
    "relational_tau",
    "experience_noise",
    "trust_build",
    "switching_cost_build",
    "serve_cost",
    "margin",
    "reputation",
    "churn_factor",
)
WEIGHT_FIELDS = ("value_weight", "satisfaction_weight", "trust_weight", "switching_cost_weight")
STAGE_FIELDS = (
    "wallet_share",
    "purchase_depth",
    *WEIGHT_FIELDS,
    "advance_threshold",
    "min_stage_age",
)
FirmSlots = namedtuple("FirmSlots", SLOT_FIELDS + STAGE_FIELDS)
"""This period's firm parameters by slot (:class:`sim.model.FirmVectors`), plus the stage tables.

Built by :func:`firm_slots` and :func:`stage_rows`. The kernel looks each
table up with :func:`sim.rules.take` after :func:`sim.compiled.lookup_table`:
a table by stage, and in markets of up to ``TUPLE_SLOTS - 1`` firms a table
by slot, comes as one row (a 2-D array) and is looked up as a tuple, with
compares and blends; a larger market's tables by slot come as 1-D arrays,
looked up with gathers.
"""

TUPLE_SLOTS = 4
"""Slots of the firm tables looked up as tuples; larger markets' are arrays.

A look-up in a tuple of four is about twice as fast as in an array (a
gather). Each kind of table compiles the kernel once; padding the tables of
markets of one to three firms to the same length keeps that to two.
"""
N_STAGES = len(Stage)
GROWTH_CAPACITY = 4096
"""Entries of the relational growth table (:func:`growth_table`) the kernel keeps on its stack.

32 KiB: the tenures of a 1,000-period run in a market of three firms. A
larger table is not built, and the kernel computes the growth instead.
"""


def stage_rows(stage_tables: dict) -> dict:
    """The stage tables of :class:`FirmSlots`, each one row: build once, they never change.

    ``stage_tables`` has ``loyalty_weights`` (stages, 4) in place of the four
    weights by stage. Values and types are kept.
    """

    def by_stage(values):
        return np.ascontiguousarray(values).reshape(1, N_STAGES)

    weights = stage_tables["loyalty_weights"]
    rows = {
        name: by_stage(stage_tables[name])
        for name in ("wallet_share", "purchase_depth", "advance_threshold", "min_stage_age")
    }
    rows.update({name: by_stage(weights[:, k]) for k, name in enumerate(WEIGHT_FIELDS)})
    return rows


def firm_slots(firms: dict, stage_rows: dict) -> FirmSlots:
    """The :class:`FirmSlots` of this period's arrays by slot (``firms``) and :func:`stage_rows`.

    Values and types are kept; small markets' tables are padded with zeros,
    which no customer looks up.
    """

    def by_slot(values):
        if values.size > TUPLE_SLOTS:
            return values
        padded = np.zeros((1, TUPLE_SLOTS), values.dtype)
        padded[0, : values.size] = values
        return padded

    return FirmSlots(**{name: by_slot(firms[name]) for name in SLOT_FIELDS}, **stage_rows)


Parameters = namedtuple(
    "Parameters",
    [
        "digital_weight",
        "personalization_weight",
        "price_weight",
        "satisfaction_at_confirmation",
        "satisfaction_sensitivity",
        "satisfaction_rate",
        "expectation_adapt_rate",
        "expectation_adapt_down_rate",
        "expectation_anchor",
        "fit_spread",
        "category_exit_rate",
        "expectation_drift",
        "trust_break_rate",
        "reputation_weight",
        "switching_cost_floor",
        "switching_cost_decay",
        "satisfaction_convexity",
        "decline_threshold",
        "recovery_threshold",
        "steepness",
        "advance_rate",
        "decline_rate",
        "recovery_rate",
        "exit_rate",
        "repair_window",
        "switching_cost_buffer",
        "overdue_exit_multiplier",
        "satisfied_threshold",
        "search_probability",
        "rival_visibility",
        "imitation",
        "outside_value",
        "defection_hurdle",
        "defection_switching_cost_weight",
        "defection_trust_weight",
        "defection_temperature",
        "initial_trust",
        "long_stability",
        "discount",
    ],
)
"""The model's scalar parameters for one period (``discount`` is ``(1 + rate) ** -t``)."""

Modifiers = namedtuple(
    "Modifiers",
    [
        "active",
        "value_bonus",
        "switching_cost_bonus",
        "recovery_bonus",
        "wallet_multiplier",
        "price_multiplier",
        "expectation_push",
        "cost",
        "allowance",
    ],
)
"""The period's policy :class:`sim.policies.Effects` by customer.

Without policies (``active`` False) every array is ``None``: the kernels are
compiled for that case of their own, without reading an effect (:func:`effect`).
"""

# inlined: one function for LLVM to optimize; division by zero gives inf (no check to branch on)
_inline = numba.njit(nogil=True, error_model="numpy", inline="always")
perceived_value = _inline(rules.perceived_value)
relational_growth = _inline(rules.relational_growth)
rival_adaptation = _inline(rules.rival_adaptation)
satisfaction_target = _inline(rules.satisfaction_target)
update_satisfaction = _inline(rules.update_satisfaction)
update_expectation = _inline(rules.update_expectation)
update_trust = _inline(rules.update_trust)
update_switching_cost = _inline(rules.update_switching_cost)
offer_fit = _inline(rules.offer_fit)
taste = _inline(rules.taste)
occasion_rate = _inline(rules.occasion_rate)
occasions = _inline(rules.occasions)
first_occasions = _inline(rules.first_occasions)
# called, not inlined: for the few customers beyond first_occasions (purchase_occasions)
all_occasions = numba.njit(nogil=True, error_model="numpy")(rules.occasions)
# called, not inlined: for the 1% of normal draws the vector pass does not settle
retried_normal = numba.njit(nogil=True, error_model="numpy")(draws.normal.py_func)
revenue = _inline(rules.revenue)
margin = _inline(rules.margin)
discount_given = _inline(rules.discount_given)
search_chance = _inline(rules.search_chance)
switching_cost_build = _inline(rules.switching_cost_build)
initial_trust = _inline(rules.initial_trust)
goes_to_rival = _inline(rules.goes_to_rival)
satisfaction_utility = _inline(rules.satisfaction_utility)
loyalty_drive = _inline(rules.loyalty_drive)
defection_probability = _inline(rules.defection_probability)
transition_probabilities = _inline(stages.transition_probabilities)
next_stage = _inline(stages.next_stage)
trajectory_type = _inline(stages.trajectory_type)
is_advocate = _inline(stages.is_advocate)
is_active = _inline(stages.is_active)


FINGERPRINTED = (compiled, draws, population, rules, stages)
"""The modules whose functions or constants the kernels compile, besides this one.

Every module of the package this one imports, and every one those import
(``tests/sim/test_kernel_fingerprint.py`` checks it): :func:`_rules_fingerprint`
hashes their sources into the cached kernels' key. :mod:`sim.population` is
one for :data:`sim.population.NO_FIRM`, a constant numba writes into the
machine code.
"""


def _rules_fingerprint(source_of=inspect.getsource) -> str:
    """Hash of the sources the kernels compile: those of :data:`FINGERPRINTED`.

    numba's cache checks only the source file of the cached function, not the
    functions it calls or the constants it reads; the kernels carry this hash
    so that editing a rule (or the draws) recompiles them. ``source_of``
    gives a module's source (a test passes an edited one).
    """
    digest = hashlib.sha256()
    for module in FINGERPRINTED:
        digest.update(source_of(module).encode())
    return digest.hexdigest()


# The kernels called from Python, compiled with cache=True. Each is made by a
# function of the fingerprint, so that the fingerprint is a closure value, which
# numba hashes into the cache key (module globals it does not hash). What they
# call is module globals, not closure cells: a compiled function in a closure
# cell hashes differently in every process, so the kernel would never be found
# in the cache again (tests/sim/test_kernel_cache.py).


LIVE_ARGUMENTS = 17
"""The arguments of :func:`live_period` that its chunks receive too (all but ``found``)."""


def _live_period(fingerprint: str):
    """The parallel driver of :func:`live_period`, its machine code cached under ``fingerprint``.

    Over 80 lines for the kernel's 20 arguments, written one a line.
    """

    @numba.njit(nogil=True, error_model="numpy", parallel=True, cache=True)
    def live_period_driver(
        chunk_at,
        digest,
        key,
        t,
        customers,
        firms,
        parameters,
        modifiers,
        growth,
        sums,
        cohorts,
        cohort_of,
        moved,
        given_out,
        sales_out,
        increment_out,
        occasions_out,
        arrived,
        prospects,
        found,
    ):
        """:func:`live_period` with the address of :func:`live_chunk` and its types' digest.

        ``found[chunk]`` is -1 for a chunk not run, when ``digest`` is not
        that of the chunk function's argument types here. Over 80 lines for
        its 20 arguments, one a line.
        """
        assert fingerprint  # ties the cached machine code to the rule sources
        sums[:] = 0.0
        cohorts[:] = 0
        # each chunk's work space (the compiler vectorizes loops over argument arrays only)
        chunks = sums.shape[0]
        shocks, accepted = np.empty((chunks, BLOCK)), np.empty((chunks, BLOCK), dtype=np.bool_)
        grown = np.empty((chunks, BLOCK))
        new_stage = np.empty((chunks, BLOCK), dtype=customers.stage.dtype)
        tally = np.empty((chunks, TALLY_ROWS, BLOCK))
        searching = np.empty((chunks, BLOCK), dtype=np.bool_)
        who, look = np.empty((chunks, BLOCK), dtype=np.intp), np.empty((chunks, LOOK_ROWS, BLOCK))
        money = np.empty((chunks, sums.shape[1], len(MONEY_SUMS), BLOCK))
        n = customers.stage.size
        size = _chunk_size(n)
        for chunk in numba.prange(chunks):
            start, stop = chunk * size, min(n, (chunk + 1) * size)
            found[chunk] = compiled.call_address(
                chunk_at,
                digest,
                (
                    start,
                    stop,
                    key,
                    t,
                    customers,
                    firms,
                    parameters,
                    modifiers,
                    growth,
                    sums[chunk],
                    cohorts[chunk],
                    cohort_of,
                    moved,
                    given_out,
                    sales_out,
                    increment_out,
                    occasions_out,
                    arrived,
                    money[chunk],
                    shocks[chunk],
                    accepted[chunk],
                    grown[chunk],
                    new_stage[chunk],
                    tally[chunk],
                    searching[chunk],
                    who[chunk],
                    look[chunk],
                    prospects[start:stop],
                ),
            )

    return live_period_driver


def live_period(*arguments) -> None:
    """Experience, money, stage move and defection of every active customer in period ``t``.

    The arguments: ``key, t, customers, firms, parameters, modifiers,
    growth, sums, cohorts, cohort_of, moved, given_out, sales_out,
    increment_out, occasions_out, arrived, prospects, found``. Updates
    ``customers`` in place and writes each chunk's per-firm sums into
    ``sums[chunk, slot, field]`` (the ``LIVE_FIELDS`` columns), and the
    relationships that ended or began into ``cohorts[chunk, slot, cohort]``
    (-1 and +1; ``cohort_of[period]`` is the cohort of those acquired in
    ``period``, :func:`start_relationship`). With policies active
    (``modifiers.active``), ``moved`` receives each active customer's stage
    after its move and before defection, and ``given_out`` the discount it
    was given (:func:`sim.rules.discount_given`); with a purchase log
    (non-empty ``sales_out``), ``sales_out``, ``increment_out`` and
    ``occasions_out`` its sales, CLV increment and purchase occasions.
    ``arrived`` marks who left the category. ``growth`` is
    :func:`growth_table` of the period. The prospects after defection are
    listed chunk by chunk in ``prospects``, ``found[chunk]`` from the
    chunk's first row (:func:`listed_rows`).

    The chunks run in parallel (:func:`live_period_driver`), each a call of
    :func:`live_chunk` at its address (:func:`chunk_entry`).
    """
    address, digest = chunk_entry(arguments[:LIVE_ARGUMENTS])
    live_period_driver(address, digest, *arguments)
    if arguments[LIVE_ARGUMENTS].min() < 0:  # found: -1 where no chunk ran (never seen)
        raise RuntimeError("live_period: the chunk function's types differ from the driver's")


_chunk_entries: dict = {}
"""The address and types' digest of :func:`live_chunk` by argument types (this process)."""


def chunk_types(arguments) -> tuple:
    """The numba types :func:`live_chunk` receives from :func:`live_period_driver`.

    ``arguments`` are :func:`live_period`'s up to ``prospects``; the chunk
    gets the chunk's rows of ``sums``, ``cohorts``, the work space the
    driver allocates and ``prospects``. Should the two ever disagree, the
    driver's check of their digest (:func:`sim.compiled.call_address`)
    runs nothing and :func:`live_period` raises: a test, not a crash.
    """
    real, flag = types.float64, types.boolean
    stage = numba.from_dtype(arguments[2].stage.dtype)
    given = [numba.typeof(a) for a in arguments]
    for i in (7, 8):  # sums and cohorts: the chunk's rows
        given[i] = given[i].copy(ndim=given[i].ndim - 1)
    space = (
        types.Array(real, 3, "C"),
        *(types.Array(kind, 1, "C") for kind in (real, flag, real, stage)),
        types.Array(real, 2, "C"),
        types.Array(flag, 1, "C"),
        types.Array(types.intp, 1, "C"),
        types.Array(real, 2, "C"),
    )
    return (types.intp, types.intp, *given[:16], *space, given[16])


def chunk_entry(arguments) -> tuple[int, int]:
    """The address of :func:`live_chunk` for these arguments, compiled or loaded, and its digest.

    Looked up by the arguments' type fingerprints, numba's own key for
    choosing a compiled version (about 13 us for a period's arguments, where
    their numba types take 0.5 ms).
    """
    try:
        known = tuple(map(type_fingerprint, arguments))
    except (TypeError, ValueError):  # a type numba has no fingerprint for
        known = chunk_types(arguments)
    entry = _chunk_entries.get(known)
    if entry is None:
        argument_types = chunk_types(arguments)
        live_chunk.compile(argument_types)
        result = live_chunk.overloads[argument_types]
        address = result.library.get_pointer_to_function(result.fndesc.llvm_func_name)
        entry = (address, compiled.signature_digest(argument_types))
        _chunk_entries[known] = entry
    return entry


def _settle_period(fingerprint: str):
    """:func:`settle_period`, its machine code cached under ``fingerprint``."""

    @numba.njit(nogil=True, error_model="numpy", parallel=True, cache=True)
    def settle_period(
        key,
        t,
        customers,
        reentry_rate,
        category_exit_rate,
        personalization_weight,
        satisfied_threshold,
        arrived,
        sums,
        arrivals,
        found,
    ):
        """Life exits and re-entry, then per-firm sums by chunk (``SETTLE_FIELDS``).

        Customers out of a relationship leave the category at
        ``category_exit_rate``; they and those marked in ``arrived`` by
        :func:`live_period` become prospects here, listed for the model to give
        them a new identity and traits: chunk by chunk in ``arrivals``,
        ``found[chunk]`` of them from the chunk's first row (as
        :func:`live_period` lists the prospects); their marks are cleared.
        """
        assert fingerprint
        n = customers.stage.size
        sums[:] = 0.0
        lanes = np.empty((sums.shape[0], sums.shape[1] * LANES * sums.shape[2]))
        returning = np.empty((sums.shape[0], BLOCK), dtype=np.bool_)
        size = _chunk_size(n)
        for chunk in numba.prange(sums.shape[0]):
            start, stop = chunk * size, min(n, (chunk + 1) * size)
            found[chunk] = settle_chunk(
                start,
                stop,
                key,
                t,
                customers,
                reentry_rate,
                category_exit_rate,
                personalization_weight,
                satisfied_threshold,
                arrived,
                sums[chunk],
                lanes[chunk],
                returning[chunk],
                arrivals[start:stop],
            )

    return settle_period


def _start_relationships(fingerprint: str):
    """:func:`start_relationships`, its machine code cached under ``fingerprint``."""

    @numba.njit(nogil=True, error_model="numpy", cache=True)
    def start_relationships(c, p, idx, firms, reputation, t, cohorts, cohort_of):
        """Make customers ``idx`` new customers of ``firms`` (acquisition, win-back).

        ``reputation`` is indexed by slot (``firm + 1``); ``cohorts[slot,
        cohort]`` counts the firms' customers by cohort (:func:`start_relationship`).
        """
        assert fingerprint
        for k in range(idx.size):  # unsigned rows: no wraparound checks
            start_relationship(
                c, p, np.uintp(idx[k]), firms[k], reputation[firms[k] + 1], t, cohorts, cohort_of
            )

    return start_relationships


def _end_relationships(fingerprint: str):
    """:func:`end_relationships`, its machine code cached under ``fingerprint``."""

    @numba.njit(nogil=True, error_model="numpy", cache=True)
    def end_relationships(c, p, idx, destinations, sums, t, cohorts, cohort_of):
        """End customers ``idx``'s relationships by choice, each for its firm in ``destinations``.

        A win-back from a rival (:class:`sim.policies.WinBack`): each relationship's
        end is booked by :func:`end_relationship` into ``sums[slot]`` (the
        ``LIVE_FIELDS`` columns) as a defection to a rival, and taken from
        ``cohorts`` (:func:`end_relationship`); the caller starts the new
        relationships.
        """
        assert fingerprint
        for k in range(idx.size):
            i = idx[k]
            end_relationship(
                c, p, t, i, sums, cohorts, cohort_of, c.firm[i] + 1, destinations[k], False, False
            )

    return end_relationships


def _growth_table(fingerprint: str):
    """:func:`growth_table`, its machine code cached under ``fingerprint``."""

    @numba.njit(nogil=True, error_model="numpy", cache=True)
    def growth_table(relational_tau, t):
        """:func:`sim.rules.relational_growth` by slot and tenure, up to tenure ``t``.

        ``growth[slot, tenure]`` for every tenure a customer can have in the
        period (``t`` is the longest: the period, plus the longest tenure at
        the start, :meth:`sim.population.Population.settle`), or up to the
        first at which every slot's growth is exactly 1 (``exp(-tenure /
        tau)`` below ``2 ** -55``), where larger tenures are looked up. It is
        the same compiled rule on the same (int16 tenure, float32
        ``relational_tau`` by slot) arguments, so the kernel's values are the
        rule's to the last bit, without an exp and a division per customer.
        A table of more than
        :data:`GROWTH_CAPACITY` entries is left empty (no columns): the kernel
        then computes the growth.
        """
        assert fingerprint
        saturated = 1.0
        for tau in relational_tau:
            saturated = max(saturated, np.ceil(55.0 * np.log(2.0) * tau) + 1.0)
        length = np.intp(min(float(t + 2), saturated + 1.0))
        if relational_tau.size * length > GROWTH_CAPACITY:
            length = 0
        growth = np.empty((relational_tau.size, length))
        for slot in range(relational_tau.size):
            for tenure in range(length):
                growth[slot, tenure] = relational_growth(np.int16(tenure), relational_tau[slot])
        return growth

    return growth_table


def _listed_rows(fingerprint: str):
    """:func:`listed_rows`, its machine code cached under ``fingerprint`` (as every kernel's)."""

    @numba.njit(nogil=True, cache=True)
    def listed_rows(rows, found):
        """The rows the kernel listed chunk by chunk, put together, ascending.

        Chunk ``k`` listed ``found[k]`` rows from ``rows[k * chunk_size(rows.size)]`` on
        (:func:`live_period` the prospects, :func:`settle_period` the
        arrivals); they are moved to the front of ``rows`` in place, and the
        result is a view of it. Listing during the passes that visit every
        customer anyway spares a pass over the million customers for each list.
        """
        assert fingerprint
        total, size = 0, _chunk_size(rows.size)
        for chunk in range(found.size):
            begin = chunk * size
            for k in range(found[chunk]):
                rows[total + k] = rows[begin + k]
            total += found[chunk]
        return rows[:total]

    return listed_rows


_FINGERPRINT = _rules_fingerprint()
live_period_driver = _live_period(_FINGERPRINT)
settle_period = _settle_period(_FINGERPRINT)
start_relationships = _start_relationships(_FINGERPRINT)
end_relationships = _end_relationships(_FINGERPRINT)
growth_table = _growth_table(_FINGERPRINT)
listed_rows = _listed_rows(_FINGERPRINT)


def set_threads(threads: int) -> None:
    """Run the kernels on ``threads`` threads from the calling thread on (at least 1).

    Results do not depend on it. A sweep runs many models at once, one per
    worker process or thread; each then sets its share of the cores, so that
    workers x threads does not exceed them (numba's setting is per thread).
    """
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def chunk_size(customers):
    """Customers per chunk of work for ``customers`` customers (the last chunk has the rest).

    A function of the number of customers only, so that results do not
    depend on the threads. :data:`CHUNK`, unless that makes fewer than
    :data:`EVEN_CHUNKS` chunks: then their number is rounded up to a multiple
    of the largest power of two up to :data:`CHUNK_GROUP` that is not above
    it, and the customers shared out evenly (in multiples of :data:`BLOCK`),
    so that 2, 4 or 8 threads get equal shares. With chunks of :data:`CHUNK`,
    10^5 customers make 7 chunks, and of two threads one has 4 of them
    (65,536 customers), the other 34,464; shared out, 8 chunks of 12,544.
    Many chunks share out well as they are (10^6: 62, one thread 3% more).
    Up to :data:`CHUNK` customers are one chunk.
    """
    wanted = max(1, -(-customers // CHUNK))
    if wanted >= EVEN_CHUNKS:
        return CHUNK
    group = 1
    while group * 2 <= min(wanted, CHUNK_GROUP):
        group *= 2
    wanted = -(-wanted // group) * group
    size = -(-customers // wanted)
    return max(BLOCK, -(-size // BLOCK) * BLOCK)


_chunk_size = numba.njit(nogil=True, inline="always")(chunk_size)
""":func:`chunk_size` for the kernels."""


def chunks(customers: int) -> int:
    """Number of chunks (rows of partial per-firm sums) for ``customers`` customers."""
    return max(1, -(-customers // chunk_size(customers)))


# One chunk of customers: what the drivers run on each thread. live_chunk is
# cached on its own and called at its address; settle_chunk's machine code is
# part of its driver's cached code.


def _live_chunk(fingerprint: str):
    """:func:`live_chunk`, its machine code cached under ``fingerprint``.

    Over 80 lines for its 28 arguments, written one a line.
    """

    @numba.njit(nogil=True, error_model="numpy", cache=True)
    def live_chunk(
        start,
        stop,
        key,
        t,
        c,
        f,
        p,
        m,
        growth,
        sums,
        cohorts,
        cohort_of,
        moved,
        given_out,
        sales_out,
        increment_out,
        occasions_out,
        arrived,
        money,
        shock,
        accepted,
        grown,
        new_stage,
        tally,
        searching,
        who,
        look,
        prospects,
    ):
        """:func:`live_period` for customers ``start`` to ``stop``, summing into ``sums[slot]``.

        The relationships that end or begin are counted into ``cohorts[slot,
        cohort]``. A cached function of its own, which the parallel driver
        calls at its address (:func:`sim.compiled.call_address`): its code is
        compiled once, not again into the driver's parallel loop. Over 80
        lines for its 28 arguments, one a line: the passes are one line each.

        Block by block of :data:`BLOCK` customers, pass by pass: one line per
        pass, in the order of the schedule's steps 2-5 (see the module
        docstring). The arguments from ``money`` on are this chunk's scratch:
        ``money`` (:func:`add_in_block_lanes`), then the block's rows;
        ``prospects`` receives the rows of the chunk's prospects after
        defection, and their number is returned.
        """
        assert fingerprint  # ties the cached machine code to the rule sources
        n_firms = sums.shape[0] - 1
        f = lookup_tables(f)
        # the relational growth by slot and tenure, on the stack where the loops can use it
        table = (compiled.on_stack(growth, GROWTH_CAPACITY), np.uintp(growth.shape[1]))
        money[:] = 0.0
        found = 0
        for first in range(start, stop, BLOCK):
            last = min(first + BLOCK, stop)
            u_first, u_last = np.uintp(first), np.uintp(last)
            experience_shocks(first, last, key, t, shock, accepted)
            if growth.shape[1] > 0:
                relational_growths(u_first, u_last, c, f, table, grown)
            else:  # too large a table to build: computed (see growth_table)
                relational_growths(u_first, u_last, c, f, None, grown)
            experience(u_first, u_last, key, c, f, p, m, shock, grown)
            purchase_occasions(u_first, u_last, key, t, c, f, tally)
            money_and_move(u_first, u_last, key, t, c, f, p, m, new_stage, tally)
            move_on(u_first, u_last, key, t, c, f, p, new_stage, tally, searching)
            searchers = list_searchers(first, last, c, p, new_stage, tally, searching, who, look)
            look_around(first, key, t, c, f, p, n_firms, searchers, who, look, shock, accepted)
            decide(first, key, t, p, searchers, who, look)
            book(
                first,
                last,
                c,
                f,
                m,
                money,
                sums,
                moved,
                given_out,
                sales_out,
                increment_out,
                occasions_out,
                new_stage,
                tally,
            )
            defect(
                first,
                t,
                c,
                f,
                p,
                sums,
                cohorts,
                cohort_of,
                arrived,
                new_stage,
                searchers,
                who,
                look,
            )
            found = count_for_acquisition(first, last, c, p, sums, prospects, found)
        fold_block_lanes(money, MONEY_SUMS, sums)
        return found

    return live_chunk


live_chunk = _live_chunk(_FINGERPRINT)


@numba.njit(nogil=True, error_model="numpy")
def settle_chunk(
    start,
    stop,
    key,
    t,
    c,
    reentry_rate,
    category_exit_rate,
    personalization_weight,
    satisfied_threshold,
    arrived,
    sums,
    lanes,
    returning,
    arrivals,
):
    """:func:`settle_period` for customers ``start`` to ``stop``, block by block.

    The draws first, for a block at once (:func:`leave_or_return`), then the
    moves and the sums customer by customer. ``lanes`` and ``returning`` are
    scratch. Returns the number of arrivals listed in ``arrivals``.
    """
    lanes[:] = 0.0
    found = 0
    for first in range(start, stop, BLOCK):
        u_first, u_last = np.uintp(first), np.uintp(min(first + BLOCK, stop))
        leave_or_return(
            u_first, u_last, key, t, c, reentry_rate, category_exit_rate, arrived, returning
        )
        for i in range(u_first, u_last):  # unsigned: no wraparound checks
            stage = c.stage[i]
            if arrived[i]:  # left the category; a new prospect takes the place
                stage = PROSPECT
                c.stage[i] = stage
                sums[0, ARRIVALS] += 1.0
                arrived[i] = False
                arrivals[found] = i
                found += 1
            elif returning[i - u_first]:
                stage = PROSPECT
                c.stage[i] = stage
                sums[0, REENTRIES] += 1.0
            slot = c.firm[i] + 1
            at = lane_of(slot, i, SETTLE_FIELDS)
            lanes[at + np.uintp(stage)] += 1.0
            # the rest without a branch on slot 0 (no firm): its sums beyond the
            # stage counts are not read
            lanes[at + SUM_VALUE] += c.value[i]
            lanes[at + SUM_EXPECTATION] += c.expectation[i]
            lanes[at + SUM_SATISFACTION] += c.satisfaction[i]
            lanes[at + SUM_TRUST] += c.trust[i]
            lanes[at + SUM_SWITCHING_COST] += c.switching_cost[i]
            lanes[at + SUM_MISFIT] += np.float32(
                personalization_weight * c.need_distance[i] * c.personalization_need[i]
            )
            lanes[at + ADVOCATES] += is_advocate(stage, c.satisfaction[i], satisfied_threshold)
    fold_lanes(lanes, sums)
    return found


@_inline
def leave_or_return(first, last, key, t, c, reentry_rate, category_exit_rate, arrived, returning):
    """Step 7's draws for customers ``first`` to ``last`` out of a relationship, as vector code.

    Prospects and customers out of the market have one life-exit chance a
    period (those whose relationship ended now had theirs in
    :func:`live_period`), marked in ``arrived``; customers out of the market
    return to the market at ``reentry_rate``, marked in ``returning`` (the
    block's row; :func:`settle_chunk` lets an arrival win). Every draw is
    made for every customer, without a branch, and kept for those it concerns.
    """
    for i in range(first, last):
        stage = c.stage[i]
        outside = (not is_active(stage)) & (c.left_period[i] != t)
        leaves = draws.uniform(key, t, i, draws.LIFE_OUTSIDE) < category_exit_rate
        arrived[i] = arrived[i] | (outside & leaves)
        returns = draws.uniform(key, t, i, draws.REENTRY) < reentry_rate
        returning[i - first] = (stage == EXITED) & returns


# The passes over a block of customers, inlined into live_chunk.


@_inline
def lookup_tables(f):
    """The :class:`FirmSlots` ``f`` as the customer loops look its tables up fastest.

    Each table through :func:`sim.compiled.lookup_table`: a row becomes a
    tuple, an array a copy on the stack of the function it is inlined into.
    """
    return FirmSlots(
        lookup_table(f.quality, TUPLE_SLOTS),
        lookup_table(f.digital_quality, TUPLE_SLOTS),
        lookup_table(f.price, TUPLE_SLOTS),
        lookup_table(f.adaptation, TUPLE_SLOTS),
        lookup_table(f.relational_benefit, TUPLE_SLOTS),
        lookup_table(f.relational_tau, TUPLE_SLOTS),
        lookup_table(f.experience_noise, TUPLE_SLOTS),
        lookup_table(f.trust_build, TUPLE_SLOTS),
        lookup_table(f.switching_cost_build, TUPLE_SLOTS),
        lookup_table(f.serve_cost, TUPLE_SLOTS),
        lookup_table(f.margin, TUPLE_SLOTS),
        lookup_table(f.reputation, TUPLE_SLOTS),
        lookup_table(f.churn_factor, TUPLE_SLOTS),
        lookup_table(f.wallet_share, N_STAGES),
        lookup_table(f.purchase_depth, N_STAGES),
        lookup_table(f.value_weight, N_STAGES),
        lookup_table(f.satisfaction_weight, N_STAGES),
        lookup_table(f.trust_weight, N_STAGES),
        lookup_table(f.switching_cost_weight, N_STAGES),
        lookup_table(f.advance_threshold, N_STAGES),
        lookup_table(f.min_stage_age, N_STAGES),
    )


@_inline
def experience_shocks(first, last, key, t, shock, accepted):
    """Step 2's experience shocks of customers ``first`` to ``last``: normals, into ``shock``.

    The ziggurat's fast path for every customer, as vector code
    (:func:`sim.draws.normal_core`), then, one by one, the 1% of draws that
    need more (:func:`sim.draws.normal`). ``accepted`` is scratch.
    """
    u_first, u_last = np.uintp(first), np.uintp(last)
    for i in range(u_first, u_last):
        shock[i - u_first], accepted[i - u_first] = draws.normal_core(key, t, i, draws.EXPERIENCE)
    for i in range(first, last):
        if not accepted[i - first]:
            shock[i - first] = retried_normal(key, t, i, draws.EXPERIENCE)


@_inline
def relational_growths(first, last, c, f, table, grown):
    """The relational growth of customers ``first`` to ``last``, into ``grown`` (block rows).

    From the growth table (:func:`growth_table`, here ``table``), or
    computed by the rule where there is none (``table`` None,
    :func:`growth_at`): the same numbers to the bit. A pass of its own, so
    that :func:`experience`, which reads them, is compiled once, not once
    for each kind of ``table``: it is the largest pass, and numba types
    and lowers every inlined copy.
    """
    for k in range(last - first):
        i = first + k
        slot = c.firm[i] + 1
        grown[k] = growth_at(table, c.tenure[i], take(f.relational_tau, slot), slot)


@_inline
def experience(first, last, key, c, f, p, m, shock, grown):
    """Step 2 for customers ``first`` to ``last``: value, satisfaction and the rest.

    Runs over every customer and keeps the new state of the active ones
    only, without branching on who is active, so that the compiler can
    work on several customers at once (the indices are unsigned: no
    negative-index wraparound to get in its way). ``m``'s effects are read
    through :func:`effect`; ``grown`` holds the block's relational growth
    (:func:`relational_growths`).
    """
    for k in range(last - first):  # k: the customer's row in the block's scratch arrays
        i = first + k
        stage = c.stage[i]
        active = is_active(stage)
        slot = c.firm[i] + 1
        noise = take(f.experience_noise, slot) * shock[k]
        adaptation = take(f.adaptation, slot)
        fit = offer_fit(
            p.fit_spread, adaptation, taste(draws.taste_uniform(key, c.identity[i], slot - 1))
        )
        value = perceived_value(
            quality=take(f.quality, slot),
            digital_quality=take(f.digital_quality, slot),
            digital_weight=p.digital_weight,
            need_distance=c.need_distance[i],
            personalization_need=c.personalization_need[i],
            personalization_weight=p.personalization_weight,
            adaptation=adaptation,
            price=take(f.price, slot),
            price_sensitivity=c.price_sensitivity[i],
            price_weight=p.price_weight,
            relational_benefit=take(f.relational_benefit, slot),
            growth=grown[k],
            involvement=c.involvement[i],
            shock=noise,
        )
        value += fit + effect(m.value_bonus, i, 0.0)
        bonus = effect(m.switching_cost_bonus, i, 0.0)
        build = switching_cost_build(take(f.switching_cost_build, slot), c.involvement[i], bonus)
        drift = p.expectation_drift + effect(m.expectation_push, i, 0.0)
        expectation = c.expectation[i]
        target = satisfaction_target(
            value,
            expectation,
            at_confirmation=p.satisfaction_at_confirmation,
            sensitivity=p.satisfaction_sensitivity,
        )
        satisfaction = update_satisfaction(c.satisfaction[i], target, rate=p.satisfaction_rate)
        expectation = update_expectation(
            expectation,
            value,
            c.expectation_norm[i],
            adapt_up=p.expectation_adapt_rate,
            adapt_down=p.expectation_adapt_down_rate,
            anchor=p.expectation_anchor,
            drift=drift,
        )
        # trust reads the stored (float32) satisfaction, as a new period would
        satisfaction = np.float32(satisfaction)
        trust = update_trust(
            c.trust[i],
            satisfaction,
            take(f.reputation, slot),
            build_rate=take(f.trust_build, slot),
            break_rate=p.trust_break_rate,
            reputation_weight=p.reputation_weight,
        )
        switching_cost = update_switching_cost(
            c.switching_cost[i],
            build_rate=build,
            floor=p.switching_cost_floor,
            decay=p.switching_cost_decay,
        )
        c.satisfaction[i] = choose(active, satisfaction, c.satisfaction[i])
        c.expectation[i] = choose(active, expectation, c.expectation[i])
        c.trust[i] = choose(active, trust, c.trust[i])
        c.switching_cost[i] = choose(active, switching_cost, c.switching_cost[i])
        c.value[i] = choose(active, value, c.value[i])


@_inline
def purchase_occasions(first, last, key, t, c, f, tally):
    """Step 3's purchase occasions of customers ``first`` to ``last``, into ``tally``.

    A pass of its own, ahead of the money pass: the Poisson inversion
    (:func:`sim.rules.occasions`) has a loop of its own. Its first terms
    (:func:`sim.rules.first_occasions`) for every customer at once, as vector
    code, marking with -1 the few customers whose uniform lies beyond them;
    then, one by one, the whole sum for those, in a called function: inlined,
    its loop slowed the passes around it.
    """
    beyond = 0
    for k in range(last - first):
        i = first + k
        rate = occasion_rate(c.purchase_rate[i], take(f.purchase_depth, c.stage[i]))
        uniform = draws.uniform(key, t, i, draws.OCCASIONS)
        count, _, cdf = first_occasions(uniform, rate)
        tally[ROW_OCCASIONS, k] = choose(uniform >= cdf, -1.0, count)
        beyond += uniform >= cdf
    if beyond == 0:  # most blocks (at the default rates, 19 of 20)
        return
    for k in range(last - first):
        if tally[ROW_OCCASIONS, k] < 0.0:
            i = first + k
            rate = occasion_rate(c.purchase_rate[i], take(f.purchase_depth, c.stage[i]))
            tally[ROW_OCCASIONS, k] = all_occasions(draws.uniform(key, t, i, draws.OCCASIONS), rate)


@_inline
def money_and_move(first, last, key, t, c, f, p, m, new_stage, tally):
    """Steps 3-4 for customers ``first`` to ``last``: purchases, CLV, and the stage move.

    Like :func:`experience`, computed for every customer and kept for the
    active ones; the new stages go to ``new_stage`` and each customer's
    sales, referral benefit, profit and CLV increment to the rows of
    ``tally`` (for the per-firm sums, which :func:`book` adds up).
    """
    for k in range(last - first):
        i = first + k
        stage = c.stage[i]
        active = is_active(stage)
        slot = c.firm[i] + 1
        value, satisfaction = c.value[i], c.satisfaction[i]
        trust, switching_cost = c.trust[i], c.switching_cost[i]

        # 3. money: purchase occasions, then what they are worth
        wallet = take(f.wallet_share, stage) * effect(m.wallet_multiplier, i, 1.0)
        bought = tally[ROW_OCCASIONS, k]  # from purchase_occasions
        # sales at list price; a promotion's discount is its spend (rules.discount_given)
        sales = np.float32(revenue(bought, c.spend[i], take(f.price, slot), wallet))
        given = np.float32(
            discount_given(
                sales,
                effect(m.price_multiplier, i, 1.0),
                effect(m.allowance, i, 0.0),
            )
        )
        profit = margin(sales, take(f.margin, slot), take(f.serve_cost, slot))
        # policy spending, in double precision
        spent = np.float64(effect(m.cost, i, 0.0)) + given
        increment = np.float32((profit - spent) * p.discount)
        bought = choose(active, bought, 0.0)
        sales = choose(active, sales, np.float32(0.0))
        increment = choose(active, increment, np.float32(0.0))
        c.revenue_to_date[i] += sales
        c.clv[i] += increment
        # the inactive are booked under slot 0, which no firm reads
        tally[ROW_SALES, k], tally[ROW_INCREMENT, k] = sales, increment
        tally[ROW_OCCASIONS, k], tally[ROW_PROFIT, k] = bought, profit

        # 4. stage move
        utility = satisfaction_utility(satisfaction, convexity=p.satisfaction_convexity)
        weights = (
            take(f.value_weight, stage),
            take(f.satisfaction_weight, stage),
            take(f.trust_weight, stage),
            take(f.switching_cost_weight, stage),
        )
        loyalty = loyalty_drive(value, utility, trust, switching_cost, weights)
        p_up, p_down, p_recover, p_exit = transition_probabilities(
            stage,
            c.stage_age[i],
            loyalty,
            switching_cost,
            advance_threshold=f.advance_threshold,
            decline_threshold=p.decline_threshold,
            recovery_threshold=p.recovery_threshold,
            steepness=p.steepness,
            advance_rate=p.advance_rate,
            decline_rate=p.decline_rate,
            recovery_rate=p.recovery_rate + effect(m.recovery_bonus, i, 0.0),
            min_stage_age=f.min_stage_age,
            exit_rate=p.exit_rate * take(f.churn_factor, slot),
            repair_window=p.repair_window,
            switching_cost_buffer=p.switching_cost_buffer,
            overdue_exit_multiplier=p.overdue_exit_multiplier,
        )
        new = next_stage(
            stage,
            c.stage_before_decline[i],
            draws.uniform(key, t, i, draws.STAGE),
            p_up,
            p_down,
            p_recover,
            p_exit,
        )
        new_stage[k] = choose(active, new, stage)


@_inline
def move_on(first, last, key, t, c, f, p, new_stage, tally, searching):
    """The rest of steps 4-5 for customers ``first`` to ``last``, as vector code.

    Carries out the stage moves in ``new_stage`` (ages, tenure, deepest
    stage; customers who leave keep their stage until :func:`book` knows
    where they go), tallies them in the rows of ``tally``, and marks in
    ``searching`` the customers who look at the alternatives.
    """
    for k in range(last - first):
        i = first + k
        stage = c.stage[i]
        active = is_active(stage)
        new = new_stage[k]
        in_decline, not_in_decline = stage == DECLINE, stage != DECLINE
        declines = not_in_decline & (new == DECLINE)
        tally[ROW_ADVANCED, k] = not_in_decline & (new != DECLINE) & (new == stage + 1)
        tally[ROW_DECLINED, k] = declines
        tally[ROW_RECOVERED, k] = in_decline & (new < DECLINE)
        c.stage_before_decline[i] = choose(declines, stage, c.stage_before_decline[i])
        c.stage_age[i] = choose(active & (new != stage), 0, c.stage_age[i] + active)
        c.tenure[i] += active
        c.stability_periods[i] += new == STABILITY  # unchanged stages of the inactive are not
        deeper = active & (new <= STABILITY) & (new > c.deepest_stage[i])
        c.deepest_stage[i] = choose(deeper, new, c.deepest_stage[i])
        leaving = new == EXITED  # carried out in book, where the customer goes is decided
        c.stage[i] = choose(leaving, stage, new)
        # leaving the category for life reasons (moving, life changes): not a choice
        life = active & (draws.uniform(key, t, i, draws.LIFE) < p.category_exit_rate)
        tally[ROW_LIFE, k] = life

        # 5. whether the customer looks at the alternatives: those who leave, and searchers
        search = search_chance(
            p.search_probability * take(f.churn_factor, c.firm[i] + 1), c.churn_propensity[i]
        )
        searching[k] = active & (leaving | life | (draws.uniform(key, t, i, draws.SEARCH) < search))


@_inline
def list_searchers(first, last, c, p, new_stage, tally, searching, who, look):
    """Step 5's searchers among customers ``first`` to ``last``: the list, and their state.

    Lists the customers marked in ``searching`` (by their row in the block)
    in ``who``, without a branch, and copies the state the search reads into
    the columns of ``look``, one per searcher, where the next passes work
    through them as vector code. The best alternative starts as leaving the
    market (``p.outside_value``, ``NO_FIRM``). Returns the number of searchers.
    """
    searchers = 0
    for k in range(last - first):  # the list, without a branch
        who[np.uintp(searchers)] = k  # unsigned: no wraparound checks
        searchers += searching[k]
    u_first = np.uintp(first)
    for q in range(np.uintp(searchers)):
        k = np.uintp(who[q])
        i = u_first + k
        look[NEED_DISTANCE, q] = c.need_distance[i]
        look[PERSONALIZATION_NEED, q] = c.personalization_need[i]
        look[PRICE_SENSITIVITY, q] = c.price_sensitivity[i]
        look[INVOLVEMENT, q] = c.involvement[i]
        look[SLOT, q] = c.firm[i] + 1
        look[LEAVING, q] = new_stage[k] == EXITED
        look[LIFE, q] = tally[ROW_LIFE, k]
        # exact as a float (identities stay far below 2 ** 53); read from here, not from
        # c.identity by row, the rival loop runs as vector code (look_around)
        look[IDENTITY, q] = c.identity[i]
        look[VALUE, q], look[TRUST, q] = c.value[i], c.trust[i]
        look[SWITCHING_COST, q] = c.switching_cost[i]
        look[BEST_VALUE, q], look[BEST, q] = p.outside_value, NO_FIRM
    return searchers


@_inline
def look_around(first, key, t, c, f, p, n_firms, searchers, who, look, shock, accepted):
    """Step 5's rivals seen: for each of the ``searchers``, the best alternative.

    Rival by rival, every searcher's draws (whether it sees the rival, and
    the experience shock of its offer) and perceived value of the rival are
    computed as vector code over the list; ``look[BEST, q]`` (rival code, or
    ``NO_FIRM``) and ``look[BEST_VALUE, q]`` keep the best so far.
    ``shock`` and ``accepted`` are scratch.
    """
    u_first, u_searchers = np.uintp(first), np.uintp(searchers)
    for j in range(n_firms):
        seen_stream, shock_stream = draws.RIVAL + 2 * j, draws.RIVAL + 2 * j + 1
        for q in range(u_searchers):
            shock[q], accepted[q] = draws.normal_core(
                key, t, u_first + np.uintp(who[q]), shock_stream
            )
        for q in range(searchers):  # the 1% of draws that need more
            if not accepted[q]:
                shock[q] = retried_normal(key, t, first + who[q], shock_stream)
        for q in range(u_searchers):
            i = u_first + np.uintp(who[q])
            slot = np.intp(look[SLOT, q])
            seen = (j != slot - 1) & (draws.uniform(key, t, i, seen_stream) < p.rival_visibility)
            adaptation = rival_adaptation(
                take(f.adaptation, j + 1), take(f.adaptation, slot), p.imitation
            )
            fit = offer_fit(
                p.fit_spread,
                adaptation,
                taste(draws.taste_uniform(key, np.uint64(look[IDENTITY, q]), j)),
            )
            rival = fit + perceived_value(
                quality=take(f.quality, j + 1),
                digital_quality=take(f.digital_quality, j + 1),
                digital_weight=p.digital_weight,
                need_distance=look[NEED_DISTANCE, q],
                personalization_need=look[PERSONALIZATION_NEED, q],
                personalization_weight=p.personalization_weight,
                adaptation=adaptation,
                price=take(f.price, j + 1),
                price_sensitivity=look[PRICE_SENSITIVITY, q],
                price_weight=p.price_weight,
                relational_benefit=take(f.relational_benefit, j + 1),
                growth=relational_growth(0, take(f.relational_tau, j + 1)),
                involvement=look[INVOLVEMENT, q],
                shock=take(f.experience_noise, j + 1) * shock[q],
            )
            better = seen & (rival > look[BEST_VALUE, q])
            look[BEST_VALUE, q] = choose(better, rival, look[BEST_VALUE, q])
            look[BEST, q] = choose(better, j, look[BEST, q])


@_inline
def decide(first, key, t, p, searchers, who, look):
    """Step 5's decision of each of the ``searchers``: ``look[DEFECTS, q]``, as vector code.

    A customer who leaves the market (exits from decline) or the category
    (``LIFE``) defects in any case; the others with the chance
    :func:`sim.rules.defection_probability` gives the gain of the best
    alternative over their firm's value.
    """
    u_first, u_searchers = np.uintp(first), np.uintp(searchers)
    for q in range(u_searchers):
        i = u_first + np.uintp(who[q])
        probability = defection_probability(
            look[BEST_VALUE, q] - look[VALUE, q],
            look[SWITCHING_COST, q],
            look[TRUST, q],
            search_probability=1.0,
            hurdle=p.defection_hurdle,
            switching_cost_weight=p.defection_switching_cost_weight,
            trust_weight=p.defection_trust_weight,
            temperature=p.defection_temperature,
        )
        look[DEFECTS, q] = (
            (look[LEAVING, q] != 0.0)
            | (look[LIFE, q] != 0.0)
            | (draws.uniform(key, t, i, draws.DEFECT) < probability)
        )


@_inline
def book(
    first,
    last,
    c,
    f,
    m,
    money,
    sums,
    moved,
    given_out,
    sales_out,
    increment_out,
    occasions_out,
    new_stage,
    tally,
):
    """Steps 3-4 for customers ``first`` to ``last``: their money and moves into the sums.

    Adds each customer's sales, serving cost and profit (the rows of
    ``tally``) into its firm's block lanes in ``money`` (:data:`MONEY_SUMS`,
    :func:`add_in_block_lanes`) and its stage moves and purchase
    occasions into ``sums`` (:func:`count_moves`), under the firm it starts the period
    with; fills the purchase log (non-empty ``sales_out``) and, with
    policies active, ``moved`` and ``given_out`` (each customer's discount
    given).
    """
    u_first, u_last = np.uintp(first), np.uintp(last)
    # by the firm each customer starts the period with (slot 0, none, is not read)
    firm, count = c.firm[u_first:u_last], last - first
    for slot in range(1, sums.shape[0]):
        add_in_block_lanes(money[slot, 0], tally[ROW_SALES, :count], firm, slot)
        add_number_in_block_lanes(money[slot, 1], np.float64(take(f.serve_cost, slot)), firm, slot)
        add_in_block_lanes(money[slot, 2], tally[ROW_PROFIT, :count], firm, slot)
    count_moves(u_first, u_last, c, sums, tally)
    if sales_out.size > 0:
        for i in range(u_first, u_last):
            sales_out[i] = tally[ROW_SALES, i - u_first]
            increment_out[i] = tally[ROW_INCREMENT, i - u_first]
            occasions_out[i] = tally[ROW_OCCASIONS, i - u_first]
    if m.active:
        for i in range(u_first, u_last):
            moved[i] = new_stage[i - u_first]
            # the discount given, again from the sales at list price (0 for the inactive):
            # stored from the money pass, it kept that loop from running as vector code
            given_out[i] = np.float32(
                discount_given(
                    tally[ROW_SALES, i - u_first],
                    effect(m.price_multiplier, i, 1.0),  # with policies active, by customer
                    effect(m.allowance, i, 0.0),
                )
            )


@_inline
def count_moves(first, last, c, sums, tally):
    """The stage moves and purchase occasions in the rows of ``tally``, into ``sums`` by home slot.

    One slot at a time over the block, as vector code: the counts are whole
    numbers, exact in any order of addition.
    """
    for slot in range(sums.shape[0]):
        advanced, declined, recovered, occasions = 0, 0, 0, 0
        for i in range(first, last):
            k, here = i - first, c.firm[i] + 1 == slot
            advanced += here & (tally[ROW_ADVANCED, k] != 0.0)
            declined += here & (tally[ROW_DECLINED, k] != 0.0)
            recovered += here & (tally[ROW_RECOVERED, k] != 0.0)
            occasions += here * np.int64(tally[ROW_OCCASIONS, k])
        sums[slot, ADVANCES] += advanced
        sums[slot, DECLINES] += declined
        sums[slot, RECOVERIES] += recovered
        sums[slot, OCCASIONS] += occasions


@_inline
def defect(first, t, c, f, p, sums, cohorts, cohort_of, arrived, new_stage, searchers, who, look):
    """Step 5's defections, customer by customer down the list of ``searchers``.

    Each defector's relationship ends (:func:`end_relationship`, into
    ``sums`` in the customers' order, and ``cohorts``) and, if it goes to a
    rival, a new one starts (:func:`start_relationship`); a customer who leaves the category
    is marked in ``arrived``, for a new prospect to take its place.
    """
    for q in range(searchers):
        if look[DEFECTS, q] == 0.0:
            continue
        i = first + who[q]
        best, leaving = np.intp(look[BEST, q]), new_stage[who[q]] == EXITED
        life = look[LIFE, q] != 0.0
        # a declining customer who exits goes to a rival only if the rival beats
        # leaving the market by more than the cost of switching to it
        if leaving and not goes_to_rival(
            look[BEST_VALUE, q],
            c.switching_cost[i],
            p.defection_switching_cost_weight,
            p.outside_value,
        ):
            best = NO_FIRM
        if life:  # gone from the category: replaced by a new prospect after settle
            best = NO_FIRM
            arrived[i] = True
        end_relationship(c, p, t, i, sums, cohorts, cohort_of, c.firm[i] + 1, best, leaving, life)
        if best == NO_FIRM:
            c.firm[i] = NO_FIRM
            c.stage[i] = EXITED
        else:
            start_relationship(c, p, i, best, take(f.reputation, best + 1), t, cohorts, cohort_of)
            sums[best + 1, ACQUISITIONS_RIVAL] += 1.0


@_inline
def count_for_acquisition(first, last, c, p, sums, prospects, found):
    """What acquisition needs, after defection: the declining and the advocates, and the prospects.

    Customers in decline and advocates are counted into ``sums`` by firm
    slot, one slot at a time over the block (whole numbers, so the order of
    the additions does not matter); the prospects are listed in
    ``prospects`` after the ``found`` already there, and their new number is
    returned.
    """
    u_first, u_last = np.uintp(first), np.uintp(last)
    for slot in range(sums.shape[0]):  # counts: exact in any order, so as vector code
        declining, advocates = 0, 0
        for i in range(u_first, u_last):
            stage, here = c.stage[i], c.firm[i] + 1 == slot
            declining += here & (stage == DECLINE)
            advocates += here & is_advocate(stage, c.satisfaction[i], p.satisfied_threshold)
        sums[slot, DECLINING] += declining
        sums[slot, ADVOCATES_AFTER] += advocates
    for i in range(u_first, u_last):
        found = list_row(prospects, found, i, c.stage[i] == PROSPECT)
    return found


# What the passes share: the relational growth, the lanes of the per-firm sums, the
# end and start of a relationship.


def growth_at(table, tenure, relational_tau, slot):
    """A customer's relational growth, from the kernel's table, or computed where there is none.

    ``table`` is ``(entries, length)``: :func:`growth_table` flat (on the
    stack) and its row length. With ``None``, :func:`sim.rules.relational_growth`.
    """
    if table is None:
        return rules.relational_growth(tenure, relational_tau)
    entries, length = table
    return entries[slot * length + min(tenure, length - 1)]


@overload(growth_at, inline="always")
def _growth_at(table, tenure, relational_tau, slot):
    if isinstance(table, types.NoneType):
        return lambda table, tenure, relational_tau, slot: relational_growth(tenure, relational_tau)

    def looked_up(table, tenure, relational_tau, slot):
        entries, length = table
        return entries[np.uintp(slot) * length + min(np.uintp(tenure), length - np.uintp(1))]

    return looked_up


def effect(values, i, neutral):
    """Customer ``i``'s policy effect in ``values``, or ``neutral`` where no policy runs.

    A period without policies passes :class:`Modifiers` of ``None``: the
    kernel compiled for it reads no effect arrays, and its arithmetic with
    the neutral value (a float32, as the effects,
    :meth:`sim.policies.Effects.none`) gives the same results to the bit.
    """
    return np.float32(neutral) if values is None else values[i]


@overload(effect, inline="always")
def _effect(values, i, neutral):
    if isinstance(values, types.NoneType):
        return lambda values, i, neutral: np.float32(neutral)
    return lambda values, i, neutral: values[i]


@_inline
def list_row(rows, found, i, listed):
    """List customer ``i`` in ``rows`` if ``listed``.

    Branch-free: the row is always written, after the ``found`` listed so
    far, and counted only if listed. Returns the new count.
    """
    rows[np.uintp(found)] = i  # unsigned: no wraparound check
    return found + listed


@_inline
def lane_of(slot, i, fields):
    """Where customer ``i``'s lane of ``slot`` starts in flat lanes of ``fields`` sums each.

    A sum that every customer adds to is kept in :data:`LANES` partial
    sums per slot: customer ``i`` adds to lane ``i % LANES``, so that
    consecutive customers do not wait for each other's addition (and the
    index is unsigned: no wraparound check). :func:`fold_lanes` adds them up.
    """
    lane = np.uintp(slot) * np.uintp(LANES) + (np.uintp(i) & np.uintp(LANES - 1))
    return lane * np.uintp(fields)


@_inline
def add_in_block_lanes(lanes, values, firm, slot):
    """Add the block's ``values`` of ``slot``'s customers into their block lanes ``lanes``.

    A firm's float sum kept in :data:`BLOCK` lanes, one for each place in a
    block: the customer in place ``k`` of every block adds to lane ``k``, in
    the customers' order, and the customers of other firms add 0, which
    leaves a sum as it is (``firm`` holds the block's firm codes). Element by
    element over the block, as vector code, where a sum added to customer by
    customer cannot be (the order of a float sum's additions is fixed).
    :func:`fold_block_lanes` adds the lanes up.
    """
    me = slot - 1
    for k in range(firm.size):
        lanes[k] += choose(firm[k] == me, np.float64(values[k]), 0.0)


@_inline
def add_number_in_block_lanes(lanes, value, firm, slot):
    """:func:`add_in_block_lanes` of the same ``value`` for every customer of ``slot``."""
    me = slot - 1
    for k in range(firm.size):
        lanes[k] += choose(firm[k] == me, value, 0.0)


@_inline
def fold_block_lanes(block_lanes, fields, sums):
    """Add the block lanes ``block_lanes[slot, j]`` into ``sums[slot, fields[j]]``.

    Lane by lane, in one fixed order, for every slot but 0 (not read); the
    lanes of :func:`add_in_block_lanes`.
    """
    for slot in range(1, sums.shape[0]):
        for j in range(len(fields)):
            total = 0.0
            for k in range(BLOCK):
                total += block_lanes[slot, j, k]
            sums[slot, fields[j]] += total


@_inline
def fold_lanes(lanes, sums):
    """Add the :func:`lane_of` partial sums into ``sums[slot, field]``.

    The lanes are added up in one fixed order, so the total depends on
    the customers' numbers only, not on the threads.
    """
    fields = sums.shape[1]
    for slot in range(sums.shape[0]):
        for field in range(fields):
            total = lanes[lane_of(slot, 0, fields) + field]
            for lane in range(1, LANES):
                total += lanes[lane_of(slot, lane, fields) + field]
            sums[slot, field] += total


@_inline
def end_relationship(c, p, t, i, sums, cohorts, cohort_of, slot, destination, from_decline, life):
    """Book the end of customer ``i``'s relationship in the sums of its firm's ``slot``.

    Its reason: ``life`` (left the category), else to a rival or out of the
    market (``destination``). Only defectors by choice count toward the
    satisfied defectors and the exits from decline. The firm has one
    customer fewer in the customer's acquisition cohort: -1 in
    ``cohorts[slot, cohort_of[acquired_period]]``.
    """
    stage = c.stage[i]
    cohorts[np.uintp(slot), cohort_of[np.uintp(c.acquired_period[i])]] -= 1
    sums[slot, DEFECTIONS] += 1.0
    sums[slot, DEFECTIONS_BY_STAGE + stage - 1] += 1.0
    if life:
        sums[slot, DEFECTIONS_LIFE] += 1.0
    else:
        sums[slot, DEFECTIONS_MARKET if destination == NO_FIRM else DEFECTIONS_RIVAL] += 1.0
        if from_decline:
            sums[slot, EXITS_FROM_DECLINE] += 1.0
        if c.satisfaction[i] >= p.satisfied_threshold:
            sums[slot, SATISFIED_DEFECTORS] += 1.0
    sums[slot, ENDED_CLV] += c.clv[i]
    kind = trajectory_type(c.deepest_stage[i], c.stability_periods[i], p.long_stability)
    sums[slot, TRAJECTORY + kind - 1] += 1.0
    c.last_firm[i] = c.firm[i]
    c.left_period[i] = t
    if c.ended_acquired.size:  # the relationship log is on: what a restart would overwrite
        c.ended_acquired[i] = c.acquired_period[i]
        c.ended_trajectory[i] = kind
        c.ended_reason[i] = ending_reason(destination, from_decline, life)


@_inline
def ending_reason(destination, from_decline, life):
    """The ``ended_reason`` code of a relationship's end (see :data:`ENDED_RIVAL`)."""
    if life:
        return ENDED_LIFE
    reason = ENDED_MARKET if destination == NO_FIRM else ENDED_RIVAL
    return reason + ENDED_FROM_DECLINE if from_decline else reason


@_inline
def start_relationship(c, p, i, firm, reputation, t, cohorts, cohort_of):
    """Make customer ``i`` a new exploration-stage customer of ``firm``.

    The firm has one customer more in the cohort of period ``t``: +1 in
    ``cohorts[firm + 1, cohort_of[t]]`` (slots, as :func:`end_relationship`).
    """
    cohorts[np.uintp(firm + 1), cohort_of[np.uintp(t)]] += 1
    c.firm[i] = firm
    c.stage[i] = EXPLORATION
    c.stage_before_decline[i] = EXPLORATION
    c.deepest_stage[i] = EXPLORATION
    c.stage_age[i] = 0
    c.tenure[i] = 0
    c.stability_periods[i] = 0
    c.acquired_period[i] = t
    c.satisfaction[i] = p.satisfaction_at_confirmation
    c.trust[i] = initial_trust(p.initial_trust, reputation, p.reputation_weight)
    c.switching_cost[i] = p.switching_cost_floor
    c.revenue_to_date[i] = 0.0
    c.clv[i] = 0.0
