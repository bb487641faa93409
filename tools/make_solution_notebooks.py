"""Write the nbgrader source notebooks in solutions/ (run: python tools/make_solution_notebooks.py).

Every graded part follows one pattern: an answer cell whose solution sits
between ``### BEGIN SOLUTION`` / ``### END SOLUTION``, then one locked test cell
whose visible line is a single check with a fixed seed and whose hidden block
runs the same check with other seeds, sizes and edge cases.
"""
from pathlib import Path

from notebook_builder import answer, free, markdown, setup, test, write

ROOT = Path(__file__).resolve().parent.parent

HOW_TO = """
**How this notebook is graded.** Write your code where it says `YOUR CODE HERE`
(delete the `raise NotImplementedError()` line). Each test cell calls a check
from the course's `autograder` package with your function: it builds random
inputs, runs your function and compares the result with PyTorch's own modules.
Your function must return exactly a `numpy.ndarray` (not a list, not a torch
tensor) of the stated shape and dtype; values pass when they agree with the
reference to `1e-8 + 1e-6 * |reference|`. When a check fails, read its message:
it says which output, where (batch row, time step), expected versus got, and
often which mistake produces exactly your answer. Grading runs more checks
like the visible one, with other seeds and sizes (batch of 1, a single time
step, a zero initial state), so write code that works for any size.
Restart the kernel and run all cells before you submit.
"""


def fnn_amnesia():
    cells = [
        markdown("title", """
# Assignment 1: why feed-forward networks forget order

This notebook goes with chapter 1 of the course. You will build the two
encodings a feed-forward network can use for a sequence (a bag of words and a
fixed window), see where each loses information, and count how the parameters
of a window network grow with its width while a recurrent network's do not.

Tokens are integer ids in `0 .. vocab_size - 1`; a batch of sequences is an
`int64` array `tokens` of shape `(N, T)`: `N` sequences of `T` tokens.
""" + HOW_TO),
        setup("imports", """
import numpy as np
from autograder.checks.ch01_fnn_amnesia import (
    check_bag_of_words, check_window_features,
    check_window_mlp_param_count, check_rnn_param_count)
"""),
        markdown("part1_text", """
## Part 1 (2 points): bag of words

A bag of words keeps how often each token occurs and throws the order away.
Write `bag_of_words(tokens, vocab_size)` that returns a `float64` array
`counts` of shape `(N, vocab_size)` with `counts[n, v]` = the number of times
token id `v` occurs in sequence `n`.
"""),
        answer("bag_of_words", '''
def bag_of_words(tokens, vocab_size):
    """Counts of each token id per sequence: (N, T) int64 -> (N, vocab_size) float64."""
    ### BEGIN SOLUTION
    counts = np.zeros((tokens.shape[0], vocab_size), dtype=np.float64)
    rows = np.repeat(np.arange(tokens.shape[0]), tokens.shape[1])
    np.add.at(counts, (rows, tokens.ravel()), 1.0)
    return counts
    ### END SOLUTION
'''),
        test("test_bag_of_words", """
check_bag_of_words(bag_of_words)
### BEGIN HIDDEN TESTS
for seed in (11, 12, 13):
    check_bag_of_words(bag_of_words, seed=seed)
check_bag_of_words(bag_of_words, seed=14, num_sequences=1)
check_bag_of_words(bag_of_words, seed=15, seq_len=1)
check_bag_of_words(bag_of_words, seed=16, vocab_size=2)
### END HIDDEN TESTS
""", points=2),
        markdown("collision_text", """
Now see the collision for yourself. With the vocabulary
`{"dog": 0, "bites": 1, "man": 2}`, encode "dog bites man" and "man bites dog".
The two rows are identical: a network fed bags of words cannot tell who bit
whom.
"""),
        free("""
sentences = np.array([[0, 1, 2],    # dog bites man
                      [2, 1, 0]])   # man bites dog
bags = bag_of_words(sentences, vocab_size=3)
print(bags)
print("same bag:", np.array_equal(bags[0], bags[1]))
"""),
        markdown("part2_text", """
## Part 2 (2 points): a fixed window

A window network looks at the last `window` tokens only, one one-hot vector
per position, side by side. Write `window_features(tokens, vocab_size, window)`
that returns a `float64` array of shape `(N, window * vocab_size)`:
the one-hot vectors of tokens `T - window, ..., T - 1`, **oldest first**,
concatenated. When a sequence is shorter than the window (`T < window`), the
positions before its start are all-zero vectors (left padding).

For example, with `vocab_size = 3`, `window = 2` and the sequence `[0, 2, 1]`,
the features are `[0, 0, 1,  0, 1, 0]` (token 2, then token 1).
"""),
        answer("window_features", '''
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
'''),
        test("test_window_features", """
check_window_features(window_features)
### BEGIN HIDDEN TESTS
for seed in (21, 22, 23):
    check_window_features(window_features, seed=seed)
check_window_features(window_features, seed=24, window=1)
check_window_features(window_features, seed=25, seq_len=4, window=4)
check_window_features(window_features, seed=26, seq_len=3, window=6)
check_window_features(window_features, seed=27, num_sequences=1)
### END HIDDEN TESTS
""", points=2),
        markdown("part3_text", """
## Part 3 (2 points): how the window network grows

The window classifier of chapter 1 is
`nn.Sequential(nn.Linear(window * vocab_size, hidden_size), nn.Tanh(), nn.Linear(hidden_size, num_classes))`.
Write `window_mlp_param_count(vocab_size, window, hidden_size, num_classes)`
returning its number of parameters (weights and biases) as a Python `int`,
from a formula: do not build the module. The check builds the real module at
random sizes and counts its parameters with PyTorch.
"""),
        answer("window_mlp_param_count", '''
def window_mlp_param_count(vocab_size, window, hidden_size, num_classes):
    """Parameters of Linear(window*V, H) -> tanh -> Linear(H, C), as an int."""
    ### BEGIN SOLUTION
    first_layer = (window * vocab_size + 1) * hidden_size
    second_layer = (hidden_size + 1) * num_classes
    return first_layer + second_layer
    ### END SOLUTION
'''),
        test("test_window_mlp_param_count", """
check_window_mlp_param_count(window_mlp_param_count)
### BEGIN HIDDEN TESTS
for seed in (31, 32, 33):
    check_window_mlp_param_count(window_mlp_param_count, seed=seed)
check_window_mlp_param_count(window_mlp_param_count, seed=34, window=1, num_classes=2)
### END HIDDEN TESTS
""", points=2),
        markdown("part4_text", """
## Part 4 (2 points): the recurrent network does not grow

The recurrent classifier is `nn.RNN(vocab_size, hidden_size)` followed by
`nn.Linear(hidden_size, num_classes)` on the last hidden state. Write
`rnn_param_count(vocab_size, hidden_size, num_classes)` returning its number of
parameters as a Python `int`. Careful: PyTorch's `nn.RNN` keeps **two** bias
vectors, `bias_ih_l0` and `bias_hh_l0`. Notice that no argument says how long
the sequences are.
"""),
        answer("rnn_param_count", '''
def rnn_param_count(vocab_size, hidden_size, num_classes):
    """Parameters of nn.RNN(V, H) + nn.Linear(H, C), as an int."""
    ### BEGIN SOLUTION
    recurrent = hidden_size * (vocab_size + hidden_size + 2)
    head = num_classes * (hidden_size + 1)
    return recurrent + head
    ### END SOLUTION
'''),
        test("test_rnn_param_count", """
check_rnn_param_count(rnn_param_count)
### BEGIN HIDDEN TESTS
for seed in (41, 42, 43):
    check_rnn_param_count(rnn_param_count, seed=seed)
check_rnn_param_count(rnn_param_count, seed=44, hidden_size=1, num_classes=2)
### END HIDDEN TESTS
""", points=2),
    ]
    write(ROOT / "solutions/01-fnn-amnesia/fnn_amnesia.ipynb", cells)


ELMAN_SHAPES = """
Shapes follow PyTorch (`B` batch, `T` time steps, `D` input size, `H` hidden
size, `O` output size): `W_ih` is `(H, D)`, `W_hh` is `(H, H)`, `b_ih` and
`b_hh` are `(H,)`, `W_hy` is `(O, H)` and `b_y` is `(O,)`. A batch of inputs at
one time step is `(B, D)`, a batch of hidden states `(B, H)`, and a batch of
whole sequences `x` is `(B, T, D)` (batch first). All arrays are `float64`.
"""


def elman():
    cells = [
        markdown("title", """
# Assignment 2: the Elman network in NumPy

This notebook goes with chapter 2. You will implement an Elman recurrent
network in NumPy, one piece at a time, and every piece is compared with
PyTorch's `torch.nn.RNNCell`, `torch.nn.RNN` and `torch.nn.Linear` given the
same weights.
""" + ELMAN_SHAPES + HOW_TO),
        setup("imports", """
import numpy as np
from autograder.checks.ch02_elman import (
    check_rnn_step, check_rnn_forward, check_rnn_output, check_many_to_one_logits)
"""),
        markdown("part1_text", r"""
## Part 1 (3 points): one step of the cell

With row vectors stacked into a batch, one step of the cell is

$$H_t = \tanh\left(X_t W_{ih}^\top + b_{ih} + H_{t-1} W_{hh}^\top + b_{hh}\right).$$

Write `rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh)` returning `h_t`, shape `(B, H)`.
"""),
        answer("rnn_step", '''
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    """One Elman step: (B, D), (B, H) -> (B, H)."""
    ### BEGIN SOLUTION
    pre_activation = np.einsum("bd,hd->bh", x_t, W_ih) + np.einsum("bk,hk->bh", h_prev, W_hh)
    return np.tanh(pre_activation + (b_ih + b_hh))
    ### END SOLUTION
'''),
        test("test_rnn_step", """
check_rnn_step(rnn_step)
### BEGIN HIDDEN TESTS
for seed in (101, 102, 103):
    check_rnn_step(rnn_step, seed=seed)
check_rnn_step(rnn_step, seed=104, batch=1)
check_rnn_step(rnn_step, seed=105, zero_state=True)
check_rnn_step(rnn_step, seed=106, input_size=1, hidden_size=1)
### END HIDDEN TESTS
""", points=3),
        markdown("part2_text", """
## Part 2 (3 points): the forward pass over whole sequences

Write `rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)`: starting from the initial
state `h0` (shape `(B, H)`), apply the cell to `x[:, 0], x[:, 1], ..., x[:, T-1]`
in order and return **all** hidden states `h_1, ..., h_T` stacked as an array
of shape `(B, T, H)`, so that `hs[:, t]` is the state after reading `x[:, t]`.
`h0` itself is not part of the result. You may call your `rnn_step`.
"""),
        answer("rnn_forward", '''
def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    """All hidden states: x (B, T, D), h0 (B, H) -> hs (B, T, H)."""
    ### BEGIN SOLUTION
    batch, steps, _ = x.shape
    hs = np.empty((batch, steps, h0.shape[1]), dtype=np.float64)
    state = h0
    for t in range(steps):
        state = rnn_step(x[:, t, :], state, W_ih, W_hh, b_ih, b_hh)
        hs[:, t, :] = state
    return hs
    ### END SOLUTION
'''),
        test("test_rnn_forward", """
check_rnn_forward(rnn_forward)
### BEGIN HIDDEN TESTS
for seed in (201, 202, 203):
    check_rnn_forward(rnn_forward, seed=seed)
check_rnn_forward(rnn_forward, seed=204, batch=1)
check_rnn_forward(rnn_forward, seed=205, seq_len=1)
check_rnn_forward(rnn_forward, seed=206, zero_state=True)
check_rnn_forward(rnn_forward, seed=207, seq_len=25)
### END HIDDEN TESTS
""", points=3),
        markdown("part3_text", r"""
## Part 3 (2 points): the output layer

The output at each step is linear in the hidden state, $y_t = W_{hy} h_t + b_y$,
with no activation (a softmax, if any, belongs to the loss). Write
`rnn_output(hs, W_hy, b_y)` mapping hidden states `(B, T, H)` to outputs
`(B, T, O)`.
"""),
        answer("rnn_output", '''
def rnn_output(hs, W_hy, b_y):
    """Outputs at every step: (B, T, H) -> (B, T, O)."""
    ### BEGIN SOLUTION
    return np.matmul(hs, W_hy.T) + b_y[None, None, :]
    ### END SOLUTION
'''),
        test("test_rnn_output", """
check_rnn_output(rnn_output)
### BEGIN HIDDEN TESTS
for seed in (301, 302, 303):
    check_rnn_output(rnn_output, seed=seed)
check_rnn_output(rnn_output, seed=304, batch=1, seq_len=1)
check_rnn_output(rnn_output, seed=305, output_size=1)
### END HIDDEN TESTS
""", points=2),
        markdown("part4_text", """
## Part 4 (3 points): a many-to-one classifier

A many-to-one network reads the whole sequence and answers once, from the last
hidden state $h_T$. Write
`many_to_one_logits(x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y)` returning the
class scores (logits) of shape `(B, C)` computed from `h_T` (here `C` plays
the role of `O`). You may use your functions from parts 2 and 3.
"""),
        answer("many_to_one_logits", '''
def many_to_one_logits(x, h0, W_ih, W_hh, b_ih, b_hh, W_hy, b_y):
    """Class scores from the last hidden state: x (B, T, D) -> (B, C)."""
    ### BEGIN SOLUTION
    last_state = rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)[:, -1, :]
    return last_state @ W_hy.T + b_y
    ### END SOLUTION
'''),
        test("test_many_to_one_logits", """
check_many_to_one_logits(many_to_one_logits)
### BEGIN HIDDEN TESTS
for seed in (401, 402, 403):
    check_many_to_one_logits(many_to_one_logits, seed=seed)
check_many_to_one_logits(many_to_one_logits, seed=404, batch=1)
check_many_to_one_logits(many_to_one_logits, seed=405, seq_len=1)
check_many_to_one_logits(many_to_one_logits, seed=406, seq_len=2, zero_state=True)
### END HIDDEN TESTS
""", points=3),
    ]
    write(ROOT / "solutions/02-elman/elman.ipynb", cells)


if __name__ == "__main__":
    fnn_amnesia()
    elman()
