"""grading.verdict against a real kernel: hidden tests run in this process, the student's functions in the kernel,
and only plain data crosses (the request is the one GuardedExecute sends: SERVE as a user expression)."""
import ast

import pytest
import torch
from jupyter_client.manager import start_new_kernel

from cutmix_course.grading.preprocessors.guarded_execute import SERVE
from cutmix_course.grading.verdict import ChannelError, KernelChannel, StudentCodeError, run_hidden_tests

STUDENT_CODE = '''
import torch

def cutout_one(image, size, cy, cx):
    out = image.clone()
    out[:, max(cy - size // 2, 0):cy - size // 2 + size, max(cx - size // 2, 0):cx - size // 2 + size] = 0
    return out

def draw(n, generator=None):
    return torch.rand(n, generator=generator)

def in_place(image):
    image.zero_()
    return image

def loss(logits, target):
    return -(target * torch.log_softmax(logits, 1)).sum(1).mean()

class Liar:
    def __eq__(self, other):
        return True

def liar():
    return Liar()

def picky(x):
    raise ValueError(f"x must be positive, got {x}")

def delegates(image, size, cy, cx):
    from cutmix_course.core.augment import cutout
    return cutout(image.unsqueeze(0), size)[0]

hidden_share = 0.1234
'''


@pytest.fixture(scope="module")
def kernel():
    km, kc = start_new_kernel(kernel_name="python3")
    kc.execute_interactive(STUDENT_CODE, timeout=120)
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def _request(kc):
    def send(text: str) -> str:
        msg_id = kc.execute("", silent=True, store_history=False, user_expressions={"reply": SERVE.format(text)})
        while True:
            msg = kc.get_shell_msg(timeout=120)
            if msg["parent_header"].get("msg_id") == msg_id:
                break
        value = msg["content"]["user_expressions"]["reply"]
        assert value["status"] == "ok", value
        return ast.literal_eval(value["data"]["text/plain"])
    return send


def channel(kc, graded=None):
    return KernelChannel(_request(kc), graded=graded)


def test_a_function_answers_plain_data_and_advances_the_generator_as_a_local_call_would(kernel):
    student = channel(kernel)
    image = torch.ones(3, 8, 8)
    out = student.function("cutout_one")(image, 4, 0, 0)
    assert type(out) is torch.Tensor and int((out[0] == 0).sum()) == 4
    mine, local = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    first, second = student.function("draw").many([((2,), {"generator": mine})] * 2)
    assert torch.equal(first, torch.rand(2, generator=local)) and torch.equal(second, torch.rand(2, generator=local))
    assert torch.equal(torch.rand(1, generator=mine), torch.rand(1, generator=local))  # advanced like the kernel's
    assert student.value("hidden_share") == 0.1234


def test_what_cannot_cross_or_lies_fails_the_test_here(kernel):
    student = channel(kernel)
    with pytest.raises(StudentCodeError, match="Liar cannot cross"):
        student.function("liar")()
    with pytest.raises(AssertionError, match="in_place modified its input"):
        student.function("in_place")(torch.ones(2, 2))
    with pytest.raises(StudentCodeError) as info:
        student.function("picky")(-1)
    assert info.value.ename == "ValueError" and "positive, got -1" in info.value.evalue
    with pytest.raises(TypeError, match="hidden_share must be a function"):
        student.function("hidden_share")
    with pytest.raises(StudentCodeError, match="NameError"):
        student.value("not_defined_anywhere")


def test_a_backward_pass_here_gets_the_gradient_the_kernel_computed(kernel):
    logits = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    target = torch.softmax(torch.randn(4, 5, dtype=torch.float64), 1)
    leaf = logits.clone().requires_grad_(True)
    got = channel(kernel).function("loss")(leaf, target)
    want = -(target * torch.log_softmax(logits, 1)).sum(1).mean()
    assert got.dtype == torch.float64 and got.ndim == 0 and torch.equal(got.detach(), want)
    got.backward()
    assert torch.allclose(leaf.grad, (logits.softmax(1) - target) / 4, atol=1e-12)


def test_the_delegation_trips_the_kernels_wire_and_the_verdict_says_so(kernel):
    code = ("from cutmix_course.notebook.hidden import student as _s\n"
            "import torch\n_s.function('delegates')(torch.ones(3, 8, 8), 4, 4, 4)\n")
    # `delegates` is no exercise: it runs without a wire; called as cutout_one it would trip it
    assert run_hidden_tests(code, channel(kernel)) is None
    kernel.execute_interactive("cutout_one = delegates", timeout=60)
    try:
        failure = run_hidden_tests(code.replace("'delegates'", "'cutout_one'"), channel(kernel))
    finally:
        kernel.execute_interactive(STUDENT_CODE, timeout=60)
    assert failure and failure[0] == "ReferenceUsedError" and "cutmix_course.core.augment.cutout" in failure[1]


def test_hidden_code_never_reaches_the_kernel(kernel):
    secret = "assert int((_out[0] == 0).sum()) == 4, 'HIDDEN_SENTINEL_VERDICT'"
    code = ("from cutmix_course.notebook.hidden import student as _s\nimport torch\n"
            "_out = _s.function('cutout_one')(torch.ones(3, 8, 8), 4, 0, 0)\n" + secret + "\n")
    assert run_hidden_tests(code, channel(kernel)) is None
    history = kernel.execute_interactive(
        "print(repr(_ih) + repr(globals().get('_i', '')) + repr(list(globals())))", timeout=60,
        output_hook=lambda msg: seen.append(msg["content"].get("text", "")))
    assert history["content"]["status"] == "ok"
    assert seen and "HIDDEN_SENTINEL_VERDICT" not in "".join(seen) and "_out" not in "".join(seen)


seen: list = []


def test_a_broken_reply_fails_closed():
    assert run_hidden_tests("from cutmix_course.notebook.hidden import student as _s\n_s.value('x')\n",
                            KernelChannel(lambda text: "bm90IGpzb24=")) == (
        "ChannelError", "the kernel's reply is not plain data: not a message: Expecting value: line 1 column 1 "
                        "(char 0)")
    with pytest.raises(ChannelError, match="malformed"):
        KernelChannel(lambda text: "eyJlcnJvciI6IDN9").value("x")  # {"error": 3}


def test_who_is_graded_comes_from_the_grader_not_the_kernel(kernel):
    code = ("from cutmix_course.notebook.hidden import student as _s\n"
            "assert _s.graded_id() == 's7', _s.graded_id()\n")
    assert run_hidden_tests(code, channel(kernel, graded="s7")) is None
    assert run_hidden_tests(code, channel(kernel)) == ("AssertionError", "None")
