"""X-STILTs reproduction: the thin shared library behind the notebooks."""
import warnings

# first, before anything imports torch: the CPU kernels every run computes with (determinism.py)
from xstilts import determinism

determinism.pin()

# tqdm.auto warns in notebooks without ipywidgets; the pipeline shows no progress bars in notebook
# outputs anyway (they go to each run's log.txt), and a stray warning would break nbval comparisons
warnings.filterwarnings("ignore", message="IProgress not found")

__version__ = "0.1.0"
