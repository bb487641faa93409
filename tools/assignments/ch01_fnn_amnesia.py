"""Notebook source of assignment 01-fnn-amnesia (solutions/01-fnn-amnesia/fnn_amnesia.ipynb).

The graded parts are declared in autograder/checks/ch01_fnn_amnesia.py; this
file adds the words around them and the instructor's solutions.
"""

from autograder.chapters import chapter
from autograder.checks import ch01_fnn_amnesia as parts
from tools.notebook_builder import free, graded_part, how_to, imports_cell, markdown

CHAPTER = chapter("01-fnn-amnesia")


def cells():
    return [
        markdown(
            "title",
            """
# Assignment 1: why feed-forward networks forget order

This notebook goes with chapter 1 of the course. You will build the two
encodings a feed-forward network can use for a sequence (a bag of words and a
fixed window), see where each loses information, count how the parameters
of a window network grow with its width while a recurrent network's do not,
and design a small network that sees order inside its window.

Tokens are integer ids in `0 .. vocab_size - 1`; a batch of sequences is an
`int64` array `tokens` of shape `(N, T)`: `N` sequences of `T` tokens. Parts 1
and 2 return `float64` arrays; parts 3 and 4 return a Python `int`; part 5
returns four `float64` arrays, the weights of a network you design.
"""
            + how_to(parts.PARTS),
        ),
        imports_cell(CHAPTER, parts.PARTS),
        *graded_part(
            1,
            parts.BAG_OF_WORDS,
            "bag of words",
            """
A bag of words keeps how often each token occurs and throws the order away.
Write `bag_of_words(tokens, vocab_size)` that returns a `float64` array
`counts` of shape `(N, vocab_size)` with `counts[n, v]` = the number of times
token id `v` occurs in sequence `n`.
""",
            '''
def bag_of_words(tokens, vocab_size):
    """Counts of each token id per sequence: (N, T) int64 -> (N, vocab_size) float64."""
    ### BEGIN SOLUTION
    counts = np.zeros((tokens.shape[0], vocab_size), dtype=np.float64)
    rows = np.repeat(np.arange(tokens.shape[0]), tokens.shape[1])
    np.add.at(counts, (rows, tokens.ravel()), 1.0)
    return counts
    ### END SOLUTION
''',
        ),
        markdown(
            "collision_text",
            """
With the chapter's vocabulary `{"bites": 0, "dog": 1, "man": 2}`, your function
gives "dog bites man" and "man bites dog" the same row, as the chapter showed
(run the next cell).

**Your turn (not graded; chapter exercise 1).** In the order task every
sequence holds one marker `A` (id 0) and one `B` (id 1), and the label says
which comes first. In the second cell below, swap `A` and `B` in every training
sequence and check with `bag_of_words` that every count stays the same while
every label flips. Then explain, in a sentence or two, why this shows that no
model that reads only the counts can beat chance on the task.
""",
        ),
        free("""
sentences = np.array([[1, 0, 2],    # dog bites man
                      [2, 0, 1]])   # man bites dog
bags = bag_of_words(sentences, vocab_size=3)
print(bags)
print("same bag:", np.array_equal(bags[0], bags[1]))
"""),
        free("""
from autograder.experiments.tasks import MARKER_A, MARKER_B, ORDER_EXPERIMENT

train_set, _ = ORDER_EXPERIMENT.splits()
tokens, labels = train_set.tokens, train_set.labels   # (N, T) int64, (N,) int64: 1 if A first
# Swap A and B in every sequence, then compare the counts and the labels.
"""),
        *graded_part(
            2,
            parts.WINDOW_FEATURES,
            "a fixed window",
            """
A window network looks at the last `window` tokens only, one one-hot vector
per position, side by side. Write `window_features(tokens, vocab_size, window)`
that returns a `float64` array of shape `(N, window * vocab_size)`:
the one-hot vectors of tokens `T - window, ..., T - 1`, **oldest first**,
concatenated. When a sequence is shorter than the window (`T < window`), the
positions before its start are all-zero vectors (left padding), so the result
has the same shape whatever `T` is.

For example, with `vocab_size = 3`, `window = 2` and the sequence `[0, 2, 1]`,
the features are `[0, 0, 1,  0, 1, 0]` (token 2, then token 1); with
`window = 4`, they are `[0, 0, 0,  1, 0, 0,  0, 0, 1,  0, 1, 0]`.
""",
            '''
def window_features(tokens, vocab_size, window):
    """One-hot codes of the last `window` tokens, oldest first: (N, window * vocab_size) float64."""
    ### BEGIN SOLUTION
    n, length = tokens.shape
    features = np.zeros((n, window, vocab_size), dtype=np.float64)
    for slot in range(window):
        position = length - window + slot
        if position >= 0:
            features[np.arange(n), slot, tokens[:, position]] = 1.0
    return features.reshape(n, window * vocab_size)
    ### END SOLUTION
''',
        ),
        *graded_part(
            3,
            parts.WINDOW_MLP_PARAM_COUNT,
            "how the window network grows",
            """
The window classifier of chapter 1 is
`nn.Sequential(nn.Linear(window * vocab_size, hidden_size), nn.Tanh(), nn.Linear(hidden_size, num_classes))`.
Write `window_mlp_param_count(vocab_size, window, hidden_size, num_classes)`
returning its number of parameters (weights and biases) as a Python `int`,
from a formula: do not build the module. The check builds the real module at
random sizes and counts its parameters with PyTorch.
""",
            '''
def window_mlp_param_count(vocab_size, window, hidden_size, num_classes):
    """Parameters of Linear(window*V, H) -> tanh -> Linear(H, C), as an int."""
    ### BEGIN SOLUTION
    first_layer = (window * vocab_size + 1) * hidden_size
    second_layer = (hidden_size + 1) * num_classes
    return first_layer + second_layer
    ### END SOLUTION
''',
        ),
        *graded_part(
            4,
            parts.RNN_PARAM_COUNT,
            "the recurrent network does not grow",
            """
The recurrent classifier is `nn.RNN(vocab_size, hidden_size)` followed by
`nn.Linear(hidden_size, num_classes)` on the last hidden state. Write
`rnn_param_count(vocab_size, hidden_size, num_classes)` returning its number of
parameters as a Python `int`. Careful: PyTorch's `nn.RNN` keeps **two** bias
vectors, `bias_ih_l0` and `bias_hh_l0`. Notice that no argument says how long
the sequences are.
""",
            '''
def rnn_param_count(vocab_size, hidden_size, num_classes):
    """Parameters of nn.RNN(V, H) + nn.Linear(H, C), as an int."""
    ### BEGIN SOLUTION
    recurrent = hidden_size * (vocab_size + hidden_size + 2)
    head = num_classes * (hidden_size + 1)
    return recurrent + head
    ### END SOLUTION
''',
        ),
        *graded_part(
            5,
            parts.ADJACENT_PAIR_DETECTOR,
            'design a detector of "a then b"',
            f"""
Inside its window, a window network does see order, because each slot of the
window has its own weights. Show it by designing one: a network that reads a
window of two tokens and **fires exactly when token `a` is immediately
followed by token `b`** (`a != b`).

The network is `nn.Sequential(nn.Linear(2 * vocab_size, H), nn.ReLU(), nn.Linear(H, 1))`.
Its input is the window as Part 2 encodes it (`window_features(..., window=2)`
of the two tokens): inputs `0 .. vocab_size - 1` are the one-hot code of the
first (older) token, inputs `vocab_size .. 2 * vocab_size - 1` that of the
second. Its output is one number; the detector *fires* when it is positive.

Write `adjacent_pair_detector(vocab_size, a, b)` that returns the weights
`(W1, b1, W2, b2)`, `float64` arrays in `nn.Linear`'s layout: `W1` of shape
`(H, 2 * vocab_size)`, `b1` `(H,)`, `W2` `(1, H)`, `b2` `(1,)`. You choose the
number of hidden units `H`, from 1 to {parts.MAX_HIDDEN}. Design the weights by
reasoning about what each unit should respond to; no training is needed.

**How it is judged.** Many weight sets are right, so your weights are not
compared with ours: the check loads them into that PyTorch network (float64)
and runs it on all `vocab_size ** 2` windows of two tokens. It passes when the
output is at least `+{parts.MARGIN}` on the window `(a, b)` and at most
`-{parts.MARGIN}` on every other window, `(b, a)`, `(a, a)` and `(b, b)`
included; the margin makes sure that round-off never decides. When it fails,
it names the first window that breaks this, what your network output there,
and what the pattern of windows it fires on suggests.
""",
            '''
def adjacent_pair_detector(vocab_size, a, b):
    """Weights (W1, b1, W2, b2) of Linear(2V, H) -> ReLU -> Linear(H, 1) firing only on a then b."""
    ### BEGIN SOLUTION
    W1 = np.zeros((1, 2 * vocab_size))
    W1[0, a] = 1.0                 # the first token is a ...
    W1[0, vocab_size + b] = 1.0    # ... and the second token is b
    b1 = np.array([-1.0])          # so the hidden unit is 1 when both hold, 0 otherwise
    W2 = np.array([[2.0]])
    b2 = np.array([-1.0])          # output +1 on (a, b), -1 on every other window
    return W1, b1, W2, b2
    ### END SOLUTION
''',
        ),
    ]
